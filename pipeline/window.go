package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"latticestate/projections"
)

// window holds what is folded but not yet written: the changed documents,
// the dead letters in flight and the highest delivered message, which is
// acked once the window is flushed. Catching up, many batches fold into one
// window, so a document changed by many events is written once; at the head
// of the stream every batch is flushed at once. Its size is bounded by the
// number of documents and by the flush limits, never by the stream's
// length.
type window struct {
	dirty map[string]*dirtyDoc
	// events counts the events folded since the last flush.
	events  int
	started time.Time
	dlq     []pendingWrite
	// observed is kept only when there is an observer.
	observed []observed
	// spans and traces are kept only when tracing.
	spans  []trace.Span
	traces map[uint64]context.Context
	// ack is the highest delivered message, acked by the next flush: the
	// consumer acks all, so it acknowledges every event below it.
	ack    acker
	ackSeq uint64
}

// acker acknowledges a delivered message (a jetstream.Msg), and with it
// every message delivered before.
type acker interface{ Ack() error }

// dirtyDoc is a document changed in the window.
type dirtyDoc struct {
	// base is the last written version, whose revision the write expects.
	base, next *document
	events     int
	// seqs are the sequences folded into it, when tracing.
	seqs []uint64
}

type observed struct {
	ev       projections.Event
	captured time.Time
}

func newWindow() *window {
	return &window{dirty: map[string]*dirtyDoc{}, traces: map[uint64]context.Context{}}
}

// track records a delivered message to ack at the next flush.
func (w *window) track(m acker, seq uint64) {
	if w.ack == nil || seq >= w.ackSeq {
		w.ack, w.ackSeq = m, seq
	}
}

// change records the new version of the document at key, folded from
// events.
func (w *window) change(key string, r *foldResult, events []*projections.Event, tracing bool) {
	d, ok := w.dirty[key]
	if !ok {
		d = &dirtyDoc{base: r.base}
		w.dirty[key] = d
	}
	d.next = r.next
	d.events += len(events)
	if tracing {
		for _, ev := range events {
			d.seqs = append(d.seqs, ev.Seq)
		}
	}
}

// traceEvents keeps the spans of traced events until they are written.
func (w *window) traceEvents(events []capturedEvent) {
	for i := range events {
		if events[i].span != nil {
			w.traces[events[i].seq] = events[i].traceCtx
			w.spans = append(w.spans, events[i].span)
		}
	}
}

// track records a delivered message to ack at the next flush.
func (a *applier) track(m acker, seq uint64) { a.win.track(m, seq) }

// flushDue reports whether the window should be flushed now, with backlog
// events known to be left to fold after it (delivered and waiting, or not
// delivered yet). At the head of the stream (no backlog) it is flushed at
// once: nothing would join it. Near the head it is flushed once it is
// liveFlushAge old, so that a steady stream's batches share a flush
// without making their events wait longer than that. Catching up (a
// backlog of at least a batch, of events captured catchUpLag or more
// ago) it grows to its size limit, so that a document changed by many
// events is written once; every window is flushed at flushAge.
func (a *applier) flushDue(backlog uint64) bool {
	w := a.win
	if w.events == 0 && w.ack == nil {
		// Only a checkpoint left unsaved, written when nothing is left.
		return backlog == 0 && a.applied > a.checkpoint
	}
	age := a.opts.now().Sub(w.started)
	switch {
	case backlog == 0, w.events >= a.opts.flushEvents, age >= flushAge:
		return true
	case a.catchingUp(backlog):
		return false
	}
	return age >= liveFlushAge
}

// catchingUp reports whether the projector is catching up with the
// stream: backlog events are left to fold, at least a batch of them, and
// the last event folded was captured catchUpLag or more ago. Under a
// steady live load a short stall leaves a backlog of fresh events, which
// are still written in small windows. A backlog of a whole flush window
// is catching up whatever the capture times say (the server's clock may
// be ahead of the projector's).
func (a *applier) catchingUp(backlog uint64) bool {
	return backlog >= uint64(a.opts.flushEvents) ||
		backlog >= uint64(a.opts.batchSize) && a.opts.now().Sub(a.appliedTime) >= catchUpLag
}

