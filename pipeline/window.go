package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	dlq     []jetstream.PubAckFuture
	// observed is kept only when there is an observer.
	observed []observed
	// spans and traces are kept only when tracing.
	spans  []trace.Span
	traces map[uint64]context.Context
	// ack is the highest delivered message, acked by the next flush: the
	// consumer acks all, so it acknowledges every event below it.
	ack    jetstream.Msg
	ackSeq uint64
}

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
func (w *window) track(m jetstream.Msg, seq uint64) {
	if w.ack == nil || seq >= w.ackSeq {
		w.ack, w.ackSeq = m, seq
	}
}

// due reports whether the window should be flushed now: the projector is
// near the head of the stream (pending events not delivered yet), or the
// window has reached its size or age limit.
func (p *Projector) due(pending uint64) bool {
	w := p.win
	if w.events == 0 && w.ack == nil {
		return false
	}
	return pending < uint64(p.opts.batchSize) ||
		w.events >= p.opts.flushEvents ||
		time.Since(w.started) >= flushAge
}

// flushAge bounds the age of a window, well inside the consumer's ack wait
// (deliveries wait in the client's buffer before they join a window).
const flushAge = 5 * time.Second

// flush writes every changed document of the window once, with a
// compare-and-set against the version it was folded from, waits for the
// dead letters, records the checkpoint and then acks the highest delivered
// message. On error the window is rolled back: the caller applies the
// events again from the checkpoint, and documents skip what they already
// hold.
func (p *Projector) flush(ctx context.Context) error {
	w := p.win
	if w.events == 0 && w.ack == nil && len(w.dirty) == 0 {
		return nil
	}
	start := time.Now()
	if err := p.writeDirty(ctx); err != nil {
		p.rollback(err)
		return err
	}
	if err := waitAll(ctx, w.dlq); err != nil {
		err = fmt.Errorf("dead-letter: %w", err)
		p.rollback(err)
		return err
	}
	if p.high > p.flushed {
		if err := p.saveCheckpoint(ctx, p.high); err != nil {
			p.rollback(err)
			return err
		}
	}
	p.metrics.WriteSeconds.Observe(time.Since(start).Seconds())
	p.metrics.DeadLettered.Add(float64(len(w.dlq)))
	for i := range w.observed {
		p.opts.observe(&w.observed[i].ev, w.observed[i].captured)
	}
	for _, s := range w.spans {
		s.End()
	}
	p.win = newWindow()
	switch {
	case w.ack == nil:
	case w.ackSeq > p.high:
		// Rolled back before it was applied again: acked by a later flush.
		p.win.ack, p.win.ackSeq = w.ack, w.ackSeq
	default:
		if err := w.ack.Ack(); err != nil {
			// Redelivery is harmless: the events are at or below the
			// checkpoint and will be skipped.
			p.log.Debug("ack", "seq", w.ackSeq, "err", err)
		}
	}
	return nil
}

// settle flushes the window; after a failure it applies the window's
// events again from the checkpoint and retries, until it succeeds or ctx
// ends.
func (p *Projector) settle(ctx context.Context) error {
	backoff := newBackoff()
	for {
		err := p.flush(ctx)
		if err == nil {
			return nil
		}
		p.log.Warn("window not written, applying it again from the checkpoint", "err", err, "checkpoint", p.flushed)
		if !backoff.wait(ctx) {
			return err
		}
		if p.stateGone(ctx) {
			p.rollback(errFollow)
			return errFollow
		}
		if err := p.fillGap(ctx, p.win.ackSeq+1); err != nil {
			p.rollback(err)
		}
	}
}

// writeDirty writes the window's documents in parallel and waits for every
// acknowledgement, caching the new versions. At most writeChunk documents
// are in flight at once, which bounds the memory a flush adds to the
// window's, whatever the number of documents.
func (p *Projector) writeDirty(ctx context.Context) error {
	docs := make([]*dirtyDoc, 0, len(p.win.dirty))
	for _, d := range p.win.dirty {
		docs = append(docs, d)
	}
	for len(docs) > 0 {
		n := min(len(docs), writeChunk)
		if err := p.writeDocs(ctx, docs[:n]); err != nil {
			return err
		}
		docs = docs[n:]
	}
	return nil
}

// writeChunk bounds the documents a flush has in flight.
const writeChunk = 2048

// writeDocs writes docs in parallel and waits for their acknowledgements.
func (p *Projector) writeDocs(ctx context.Context, docs []*dirtyDoc) error {
	type write struct {
		d      *dirtyDoc
		future jetstream.PubAckFuture
		span   trace.Span
		err    error
	}
	writes := make([]write, len(docs))
	for i, d := range docs {
		writes[i].d = d
	}
	var wg sync.WaitGroup
	chunk := max((len(writes)+p.opts.workers-1)/p.opts.workers, 1)
	for lo := 0; lo < len(writes); lo += chunk {
		part := writes[lo:min(lo+chunk, len(writes))]
		wg.Go(func() {
			for i := range part {
				w := &part[i]
				w.span = p.startWriteSpan(w.d.next.key, w.d.seqs)
				w.future, w.err = p.store.write(w.d.next, w.d.base)
			}
		})
	}
	wg.Wait()
	var first error
	for i := range writes {
		w := &writes[i]
		err := w.err
		if err == nil {
			err = p.confirm(ctx, w.d, w.future)
		}
		endSpan(w.span, err)
		if err != nil && first == nil {
			if isRevisionMismatch(err) {
				p.metrics.Conflicts.Inc()
			}
			first = fmt.Errorf("write %s: %w", w.d.next.key, err)
		}
	}
	return first
}

// confirm waits for a write's acknowledgement and caches the new version.
func (p *Projector) confirm(ctx context.Context, d *dirtyDoc, f jetstream.PubAckFuture) error {
	select {
	case ack := <-f.Ok():
		d.next.rev = ack.Sequence
		p.store.remember(d.next)
		p.metrics.Writes.Inc()
		p.metrics.Applied.Add(float64(d.events))
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rollback drops the window after a failure: the projector is back at its
// checkpoint with nothing cached, and the delivered message stays unacked
// until the events are applied again.
func (p *Projector) rollback(err error) {
	w := p.win
	if w.events == 0 && len(w.dirty) == 0 && p.high == p.flushed {
		return
	}
	for _, s := range w.spans {
		endSpan(s, err)
	}
	p.win = newWindow()
	p.win.ack, p.win.ackSeq = w.ack, w.ackSeq
	p.high = p.flushed
	p.lastDelivery = 0
	p.store.reset()
}
