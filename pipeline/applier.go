package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"latticestate/projections"
)

// applier is the exactly-once core of a projector. It folds events, in
// stream order, into the documents they change, holds the result in a
// window, and flushes the window to its store: every changed document
// written once with a compare-and-set on the version it was folded from,
// the dead letters stored, then the checkpoint saved, and only then the
// highest delivered message acked (at the head of the stream, the
// checkpoint and the ack of small windows wait up to 20 ms for a later
// one: see write). Any failure rolls it back to the
// checkpoint; applying the same events again is harmless, because every
// document records the sequence of the last event applied to it and skips
// what it already holds. Snapshots aside, it talks to nothing but its
// store, so a test can crash it, or make a write conflict or fail, at any
// step.
//
// An applier belongs to one goroutine; the workers it starts to fold a run
// or write a window share its cache.
type applier struct {
	store docStore
	cache *docCache
	opts  options
	// snaps takes snapshots at their boundaries; nil when they are off.
	snaps   *snapshotter
	intents *heldIntents
	metrics *Metrics
	log     *slog.Logger

	// applied is the highest stream sequence folded: every event of the
	// consumer at or below it is in the store or in the window.
	applied uint64
	// appliedTime is when the event at applied was captured.
	appliedTime time.Time
	// checkpoint is the last checkpoint saved: every event of the consumer
	// at or below it is in the store.
	checkpoint uint64
	// savedAt is when checkpoint was saved.
	savedAt time.Time
	// written is, for other goroutines (Status reads it), the highest
	// sequence up to which every event's documents are in the store: the
	// checkpoint, or past it while a live write left it unsaved.
	written atomic.Uint64
	// stream is the identity of the event stream the state counts in,
	// saved with the next checkpoint.
	stream string
	// win holds what is folded but not yet written.
	win *window
	// groups groups a run's events by document; reused.
	groups grouping
	// resets counts rollbacks and restarts: a delivery sequence noted
	// before one no longer tells what is applied.
	resets uint64
}

// newApplier returns an applier at checkpoint 0 that keeps its documents
// in store; o gives the flush limits, the workers, the observer, the
// tracer, the metrics and the logger.
func newApplier(store docStore, o options, snaps *snapshotter) *applier {
	var lattices []string
	if o.lattice != "" {
		lattices = []string{o.lattice}
	}
	return &applier{
		store:   store,
		cache:   newDocCache(store, lattices),
		opts:    o,
		snaps:   snaps,
		intents: newHeldIntents(o.metrics),
		metrics: o.metrics,
		log:     o.logger,
		win:     newWindow(),
	}
}

// useStore switches to another store (the bucket was created again) at
// checkpoint 0, dropping the window and the cache.
func (a *applier) useStore(store docStore) {
	a.store = store
	a.cache = newDocCache(store, a.cache.lattices)
	a.win = newWindow()
	a.applied, a.checkpoint = 0, 0
	a.written.Store(0)
	a.resets++
}

// restart drops the window and continues from cp, as after a crash.
// Nothing is acked until the events are applied again.
func (a *applier) restart(cp checkpoint) {
	w := a.win
	a.win = newWindow()
	a.win.ack, a.win.ackSeq = w.ack, w.ackSeq
	a.applied, a.checkpoint, a.stream = cp.seq, cp.seq, cp.stream
	a.written.Store(cp.seq)
	a.metrics.Checkpoint.Set(float64(cp.seq))
	a.resets++
}

// loadCheckpoint restarts from the store's checkpoint.
func (a *applier) loadCheckpoint(ctx context.Context) error {
	cp, err := a.store.Checkpoint(ctx)
	if err != nil {
		return err
	}
	a.restart(cp)
	return nil
}

// fillCache reads every document into the cache; without it documents are
// loaded one by one as events need them.
func (a *applier) fillCache(ctx context.Context) {
	start := time.Now()
	if err := a.cache.fill(ctx); err != nil {
		a.cache.reset()
		a.log.Warn("documents will be loaded one by one", "err", err)
		return
	}
	a.log.Debug("document cache filled", "took", time.Since(start))
}