const (
	// flushAge bounds the age of a window, well inside the consumer's ack
	// wait (deliveries wait in the client's buffer before they join a
	// window).
	flushAge = 5 * time.Second
	// liveFlushAge bounds the age of a window near the head of the stream.
	liveFlushAge = 5 * time.Millisecond
	// catchUpLag is how old the events folded must be for a backlog to
	// count as catching up.
	catchUpLag = time.Second
)

// flush writes every changed document of the window once, with a
// compare-and-set against the version it was folded from, waits for the
// dead letters, saves the checkpoint and then acks the highest delivered
// message. On error the window is rolled back: the caller applies the
// events again from the checkpoint, and documents skip what they already
// hold.
func (a *applier) flush(ctx context.Context) error { return a.write(ctx, false) }

// checkpointDue returns when the checkpoint that a live write left
// unsaved is due; false when none is waiting (a window still being folded
// saves its own when it is flushed).
func (a *applier) checkpointDue() (time.Time, bool) {
	if a.applied <= a.checkpoint || a.win.events > 0 {
		return time.Time{}, false
	}
	return a.savedAt.Add(a.opts.checkpointEvery), true
}

// write is flush; with live, for a window at the head of the stream,
// where windows are small and many, the documents are written at once,
// but the checkpoint is saved, and the delivered messages acked, only when
// the last checkpoint is options.checkpointEvery (20 ms) old; until then
// they wait for a later flush, or for checkpointDue. Events wait for
// nothing but their documents, and the bucket gets a checkpoint revision
// per interval rather than per window.
func (a *applier) write(ctx context.Context, live bool) error {
	w := a.win
	if w.events == 0 && w.ack == nil && len(w.dirty) == 0 && a.applied == a.checkpoint {
		return nil
	}
	start := time.Now()
	if err := a.writeDirty(ctx); err != nil {
		a.rollback(err)
		return err
	}
	if err := waitAll(ctx, w.dlq); err != nil {
		err = fmt.Errorf("dead-letter: %w", err)
		a.rollback(err)
		return err
	}
	// The documents are in the bucket: readers see them from now on.
	for i := range w.observed {
		a.opts.observe(&w.observed[i].ev, w.observed[i].captured)
	}
	w.observed = nil
	a.written.Store(a.applied)
	save := a.applied > a.checkpoint && (!live || a.opts.now().Sub(a.savedAt) >= a.opts.checkpointEvery)
	if save {
		if err := a.saveCheckpoint(ctx, a.applied); err != nil {
			a.rollback(err)
			return err
		}
	}
	a.metrics.WriteSeconds.Observe(time.Since(start).Seconds())
	a.metrics.DeadLettered.Add(float64(len(w.dlq)))
	for _, s := range w.spans {
		s.End()
	}
	a.win = newWindow()
	switch {
	case w.ack == nil:
	case w.ackSeq > a.checkpoint:
		// Not saved yet (checkpoint deferred, or rolled back before it
		// was applied again): acked by a later flush.
		a.win.ack, a.win.ackSeq = w.ack, w.ackSeq
	default:
		if err := w.ack.Ack(); err != nil {
			// Redelivery is harmless: the events are at or below the
			// checkpoint and will be skipped.
			a.log.Debug("ack", "seq", w.ackSeq, "err", err)
		}
	}
	return nil
}

// saveCheckpoint records seq as the checkpoint, with the identity of the
// stream it counts in.
func (a *applier) saveCheckpoint(ctx context.Context, seq uint64) error {
	if err := a.store.SaveCheckpoint(ctx, checkpoint{seq: seq, stream: a.stream}); err != nil {
		return err
	}
	a.checkpoint, a.savedAt = seq, a.opts.now()
	a.written.Store(seq)
	a.metrics.Checkpoint.Set(float64(seq))
	return nil
}

