package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/direct"
	"latticestate/projections"
	"latticestate/streams"
)

// History answers what a lattice was at a point of the event stream: the
// newest snapshot at or below the point plus the lattice's events after it,
// so the cost is bounded by the snapshot interval, not by the history. A
// lattice it keeps for an earlier point after that snapshot serves as a
// nearer one (see foldCache). A point that can no longer be rebuilt exactly
// is refused with a *HistoryGoneError, never approximated. It reads the
// stream and the snapshot store only, never the state bucket.
type History struct {
	js jetstream.JetStream
	// cache and folded are nil WithoutSnapshotCache.
	cache  *snapshotCache
	folded *foldCache[*foldedLattice]

	mu sync.Mutex
	// obs reads the snapshots with direct gets, which need no consumer: a
	// reader allowed none can travel in time.
	obs direct.ObjectReader
	// index is the snapshot index read at indexRead: reading it costs a
	// watch of the store, and snapshots are added seconds apart at most.
	index     snapIndex
	indexRead time.Time
}

// indexTTL is how long History reuses the snapshot index. An index that
// misses the newest snapshot costs a longer fold, never a wrong answer;
// one naming a pruned snapshot is read again.
const indexTTL = time.Second

// NewHistory returns a History reading through js, configured by opts:
// WithoutSnapshotCache.
func NewHistory(js jetstream.JetStream, opts ...HistoryOption) *History {
	h := &History{js: js, cache: newSnapshotCache(), folded: newFoldCache[*foldedLattice]()}
	for _, o := range opts {
		o(h)
	}
	return h
}

// HistoryOption configures a History.
type HistoryOption func(*History)

// WithoutSnapshotCache makes a History that keeps no decoded snapshot and
// no folded lattice once a fold is done. The caches serve a long-lived
// reader (the HTTP API) asked about one point, or nearby points, again and
// again; a one-shot reader (replay --to-seq, get --as-of) never asks
// twice, and a cached snapshot would stay in memory beside the documents
// the fold replaces it with: for 10,000 hosts, tens of megabytes.
func WithoutSnapshotCache() HistoryOption {
	return func(h *History) { h.cache, h.folded = nil, nil }
}

// PastEndError says a sequence is past the end of the stream.
type PastEndError struct{ Asked, Last uint64 }

func (e *PastEndError) Error() string {
	return fmt.Sprintf("sequence %d is past the end of the stream: the last is %d", e.Asked, e.Last)
}

// ErrPastEnd matches every *PastEndError.
var ErrPastEnd = errors.New("past the end of the stream")

func (e *PastEndError) Is(target error) bool { return target == ErrPastEnd }

// Window is the part of the stream's history that can be travelled to.
type Window struct {
	// Earliest is the earliest sequence of the lattice that can be
	// rebuilt exactly (0: none), with the time its event was captured when
	// known; Last is the stream's last sequence.
	Earliest     uint64    `json:"earliest_seq"`
	EarliestTime time.Time `json:"earliest_time,omitzero"`
	Last         uint64    `json:"last_seq"`
	LastTime     time.Time `json:"last_time,omitzero"`
	// First is the first sequence the stream still holds.
	First uint64 `json:"first_seq"`
}

// Window tells how far back lattice can be travelled.
func (h *History) Window(ctx context.Context, lattice string) (Window, error) {
	v, info, snaps, err := h.view(ctx, lattice)
	if err != nil {
		return Window{}, err
	}
	w := Window{Last: v.last, First: v.first, LastTime: info.State.LastTime}
	w.Earliest, w.EarliestTime, _ = v.earliest(snaps)
	if w.Earliest > 0 && w.EarliestTime.IsZero() && w.Earliest >= v.first {
		if m, err := h.message(ctx, w.Earliest); err == nil {
			w.EarliestTime = m.Time
		}
	}
	return w, nil
}