// apply folds events (decoded or not, in stream order, all above
// applied) into the documents of the window and dead-letters those that
// cannot be decoded. Nothing is written: flush writes the window. On error
// the caller rolls the window back. Events are applied in runs that end at
// the snapshot boundaries, and the snapshots due are taken between runs.
func (a *applier) apply(ctx context.Context, events []capturedEvent) error {
	for len(events) > 0 {
		n := len(events)
		if s := a.snaps; s != nil {
			if b := s.boundaryBefore(a.applied, events[0].seq); b > 0 {
				a.takeSnapshots(ctx, b)
			}
			end := s.boundaryFrom(events[0].seq)
			n = sort.Search(len(events), func(i int) bool { return events[i].seq > end })
		}
		if err := a.applyRun(ctx, events[:n]); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// applyRun is apply for a run that crosses no snapshot boundary.
func (a *applier) applyRun(ctx context.Context, events []capturedEvent) error {
	if len(events) == 0 {
		return nil
	}
	a.metrics.BatchSize.Observe(float64(len(events)))
	decodeEvents(a.opts.decoder, events, a.opts.workers, a.opts.tracer)
	w := a.win
	if w.events == 0 {
		w.started = a.opts.now()
	}
	if a.opts.tracer != nil {
		w.traceEvents(events)
	}
	g := &a.groups
	defer g.reset()
	var dead []*capturedEvent
	for i := range events {
		e := &events[i]
		switch {
		case e.err != nil:
			dead = append(dead, e)
		case e.key == "":
			a.metrics.Ignored.Inc()
		default:
			g.add(e.key, &e.ev)
		}
	}
	if err := a.deadLetter(dead); err != nil {
		return err
	}
	raised, err := a.foldGroups(ctx, g)
	if err != nil {
		return err
	}
	last := &events[len(events)-1]
	a.applied, a.appliedTime = last.seq, last.captured
	w.events += len(events)
	if a.snaps != nil || a.opts.observe != nil {
		a.noteApplied(events)
	}
	a.intents.hold(events, raised)
	return nil
}

// noteApplied tells the snapshotter of the events applied, and keeps them
// for the observer until they are written.
func (a *applier) noteApplied(events []capturedEvent) {
	for i := range events {
		if events[i].key == "" {
			continue
		}
		if a.snaps != nil {
			a.snaps.applied(events[i].ev.Lattice, events[i].seq)
		}
		if a.opts.observe != nil {
			ev := events[i].ev
			ev.Data = nil
			a.win.observed = append(a.win.observed, observed{ev: ev, captured: events[i].captured})
		}
	}
}

// deadLetter sends rejected events to the store's dead letters; flush
// waits for them.
func (a *applier) deadLetter(dead []*capturedEvent) error {
	for _, e := range dead {
		category := "other"
		var de *projections.DecodeError
		if errors.As(e.err, &de) {
			category = categoryName(de.Category)
		}
		a.metrics.Rejected.WithLabelValues(category).Inc()
		a.log.Warn("event rejected", "seq", e.seq, "subject", e.subject, "reason", e.err.Error())
		pw, err := a.store.DeadLetter(e.seq, e.subject, e.data, e.err)
		if err != nil {
			return err
		}
		a.win.dlq = append(a.win.dlq, pw)
	}
	return nil
}

func categoryName(err error) string {
	switch {
	case errors.Is(err, projections.ErrMalformed):
		return "malformed"
	case errors.Is(err, projections.ErrEnvelope):
		return "envelope"
	case errors.Is(err, projections.ErrData):
		return "data"
	case errors.Is(err, projections.ErrInvalidHostID):
		return "host_id"
	case errors.Is(err, projections.ErrForged):
		return "forged"
	}
	return "other"
}

// foldGroups folds each key's events into its document, in parallel: the
// window's version when it has one, else the stored one. It returns the
// intents raised.
func (a *applier) foldGroups(ctx context.Context, g *grouping) ([]projections.Intent, error) {
	keys := g.keys
	results := make([]foldResult, len(keys))
	fold := func(i int) {
		r := &results[i]
		var prev *document
		if d, ok := a.win.dirty[keys[i]]; ok {
			r.base, prev = d.base, d.next
		} else if prev, r.err = a.cache.load(ctx, keys[i]); r.err != nil {
			return
		} else {
			r.base = prev
		}
		r.next, r.intents, r.changed = foldDocument(prev, g.events[i])
		if r.changed {
			r.next.keepInventory()
		}
	}
	parallel(len(keys), a.opts.workers, fold)
	var raised []projections.Intent
	for i := range results {
		r := &results[i]
		if r.err != nil {
			return nil, r.err
		}
		raised = append(raised, r.intents...)
		if r.changed {
			a.win.change(keys[i], r, g.events[i], a.opts.tracer != nil)
		}
	}
	return raised, nil
}

// rollback drops the window after a failure: the applier is back at its
// checkpoint with nothing cached, and the delivered message stays unacked
// until the events are applied again.
func (a *applier) rollback(err error) {
	w := a.win
	if w.events == 0 && len(w.dirty) == 0 && a.applied == a.checkpoint {
		return
	}
	for _, s := range w.spans {
		endSpan(s, err)
	}
	a.win = newWindow()
	a.win.ack, a.win.ackSeq = w.ack, w.ackSeq
	a.applied = a.checkpoint
	a.resets++
	a.cache.reset()
}
