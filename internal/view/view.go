// Package view keeps the documents of the state bucket in memory, per
// lattice, from one watch of the bucket, so that queries, counts and
// metrics at 10,000 hosts are answered without reading the bucket, and
// fans their changes out to any number of watchers without letting one of
// them hold the others, or NATS, back.
//
// A View is meant to have a NATS connection of its own: the watch is
// delivered on it, so a burst of changes queues there and never in the
// projector's connection.
package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// Defaults of the options.
const (
	DefaultMaxWatchers = 1000
	DefaultWatchBuffer = 1024
	DefaultSyncTimeout = 5 * time.Second
)

// applyBatch is how many changes are applied under one lock.
const applyBatch = 256

// View is the state bucket in memory. Create it with New, then Start.
type View struct {
	js          jetstream.JetStream
	bucket      string
	log         *slog.Logger
	maxWatchers int
	buffer      int
	syncTimeout time.Duration
	metrics     *Metrics

	reload chan struct{} // asks follow to load the bucket again
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.RWMutex
	st       *state
	changed  chan struct{} // closed and replaced whenever st or its revision changes
	watchers int
	stopped  bool

	sumMu sync.Mutex // guards the summaries cached in the lattices
}

// state is one load of the bucket.
type state struct {
	// created tells the bucket from one deleted and created again under
	// the same name, whose revisions start over.
	created  time.Time
	stream   jetstream.Stream
	rev      uint64 // the last revision applied
	lattices map[string]*latticeState
}

// Start loads the bucket and follows it until ctx ends or Stop is called;
// it does not wait for the load (Sync does).
func (v *View) Start(ctx context.Context) {
	ctx, v.cancel = context.WithCancel(ctx)
	v.wg.Go(func() { v.run(ctx) })
}

// Stop ends the view and its watchers and waits for it.
func (v *View) Stop() {
	if v.cancel != nil {
		v.cancel()
	}
	v.wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopped = true
	if v.st != nil {
		v.failAll(v.st, ErrStopped)
	}
	v.broadcast()
}

// run follows the bucket, loading it again when its watch ends or it was
// created anew.
func (v *View) run(ctx context.Context) {
	const minWait, maxWait = 100 * time.Millisecond, 5 * time.Second
	wait := minWait
	for ctx.Err() == nil {
		loaded, err := v.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if loaded {
			wait = minWait
		}
		if errors.Is(err, errReload) {
			v.log.Info("state view: the bucket was created anew, loading it again", "bucket", v.bucket)
			continue
		}
		v.metrics.reloads.Inc()
		v.log.Warn("state view: watch of the bucket ended, loading it again", "bucket", v.bucket, "err", err, "wait", wait)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, maxWait)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// errReload ends follow when the bucket was created anew.
var errReload = errors.New("the bucket was created anew")

// follow loads the bucket and applies its changes until its watch ends,
// ctx ends or Sync finds the bucket created anew; loaded reports whether
// the load completed.
func (v *View) follow(ctx context.Context) (loaded bool, err error) {
	bucket := v.bucket
	kv, err := v.js.KeyValue(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	stream, err := v.js.Stream(ctx, streams.BucketStream(bucket))
	if err != nil {
		return false, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	w, err := kv.WatchFiltered(ctx, append(streams.DocumentKeys(), streams.MetaKeys()))
	if err != nil {
		return false, fmt.Errorf("watch bucket %s: %w", bucket, err)
	}
	defer func() { _ = w.Stop() }()

	// The initial values build a new state while readers keep the one
	// they have.
	st := &state{created: stream.CachedInfo().Created, stream: stream, lattices: map[string]*latticeState{}}
	start := time.Now()
	for loading := true; loading; {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return false, fmt.Errorf("watch of bucket %s closed while loading", bucket)
			case e == nil:
				loading = false
			default:
				v.apply(st, e, true)
			}
		}
	}
	hosts := 0
	for _, l := range st.lattices {
		l.loaded()
		hosts += len(l.hosts)
	}
	attrs := []any{"bucket", bucket, "lattices", len(st.lattices), "hosts", hosts,
		"revision", st.rev, "took", time.Since(start).Round(time.Millisecond)}
	v.install(st)
	v.log.Info("state view loaded", attrs...)

	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-v.reload:
			return true, errReload
		case e, ok := <-w.Updates():
			if !ok {
				return true, fmt.Errorf("watch of bucket %s closed", bucket)
			}
			v.applyLive(st, e, w.Updates())
		}
	}
}