// Lattice returns lattice as it was at `at` (the zero AsOf: the end of the
// stream), as `fold` of the events up to that point prints it. Unless
// WithoutSnapshotCache, the lattice may be shared with other callers asking
// about the same point: it must not be changed.
func (h *History) Lattice(ctx context.Context, lattice string, at AsOf) (*projections.Lattice, error) {
	return h.LatticeProgress(ctx, lattice, at, nil)
}

// Lattices returns the lattices the snapshots know of.
func (h *History) Lattices(ctx context.Context) ([]string, error) {
	obs, err := h.store(ctx)
	if err != nil || obs == nil {
		return nil, err
	}
	idx, err := listSnapshots(ctx, obs)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(idx)), nil
}

// LatticeProgress is Lattice telling progress, when set, the sequence
// reached and the point.
func (h *History) LatticeProgress(ctx context.Context, lattice string, at AsOf, progress func(applied, target uint64)) (*projections.Lattice, error) {
	f, err := h.lattice(ctx, lattice, at, progress, false)
	if err != nil {
		return nil, err
	}
	return f.lattice, nil
}

// HostPages returns the hosts of lattice as it was at `at`, in the order
// pages list them, each encoded once a page needs it: a reader asking for
// the same point again, as a dashboard does for every page, encodes no
// host twice. Like Lattice's, they are shared and must not be changed.
func (h *History) HostPages(ctx context.Context, lattice string, at AsOf) (*HostPages, error) {
	f, err := h.lattice(ctx, lattice, at, nil, false)
	if err != nil {
		return nil, err
	}
	return f.hostPages(), nil
}

// HostPages are the hosts of a lattice as of a point, sorted by id, with
// the encoding (projections.AppendHost) of each made at most once.
type HostPages struct {
	hosts []*projections.Host
	enc   []atomic.Pointer[[]byte]
}

func newHostPages(l *projections.Lattice) *HostPages {
	hosts := l.SortedHosts()
	return &HostPages{hosts: hosts, enc: make([]atomic.Pointer[[]byte], len(hosts))}
}

// Hosts are the hosts, sorted by id.
func (p *HostPages) Hosts() []*projections.Host { return p.hosts }

// Encoding returns the encoding of host, one of Hosts.
func (p *HostPages) Encoding(host *projections.Host) ([]byte, error) {
	i, ok := slices.BinarySearchFunc(p.hosts, host.HostID, func(h *projections.Host, id string) int {
		return strings.Compare(h.HostID, id)
	})
	if !ok || p.hosts[i] != host {
		return nil, fmt.Errorf("host %s is not one of these pages", host.HostID)
	}
	if b := p.enc[i].Load(); b != nil {
		return *b, nil
	}
	b, err := projections.AppendHost(nil, host)
	if err != nil {
		return nil, err
	}
	p.enc[i].Store(&b)
	return b, nil
}

