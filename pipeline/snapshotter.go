package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// snapshotter records the projector's snapshots. Its boundaries are the
// multiples of step; at each, a lattice with events since its last
// snapshot gets a new one when that snapshot is every sequences old, or
// sooner when the lattice is small enough for the snapshot to cost little
// (at most a tenth of a document per sequence since the last one). Quiet
// lattices get a new copy of their last snapshot before the stream drops
// the events it would need. Snapshots are encoded and written in the
// background, at most maxSnapshotWrites at once, so that applying events
// never waits for them; one lost to a crash or a failure is taken at the
// next boundary, from the documents the projector restarts with.
type snapshotter struct {
	obs   jetstream.ObjectStore
	every uint64
	step  uint64
	log   *slog.Logger
	m     *Metrics

	// js reaches the snapshot store's stream; events returns the event
	// stream the snapshots are of.
	js     jetstream.JetStream
	events func() jetstream.Stream

	// index, stream and boundary belong to the projector's goroutine.
	index snapIndex
	// stream is the identity of the event stream the snapshots are of.
	stream string
	// boundary is the last boundary handled.
	boundary uint64
	// since is, by lattice, the first event applied after its last
	// snapshot.
	since map[string]uint64
	// pruned is when snapshots were last pruned.
	pruned time.Time
	// info is the event stream's, asked at infoAt.
	info   *jetstream.StreamInfo
	infoAt time.Time

	wg     sync.WaitGroup
	writes chan struct{}
	mu     sync.Mutex
	err    error
}

// maxSnapshotWrites bounds the snapshots being written at once: a capture
// waits for a slot, which holds the projector back only when snapshots
// take longer to write than the events between them take to apply.
const maxSnapshotWrites = 2

func newSnapshotter(js jetstream.JetStream, obs jetstream.ObjectStore, events func() jetstream.Stream, every uint64, log *slog.Logger, m *Metrics) *snapshotter {
	if obs == nil || every == 0 {
		return nil
	}
	return &snapshotter{js: js, obs: obs, events: events, every: every, step: max(every/10, 1), log: log, m: m, since: map[string]uint64{},
		writes: make(chan struct{}, maxSnapshotWrites)}
}

// load reads the index of the stored snapshots and marks dirty every
// lattice of docs with events after its last snapshot of this stream.
// Which event came first after it is not known, so the earliest possible
// one is assumed.
func (s *snapshotter) load(ctx context.Context, stream string, docs map[string]*document, checkpoint uint64) error {
	idx, err := listSnapshots(ctx, s.obs)
	if err != nil {
		return err
	}
	s.index, s.stream, s.since = idx, stream, map[string]uint64{}
	s.info = nil
	// A boundary at the checkpoint itself is still due: its snapshot is
	// taken when the first event after it arrives.
	s.boundary = 0
	if checkpoint > 0 {
		s.boundary = (checkpoint - 1) / s.step * s.step
	}
	high := map[string]uint64{}
	for k, d := range docs {
		if l, ok := streams.LatticeOfKey(k); ok {
			high[l] = max(high[l], d.Seq)
		}
	}
	for l, seq := range high {
		last := s.last(l)
		if seq > last {
			s.since[l] = last + 1
		}
	}
	return nil
}

// last returns the sequence of the newest snapshot of lattice, 0 if none.
func (s *snapshotter) last(lattice string) uint64 {
	snaps := s.index.of(lattice, s.stream)
	if len(snaps) == 0 {
		return 0
	}
	return snaps[len(snaps)-1].seq
}

// applied notes an event of lattice at seq.
func (s *snapshotter) applied(lattice string, seq uint64) {
	if _, ok := s.since[lattice]; !ok {
		s.since[lattice] = seq
	}
}

// boundaryFrom returns the first boundary at or after seq.
func (s *snapshotter) boundaryFrom(seq uint64) uint64 { return (seq + s.step - 1) / s.step * s.step }

// boundaryBefore returns the boundary that must be handled before the
// event at seq is applied, when the projector holds every event up to high
// and none in (high, seq); 0 when there is none.
func (s *snapshotter) boundaryBefore(high, seq uint64) uint64 {
	b := (seq - 1) / s.step * s.step
	if b == 0 || b < high || b <= s.boundary {
		return 0
	}
	return b
}