// applyLive applies e and whatever else is already waiting, up to
// applyBatch changes, under one lock.
func (v *View) applyLive(st *state, e jetstream.KeyValueEntry, more <-chan jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e != nil {
		v.apply(st, e, false)
	}
	for range applyBatch - 1 {
		select {
		case e, ok := <-more:
			if !ok {
				// follow sees the closed channel next.
				v.broadcast()
				return
			}
			if e != nil {
				v.apply(st, e, false)
			}
		default:
			v.broadcast()
			return
		}
	}
	v.broadcast()
}

// requestReload asks follow to load the bucket again.
func (v *View) requestReload() {
	select {
	case v.reload <- struct{}{}:
	default:
	}
}

// install makes st the state readers see. Watchers of the previous state
// end: what they would have missed between the two cannot be told.
func (v *View) install(st *state) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if old := v.st; old != nil {
		err := ErrReloaded
		if !old.created.Equal(st.created) {
			err = ErrRecreated
		}
		v.failAll(old, err)
	}
	v.st = st
	v.broadcast()
}

// failAll ends every watcher of st with err; the view holds its lock.
func (v *View) failAll(st *state, err error) {
	for _, l := range st.lattices {
		for s := range l.subs.all {
			s.fail(err)
			v.metrics.dropped(err)
		}
		l.subs = newWatchers()
	}
}

// broadcast wakes whoever waits for a change; the view holds its lock.
func (v *View) broadcast() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// apply applies one entry of the bucket's watch to st; loading is true
// while st is built from the initial values (no watchers yet, ids left
// unsorted). Live, the view holds its lock.
func (v *View) apply(st *state, e jetstream.KeyValueEntry, loading bool) {
	rev := e.Revision()
	st.rev = max(st.rev, rev)
	if !loading {
		v.metrics.revision.Set(float64(st.rev))
	}
	key := e.Key()
	lattice, ok := streams.LatticeOfKey(key)
	if !ok {
		return // a checkpoint: only the revision counts
	}
	l := st.lattices[lattice]
	if l == nil {
		l = newLatticeState(lattice)
		st.lattices[lattice] = l
	}
	put := e.Operation() == jetstream.KeyValuePut
	if id, ok := strings.CutPrefix(key, streams.HostKey(lattice, "")); ok {
		v.applyHost(l, id, e, put, loading)
		return
	}
	seq := documentSeq(e.Value())
	if k, ok := strings.CutPrefix(key, streams.LinkKey(lattice, "")); ok {
		setMember(l.links, k, put)
	} else if k, ok := strings.CutPrefix(key, streams.RefmapKey(lattice, "")); ok {
		setMember(l.refmaps, k, put)
	}
	if put {
		l.tally.seq = max(l.tally.seq, seq)
	}
	l.rev = rev
	for s := range l.subs.summary {
		s.touch()
	}
}