// lattice is LatticeProgress; fresh tells that the snapshot index was just
// read.
func (h *History) lattice(ctx context.Context, lattice string, at AsOf, progress func(applied, target uint64), fresh bool) (*foldedLattice, error) {
	v, _, snaps, err := h.view(ctx, lattice)
	if err != nil {
		return nil, err
	}
	p, err := h.resolve(ctx, v, at)
	if err != nil {
		return nil, err
	}
	if p == 0 {
		return &foldedLattice{lattice: projections.NewLattice(lattice)}, nil
	}
	// Whether the point can still be rebuilt is decided before any folded
	// lattice is reused: a point whose events aged out is refused, even
	// if it was folded before.
	i, ok := v.start(snaps, p)
	if !ok {
		gone := &HistoryGoneError{Lattice: lattice, Point: p, First: v.first}
		gone.Earliest, gone.EarliestTime, _ = v.earliest(snaps)
		return nil, gone
	}
	key := foldKey{stream: v.created, lattice: lattice, point: p}
	fold := func() (*foldedLattice, error) {
		// A lattice kept at a point between the snapshot and p is a
		// snapshot of its own, closer to p: a reader stepping forward
		// through the history folds only the events it stepped over.
		start := uint64(0)
		if i >= 0 {
			start = snaps[i].seq
		}
		if h.folded != nil {
			if k, kept, ok := h.folded.latest(key, start); ok {
				return h.foldFrom(ctx, lattice, k, kept.docs, p, progress)
			}
		}
		return h.fold(ctx, lattice, snaps, i, p, progress)
	}
	var f *foldedLattice
	if h.folded != nil && progress == nil {
		f, err = h.folded.get(ctx, key, fold)
	} else {
		f, err = fold()
	}
	if errors.Is(err, jetstream.ErrObjectNotFound) && !fresh {
		// The snapshot was pruned since the index was read: read the
		// index again, once.
		obs, err := h.store(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := h.snapshots(ctx, obs, true); err != nil {
			return nil, err
		}
		return h.lattice(ctx, lattice, at, progress, true)
	}
	return f, err
}

// foldedLattice is a lattice as of a point with its live documents, which
// are what a snapshot taken at that point would hold: a later point of the
// same stream can be folded from them.
type foldedLattice struct {
	lattice *projections.Lattice
	docs    []*document
	// pages, made once asked for, are its hosts as pages list them.
	pagesOnce sync.Once
	pages     *HostPages
}

func (f *foldedLattice) hostPages() *HostPages {
	f.pagesOnce.Do(func() { f.pages = newHostPages(f.lattice) })
	return f.pages
}

// fold folds lattice up to p: from snaps[i] (none for i < 0) and the
// lattice's events after it.
func (h *History) fold(ctx context.Context, lattice string, snaps []snapInfo, i int, p uint64, progress func(applied, target uint64)) (*foldedLattice, error) {
	if i < 0 {
		return h.foldFrom(ctx, lattice, 0, nil, p, progress)
	}
	obs, err := h.store(ctx)
	if err != nil {
		return nil, err
	}
	base := snaps[i].seq
	if p-base > maxHeldEvents {
		docs, err := readSnapshot(ctx, obs, snaps[i], h.cache)
		if err != nil {
			return nil, err
		}
		return h.foldFrom(ctx, lattice, base, docs, p, progress)
	}
	// The snapshot is read and decoded while the events after it are read
	// and decoded: neither waits for the other's round trips and CPU.
	// They are folded into the snapshot's documents once both are done.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var docs []*document
	var snapErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if docs, snapErr = readSnapshot(readCtx, obs, snaps[i], h.cache); snapErr != nil {
			cancel()
		}
	}()
	set := newDocSet()
	events, err := decodeLattice(readCtx, h.js, set.decoder, lattice, base+1, p, progress)
	if err != nil {
		cancel()
	}
	<-done
	if snapErr != nil {
		return nil, snapErr
	}
	if err != nil {
		return nil, err
	}
	set.putLattice(lattice, base, docs)
	for i := range events {
		set.apply(events[i].key, &events[i].ev)
	}
	return set.folded(lattice, p, progress), nil
}

// keyedEvent is an event decoded with the key of its document.
type keyedEvent struct {
	ev  projections.Event
	key string
}

// decodeLattice reads and decodes the events of lattice from..to, leaving
// out those that cannot be decoded or change no document (they changed
// nothing when first applied either).
func decodeLattice(ctx context.Context, js jetstream.JetStream, d *projections.Decoder, lattice string, from, to uint64, progress func(applied, target uint64)) ([]keyedEvent, error) {
	if from > to {
		return nil, nil
	}
	events := make([]keyedEvent, 0, to-from+1)
	err := readLattice(ctx, js, lattice, from, to, func(seq uint64, subject string, data []byte) {
		if ev, key, err := decodeEvent(d, seq, subject, data); err == nil && key != "" {
			events = append(events, keyedEvent{ev: ev, key: key})
		}
		if progress != nil && seq%4096 == 0 {
			progress(seq, to)
		}
	})
	return events, err
}