// writeDirty writes the window's documents in parallel and waits for every
// confirmation, caching the new versions. At most writeChunk documents
// are in flight at once, which bounds the memory a flush adds to the
// window's, whatever the number of documents. They are sent in key order,
// so that a flush does the same steps each time it is repeated.
func (a *applier) writeDirty(ctx context.Context) error {
	docs := make([]*dirtyDoc, 0, len(a.win.dirty))
	for _, d := range a.win.dirty {
		docs = append(docs, d)
	}
	slices.SortFunc(docs, func(x, y *dirtyDoc) int { return strings.Compare(x.next.key, y.next.key) })
	for len(docs) > 0 {
		n := min(len(docs), writeChunk)
		if err := a.writeDocs(ctx, docs[:n]); err != nil {
			return err
		}
		docs = docs[n:]
	}
	return nil
}

// writeChunk bounds the documents a flush has in flight.
const writeChunk = 2048

// docWrite is one document's write in a flush.
type docWrite struct {
	d       *dirtyDoc
	pending pendingWrite
	span    trace.Span
	err     error
}

// writeDocs sends the writes of docs from the workers and waits for their
// confirmations.
func (a *applier) writeDocs(ctx context.Context, docs []*dirtyDoc) error {
	writes := make([]docWrite, len(docs))
	for i, d := range docs {
		writes[i].d = d
	}
	var wg sync.WaitGroup
	chunk := max((len(writes)+a.opts.workers-1)/a.opts.workers, 1)
	for lo := 0; lo < len(writes); lo += chunk {
		part := writes[lo:min(lo+chunk, len(writes))]
		wg.Go(func() {
			for i := range part {
				w := &part[i]
				w.span = startWriteSpan(a.opts.tracer, a.win.traces, w.d.next.key, w.d.seqs)
				if a.snaps != nil {
					// The snapshots reuse the bytes written.
					if w.err = w.d.next.keepEncoded(); w.err != nil {
						continue
					}
				}
				w.pending, w.err = a.store.Write(w.d.next, w.d.base)
			}
		})
	}
	wg.Wait()
	var first error
	for i := range writes {
		w := &writes[i]
		err := w.err
		if err == nil {
			err = a.confirm(ctx, w.d, w.pending)
		}
		endSpan(w.span, err)
		if err != nil && first == nil {
			if isRevisionMismatch(err) {
				a.metrics.Conflicts.Inc()
			}
			first = fmt.Errorf("write %s: %w", w.d.next.key, err)
		}
	}
	return first
}

// confirm waits for a write's confirmation and caches the new version.
func (a *applier) confirm(ctx context.Context, d *dirtyDoc, pw pendingWrite) error {
	rev, err := pw.wait(ctx)
	if err != nil {
		return err
	}
	d.next.rev = rev
	a.cache.remember(d.next)
	a.metrics.Writes.Inc()
	a.metrics.Applied.Add(float64(d.events))
	return nil
}

func waitAll(ctx context.Context, writes []pendingWrite) error {
	for _, w := range writes {
		if _, err := w.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// writeState makes the store hold docs at upTo, counted in stream: it
// writes, like any flush, each document of docs whose stored version
// (current) differs, and saves the checkpoint. A key of current that docs
// lacks is left as it is.
func (a *applier) writeState(ctx context.Context, docs, current map[string]*document, upTo uint64, stream string) error {
	prevStream := a.stream
	a.stream = stream
	a.win = newWindow()
	a.win.started = a.opts.now()
	for key, next := range docs {
		base, ok := current[key]
		if !ok {
			base = &document{key: key}
		}
		if sameDocument(base, next, upTo) {
			continue
		}
		n := *next
		a.win.dirty[key] = &dirtyDoc{base: base, next: &n}
	}
	a.applied = upTo
	err := a.flush(ctx)
	if err == nil && a.checkpoint != upTo {
		err = a.saveCheckpoint(ctx, upTo)
	}
	if err != nil {
		// Until the checkpoint records the new stream, the next attempt
		// must see the state as built from the old one.
		a.stream = prevStream
		return err
	}
	a.applied = upTo
	a.resets++
	return nil
}