// capture takes the snapshots due at boundary b from docs (the projector's
// documents, all of them, at b; more(l, n) tells whether docs(l) would
// return more than n) and writes them in the background. first is the
// stream's first sequence, for refreshing quiet lattices.
func (s *snapshotter) capture(b uint64, captured time.Time, first uint64, docs func(lattice string) []*document, more func(lattice string, n int) bool, known []string) {
	s.checkFailed()
	s.boundary = b
	type job struct {
		lattice string
		since   uint64
		docs    []*document
	}
	var jobs []job
	for l, since := range s.since {
		last := s.last(l)
		// A lattice of more than a document per ten sequences since its
		// last snapshot waits for the full interval: counted only that far.
		if b-last < s.every && more(l, int((b-last)/10)) {
			continue
		}
		jobs = append(jobs, job{l, since, docs(l)})
		delete(s.since, l)
	}
	for _, l := range known {
		if _, dirty := s.since[l]; dirty || first <= 1 {
			continue
		}
		if last := s.last(l); last > 0 && last+s.every < b && last+1 < first+s.every {
			// Quiet: no events since its last snapshot, which the stream
			// is about to outlive.
			jobs = append(jobs, job{l, 0, docs(l)})
		}
	}
	for _, j := range jobs {
		// The writer reads copies, taken while no flush runs: a later
		// flush keeps the encoding of the documents it writes.
		copies := make([]document, len(j.docs))
		for i, d := range j.docs {
			copies[i] = *d
			j.docs[i] = &copies[i]
		}
		info := snapInfo{name: streams.SnapshotName(j.lattice, b), lattice: j.lattice, seq: b, since: j.since, stream: s.stream, captured: captured}
		s.index[j.lattice] = append(s.index[j.lattice], info)
		s.writes <- struct{}{}
		s.wg.Go(func() {
			defer func() { <-s.writes }()
			s.write(info, j.docs)
		})
	}
}

// write encodes and stores one snapshot.
func (s *snapshotter) write(info snapInfo, docs []*document) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := func() error {
		raw, err := encodeSnapshot(info.lattice, info.seq, docs)
		if err != nil {
			return err
		}
		meta := jetstream.ObjectMeta{Name: info.name, Metadata: map[string]string{
			streams.SnapshotMetaLattice:  info.lattice,
			streams.SnapshotMetaSeq:      strconv.FormatUint(info.seq, 10),
			streams.SnapshotMetaStream:   info.stream,
			streams.SnapshotMetaSince:    strconv.FormatUint(info.since, 10),
			streams.SnapshotMetaCaptured: info.captured.UTC().Format(time.RFC3339Nano),
			streams.SnapshotMetaFormat:   strconv.Itoa(snapshotFormat),
		}}
		if _, err := s.obs.Put(ctx, meta, bytes.NewReader(raw)); err != nil {
			return fmt.Errorf("write snapshot %s: %w", info.name, err)
		}
		s.m.Snapshots.Inc()
		s.m.SnapshotBytes.Add(float64(len(raw)))
		return nil
	}()
	if err != nil {
		s.m.SnapshotFailures.Inc()
		s.mu.Lock()
		s.err = errors.Join(s.err, err)
		s.mu.Unlock()
	}
}

// wait waits for the snapshots in flight.
func (s *snapshotter) wait() {
	s.wg.Wait()
	s.checkFailed()
}

// checkFailed logs the snapshots that could not be written since the last
// call and marks their lattices due at the next boundary.
func (s *snapshotter) checkFailed() {
	s.mu.Lock()
	err := s.err
	s.err = nil
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("snapshot not written", "err", err)
		s.reload()
	}
}

// reload re-reads the index after a failure, so that it holds only what
// was written; lattices whose snapshot failed are marked dirty again.
func (s *snapshotter) reload() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := listSnapshots(ctx, s.obs)
	if err != nil {
		s.log.Warn("re-read snapshot index", "err", err)
		return
	}
	for l := range s.index {
		if len(idx.of(l, s.stream)) < len(s.index.of(l, s.stream)) {
			if _, dirty := s.since[l]; !dirty {
				s.since[l] = 1
			}
		}
	}
	s.index = idx
}

// prune deletes the snapshots no retained event needs: those of another
// stream, and of each lattice those older than the newest one a point of
// the retained history is rebuilt from.
func (s *snapshotter) prune(ctx context.Context, v streamView) {
	for l, snaps := range s.index {
		var keep []snapInfo
		from := 0
		for i := range snaps {
			if snaps[i].stream == s.stream && snaps[i].seq+1 <= v.first {
				from = i
			}
		}
		for i, sn := range snaps {
			if sn.stream != s.stream || (i < from && sn.stream == s.stream) {
				if err := s.obs.Delete(ctx, sn.name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
					s.log.Debug("delete snapshot", "name", sn.name, "err", err)
					keep = append(keep, sn)
				}
				continue
			}
			keep = append(keep, sn)
		}
		s.index[l] = keep
	}
}