func setMember(m map[string]bool, k string, in bool) {
	if in {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// documentSeq reads the seq member of a link or ref map document; 0 when
// it has none.
func documentSeq(b []byte) uint64 {
	var d struct {
		Seq uint64 `json:"seq"`
	}
	if len(b) == 0 || json.Unmarshal(b, &d) != nil {
		return 0
	}
	return d.Seq
}

func (v *View) applyHost(l *latticeState, id string, e jetstream.KeyValueEntry, put, loading bool) {
	rev := e.Revision()
	var old, cur *hostEntry
	if put {
		h, err := projections.UnmarshalHost(e.Value())
		if err == nil && h.HostID != id {
			err = fmt.Errorf("document of host %s under key of %s", h.HostID, id)
		}
		if err != nil {
			v.metrics.invalid.Inc()
			v.log.Warn("state view: ignoring a document it cannot read", "key", e.Key(), "revision", rev, "err", err)
			return
		}
		cur = newHostEntry(h, e.Value(), rev)
		cur.search = SearchText(h)
		old = l.putHost(cur, loading)
	} else {
		old = l.deleteHost(id, rev, loading)
	}
	offer := func(s *Subscription) {
		if !s.offer(id, rev, old, cur) {
			l.subs.remove(s)
			v.metrics.dropped(ErrSlowWatcher)
		}
	}
	for s := range l.subs.hosts {
		offer(s)
	}
	for s := range l.subs.byID[id] {
		offer(s)
	}
	for s := range l.subs.summary {
		s.touch()
	}
}

// Sync waits until the view holds everything the state bucket held when it
// was called: a read after Sync sees every write that completed before it.
// It gives up with ErrNotCurrent after the view's sync timeout.
func (v *View) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.syncTimeout)
	defer cancel()
	st, err := v.waitFor(ctx, func(st *state) bool { return st != nil }, nil)
	if err != nil {
		return fmt.Errorf("%w: bucket %s not loaded yet", err, v.bucket)
	}
	info, err := st.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("state view: read bucket %s: %w", v.bucket, err)
	}
	target := info.State.LastSeq
	if info.State.Msgs == 0 {
		target = 0
	}
	created := info.Created
	// A bucket created anew starts its revisions over: the view loads it
	// again rather than wait for revisions it already passed.
	current := func(st *state) bool { return st != nil && st.created.Equal(created) && st.rev >= target }
	if _, err := v.waitFor(ctx, current, func() {
		if !st.created.Equal(created) {
			v.requestReload()
		}
	}); err != nil {
		return fmt.Errorf("%w: behind revision %d of bucket %s", err, target, v.bucket)
	}
	return nil
}

// waitFor waits until cond holds for the current state, calling nudge
// once when it does not at first.
func (v *View) waitFor(ctx context.Context, cond func(*state) bool, nudge func()) (*state, error) {
	for {
		v.mu.RLock()
		st, changed, stopped, ok := v.st, v.changed, v.stopped, cond(v.st)
		v.mu.RUnlock()
		switch {
		case stopped:
			return nil, ErrStopped
		case ok:
			return st, nil
		}
		if nudge != nil {
			nudge()
			nudge = nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ErrNotCurrent
		}
	}
}

// Subscribe adds a watcher of the hosts of lattice that f matches. With
// o.Hosts, initial holds, in revision order, every such host (or, with
// o.After, what changed since that revision); the watcher then receives
// every later change. The caller must Close it.
func (v *View) Subscribe(lattice string, f Filter, o WatchOptions) (s *Subscription, initial []Change, err error) {
	s, initial, err = v.subscribe(lattice, f, o)
	if err == nil {
		sortChanges(initial)
	}
	return s, initial, err
}

func (v *View) subscribe(lattice string, f Filter, o WatchOptions) (*Subscription, []Change, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.stopped:
		return nil, nil, ErrStopped
	case v.st == nil:
		return nil, nil, ErrNotCurrent
	case v.watchers >= v.maxWatchers:
		v.metrics.rejected.Inc()
		return nil, nil, fmt.Errorf("%w: %d watching, at most %d", ErrTooManyWatchers, v.watchers, v.maxWatchers)
	}
	l := v.st.lattices[lattice]
	if l == nil {
		l = newLatticeState(lattice)
		v.st.lattices[lattice] = l
	}
	var initial []Change
	if o.Hosts {
		if o.After > 0 {
			if o.After > v.st.rev || o.After < l.goneFloor {
				return nil, nil, fmt.Errorf("%w %d: the view holds revisions %d to %d", ErrUnknownRevision, o.After, l.goneFloor, v.st.rev)
			}
			initial = l.changesAfter(f, o.After)
		} else {
			initial = l.current(f)
		}
	}
	s := newSubscription(v, lattice, f, o, v.buffer)
	l.subs.add(s)
	v.watchers++
	v.metrics.watchers.Set(float64(v.watchers))
	return s, initial, nil
}

func (v *View) unsubscribe(s *Subscription) {
	v.mu.Lock()
	v.watchers--
	v.metrics.watchers.Set(float64(v.watchers))
	if st := v.st; st != nil {
		if l := st.lattices[s.lattice]; l != nil {
			l.subs.remove(s)
			if l.empty() {
				delete(st.lattices, s.lattice)
			}
		}
	}
	v.mu.Unlock()
	s.fail(errClosed)
}

// Watchers returns how many watchers the view has.
func (v *View) Watchers() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.watchers
}

// MaxWatchers returns how many watchers the view allows at once.
func (v *View) MaxWatchers() int { return v.maxWatchers }