// maxHeldEvents bounds the events fold holds decoded while it reads a
// snapshot (a few MB at the default snapshot interval); a point further
// from its snapshot is folded as its events are read, once the snapshot
// is.
const maxHeldEvents = 2 * streams.DefaultSnapshotEvery

// foldFrom folds lattice up to p from docs, its live documents as of base
// (a snapshot's, or a lattice folded before; none as of 0), and its events
// after base. The documents are shared, never changed.
func (h *History) foldFrom(ctx context.Context, lattice string, base uint64, docs []*document, p uint64, progress func(applied, target uint64)) (*foldedLattice, error) {
	set := newDocSet()
	if base > 0 {
		set.putLattice(lattice, base, docs)
	}
	if from := base + 1; from <= p {
		err := readLattice(ctx, h.js, lattice, from, p, func(seq uint64, subject string, data []byte) {
			set.add(seq, subject, data)
			if progress != nil && seq%4096 == 0 {
				progress(seq, p)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return set.folded(lattice, p, progress), nil
}

// folded is lattice as set holds it, folded up to p.
func (s *docSet) folded(lattice string, p uint64, progress func(applied, target uint64)) *foldedLattice {
	if progress != nil {
		progress(p, p)
	}
	live := s.lattice(lattice)
	return &foldedLattice{lattice: foldLattice(lattice, live), docs: live}
}

// view reads the stream's state and the lattice's snapshots of it.
func (h *History) view(ctx context.Context, lattice string) (streamView, *jetstream.StreamInfo, []snapInfo, error) {
	s, err := h.js.Stream(ctx, streams.EventsStream)
	if err != nil {
		return streamView{}, nil, nil, fmt.Errorf("open stream %s: %w", streams.EventsStream, err)
	}
	info := s.CachedInfo()
	v := viewOf(info)
	obs, err := h.store(ctx)
	if err != nil {
		return streamView{}, nil, nil, err
	}
	if obs == nil {
		return v, info, nil, nil
	}
	idx, err := h.snapshots(ctx, obs, false)
	if err != nil {
		return streamView{}, nil, nil, err
	}
	return v, info, idx.of(lattice, v.created), nil
}

// snapshots returns the snapshot index, read again when older than
// indexTTL or when fresh is set.
func (h *History) snapshots(ctx context.Context, obs direct.ObjectReader, fresh bool) (snapIndex, error) {
	h.mu.Lock()
	idx, at := h.index, h.indexRead
	h.mu.Unlock()
	if idx != nil && !fresh && time.Since(at) < indexTTL {
		return idx, nil
	}
	idx, err := listSnapshots(ctx, obs)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.index, h.indexRead = idx, time.Now()
	h.mu.Unlock()
	return idx, nil
}

// store opens the snapshot store; nil when there is none.
func (h *History) store(ctx context.Context) (direct.ObjectReader, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.obs != nil {
		return h.obs, nil
	}
	obs, err := direct.OpenObjectStore(ctx, h.js, streams.SnapshotStore)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("open snapshot store %s: %w", streams.SnapshotStore, err)
	}
	h.obs = obs
	return obs, nil
}

// resolve turns at into a stream sequence: the last event at or before it.
func (h *History) resolve(ctx context.Context, v streamView, at AsOf) (uint64, error) {
	switch {
	case at.Seq > 0:
		if at.Seq > v.last {
			return 0, &PastEndError{Asked: at.Seq, Last: v.last}
		}
		return at.Seq, nil
	case at.Time.IsZero():
		return v.last, nil
	}
	// The first event captured after at.Time, if any, ends the point.
	next, err := firstAfter(ctx, h.js, at.Time)
	if err != nil || next == 0 {
		return v.last, err
	}
	return next - 1, nil
}

// message reads the event at seq.
func (h *History) message(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	s, err := h.js.Stream(ctx, streams.EventsStream)
	if err != nil {
		return nil, err
	}
	return s.GetMsg(ctx, seq)
}