// takeSnapshots takes the snapshots due at boundary b; the applier holds
// every event up to b and none after it. It needs the complete document
// cache; without it the lattices stay due until a boundary finds it.
func (a *applier) takeSnapshots(ctx context.Context, b uint64) {
	s := a.snaps
	if !a.cache.isComplete() {
		a.fillCache(ctx)
	}
	if s.index == nil && a.cache.isComplete() {
		a.loadSnapshots(ctx)
	}
	if !a.cache.isComplete() || s.index == nil {
		s.boundary = b
		return
	}
	first := uint64(0)
	if info, err := s.streamInfo(ctx); err == nil {
		first = info.State.FirstSeq
		if time.Since(s.pruned) >= pruneEvery {
			s.pruned = time.Now()
			s.prune(ctx, viewOf(info))
		}
	}
	s.capture(b, a.appliedTime, first, a.latticeDocsNow, a.latticeHasMoreNow, slices.Collect(maps.Keys(s.index)))
}

// streamInfo returns the event stream's info, asked of the server at most
// every streamInfoEvery: boundaries come every tenth of an interval, a
// round trip each would hold the live path back, and what they need of it
// (the first sequence, for quiet lattices and pruning) moves slowly. An
// older first sequence only delays a refresh or a prune.
func (s *snapshotter) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	if s.info != nil && time.Since(s.infoAt) < streamInfoEvery {
		return s.info, nil
	}
	info, err := s.events().Info(ctx)
	if err != nil {
		return nil, err
	}
	s.info, s.infoAt = info, time.Now()
	return info, nil
}

// streamInfoEvery is how often boundaries ask for the event stream's info.
const streamInfoEvery = time.Second

// pruneEvery is how often the projector deletes snapshots no longer needed.
const pruneEvery = time.Minute

// latticeDocsNow returns the live documents of lattice as the applier
// holds them now: the window's version over the cache's.
func (a *applier) latticeDocsNow(lattice string) []*document {
	var out []*document
	a.eachLatticeDocNow(lattice, func(d *document) bool {
		out = append(out, d)
		return true
	})
	return out
}

// latticeHasMoreNow reports whether latticeDocsNow would return more than
// n documents, counting no further than n+1.
func (a *applier) latticeHasMoreNow(lattice string, n int) bool {
	seen := 0
	a.eachLatticeDocNow(lattice, func(*document) bool {
		seen++
		return seen <= n
	})
	return seen > n
}

// eachLatticeDocNow calls fn with every live document of lattice as the
// applier holds it now, until fn returns false.
func (a *applier) eachLatticeDocNow(lattice string, fn func(*document) bool) {
	prefix := lattice + "."
	c := a.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, d := range c.docs {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if w, ok := a.win.dirty[k]; ok {
			d = w.next
		}
		if d.Live() && !fn(d) {
			return
		}
	}
	for k, w := range a.win.dirty {
		if _, cached := c.docs[k]; !cached && strings.HasPrefix(k, prefix) && w.next.Live() && !fn(w.next) {
			return
		}
	}
}

// loadSnapshots reads the snapshot index for the state as the bucket holds
// it at the checkpoint; until it succeeds no snapshot is taken.
func (a *applier) loadSnapshots(ctx context.Context) {
	s := a.snaps
	if s == nil {
		return
	}
	id := a.stream
	if id == "" {
		id = streamIdentity(s.events().CachedInfo().Created)
	}
	if err := s.load(ctx, id, a.cache.documents(), a.checkpoint); err != nil {
		s.index = nil
		a.log.Warn("snapshot index not read; snapshots wait for it", "err", err)
		return
	}
	// Under the lease no snapshot is being written: chunks without an
	// object are a crash's leftovers.
	s.wait()
	s.purgeOrphans(ctx)
}

// orphanAge is how old the last chunk of an object without metadata must
// be for purgeOrphans to take it for a crash's leftover.
var orphanAge = 5 * time.Minute

// purgeOrphans removes the chunks of snapshots whose writing a crash cut
// short: the object store writes an object's chunks before its metadata,
// and only the metadata makes them an object (or lets a later write or
// delete purge them).
func (s *snapshotter) purgeOrphans(ctx context.Context) {
	chunks, err := s.js.Stream(ctx, streams.SnapshotStoreStream)
	if err != nil {
		return
	}
	info, err := chunks.Info(ctx, jetstream.WithSubjectFilter(streams.SnapshotChunks))
	if err != nil || len(info.State.Subjects) == 0 {
		return
	}
	objs, err := s.obs.List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return
	}
	owned := map[string]bool{}
	for _, o := range objs {
		if !o.Deleted {
			owned[streams.SnapshotChunkSubject(o.NUID)] = true
		}
	}
	for subject := range info.State.Subjects {
		if owned[subject] {
			continue
		}
		// A projector that lost its lease may still be writing one.
		if m, err := chunks.GetLastMsgForSubject(ctx, subject); err != nil || time.Since(m.Time) < orphanAge {
			continue
		}
		if err := chunks.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			s.log.Debug("purge snapshot chunks", "subject", subject, "err", err)
			continue
		}
		s.log.Info("purged the chunks of a snapshot cut short", "subject", subject)
	}
}
