package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"latticestate/projections"
	"latticestate/streams"
)

// item is one captured event on its way through a batch.
type item struct {
	seq uint64
	// delivery is the consumer's delivery sequence; 0 for events read
	// straight from the stream.
	delivery uint64
	subject  string
	data     []byte
	captured time.Time
	// msg is nil for events read directly from the stream to fill a gap.
	msg jetstream.Msg
	// traceCtx and span trace the event when tracing is on.
	traceCtx context.Context
	span     trace.Span

	ev  projections.Event
	key string
	err error
}

// applyItems decodes, folds and writes items (in stream order, all above
// p.high), dead-letters those that cannot be decoded, then records the
// checkpoint. On error nothing is acked and the caller retries: documents
// skip what they already hold.
func (p *Projector) applyItems(ctx context.Context, items []item) error {
	p.metrics.BatchSize.Observe(float64(len(items)))
	p.decode(items)
	if p.opts.tracer != nil {
		p.traces = make(map[uint64]context.Context, len(items))
		for i := range items {
			if items[i].span != nil {
				p.traces[items[i].seq] = items[i].traceCtx
			}
		}
		defer func() {
			for i := range items {
				if items[i].span != nil {
					items[i].span.End()
				}
			}
		}()
	}

	groups := map[string][]*projections.Event{}
	var keys []string
	var dead []*item
	for i := range items {
		it := &items[i]
		switch {
		case it.err != nil:
			dead = append(dead, it)
		case it.key == "":
			p.metrics.Ignored.Inc()
		default:
			if _, ok := groups[it.key]; !ok {
				keys = append(keys, it.key)
			}
			groups[it.key] = append(groups[it.key], &it.ev)
		}
	}
	dlq, err := p.deadLetter(dead)
	if err != nil {
		return err
	}
	start := time.Now()
	intents, err := p.writeGroups(ctx, keys, groups)
	if err != nil {
		return err
	}
	if err := waitAll(ctx, dlq); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	if err := p.saveCheckpoint(ctx, items[len(items)-1].seq); err != nil {
		return err
	}
	p.metrics.WriteSeconds.Observe(time.Since(start).Seconds())
	p.metrics.DeadLettered.Add(float64(len(dead)))
	if p.opts.observe != nil {
		for i := range items {
			if items[i].key != "" {
				p.opts.observe(&items[i].ev, items[i].captured)
			}
		}
	}
	p.holdIntents(items, intents)
	return nil
}

// decode decodes items in parallel; each gets its event and document key,
// or the reason it was rejected.
func (p *Projector) decode(items []item) {
	decodeOne := func(it *item) {
		lattice, err := streams.LatticeOf(it.subject)
		if err != nil {
			it.err = &projections.DecodeError{Category: projections.ErrEnvelope, Reason: err.Error()}
			return
		}
		ev, err := projections.Decode(it.data)
		if err != nil {
			it.err = err
			return
		}
		ev.Seq, ev.Lattice = it.seq, lattice
		it.ev = ev
		it.key = docKey(lattice, ev.Target())
	}
	if p.opts.tracer != nil {
		inner := decodeOne
		decodeOne = func(it *item) {
			inner(it)
			p.traceDecode(it)
		}
	}
	workers := p.opts.workers
	if len(items) < 64 || workers == 1 {
		for i := range items {
			decodeOne(&items[i])
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(items) + workers - 1) / workers
	for w := 0; w < len(items); w += chunk {
		part := items[w:min(w+chunk, len(items))]
		wg.Go(func() {
			for i := range part {
				decodeOne(&part[i])
			}
		})
	}
	wg.Wait()
}

// deadLetter publishes rejected events to the dead-letter stream with the
// reason, the original subject and stream sequence. The message id makes a
// retried batch store each dead letter once.
func (p *Projector) deadLetter(dead []*item) ([]jetstream.PubAckFuture, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(dead))
	for _, it := range dead {
		lattice, _ := streams.LatticeOf(it.subject)
		m := nats.NewMsg(streams.DLQSubject(lattice))
		m.Data = it.data
		m.Header.Set(streams.HeaderDLQReason, it.err.Error())
		m.Header.Set(streams.HeaderDLQSubject, it.subject)
		m.Header.Set(streams.HeaderDLQStreamSeq, strconv.FormatUint(it.seq, 10))
		category := "other"
		var de *projections.DecodeError
		if errors.As(it.err, &de) {
			category = categoryName(de.Category)
		}
		p.metrics.Rejected.WithLabelValues(category).Inc()
		p.log.Warn("event rejected", "seq", it.seq, "subject", it.subject, "reason", it.err.Error())
		f, err := p.js.PublishMsgAsync(m, jetstream.WithMsgID("dlq-"+strconv.FormatUint(it.seq, 10)))
		if err != nil {
			return nil, fmt.Errorf("dead-letter seq %d: %w", it.seq, err)
		}
		futures = append(futures, f)
	}
	return futures, nil
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
	}
	return "other"
}

// pendingWrite is a document write waiting for its acknowledgement.
type pendingWrite struct {
	next, prev *document
	events     []*projections.Event
	future     jetstream.PubAckFuture
	span       trace.Span
}

// writeGroups folds each key's events into its document and writes every
// changed document once, in parallel; a compare-and-set conflict reloads
// the document and folds again.
func (p *Projector) writeGroups(ctx context.Context, keys []string, groups map[string][]*projections.Event) ([]projections.Intent, error) {
	results := make([]keyResult, len(keys))
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(p.opts.workers*2, max(len(keys), 1)) {
		wg.Go(func() {
			for i := range work {
				results[i] = p.foldKey(ctx, keys[i], groups[keys[i]])
			}
		})
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()

	var intents []projections.Intent
	for i := range results {
		r := &results[i]
		if r.err == nil && r.write != nil {
			r.err = p.confirm(ctx, r.write)
			if isRevisionMismatch(r.err) {
				p.metrics.Conflicts.Inc()
				r.intents, r.err = p.refold(ctx, keys[i], groups[keys[i]])
			}
		}
		if r.err != nil {
			p.store.forget(keys[i])
			return nil, r.err
		}
		intents = append(intents, r.intents...)
	}
	return intents, nil
}

type keyResult struct {
	write   *pendingWrite
	intents []projections.Intent
	err     error
}

// foldKey loads a document, folds events into it and starts its write.
func (p *Projector) foldKey(ctx context.Context, key string, events []*projections.Event) keyResult {
	prev, err := p.store.load(ctx, key)
	if err != nil {
		return keyResult{err: err}
	}
	next, intents, changed := foldDocument(prev, events)
	if !changed {
		return keyResult{}
	}
	var span trace.Span
	if p.opts.tracer != nil {
		seqs := make([]uint64, len(events))
		for i, ev := range events {
			seqs[i] = ev.Seq
		}
		span = p.startWriteSpan(key, seqs)
	}
	f, err := p.store.write(next, prev)
	if err != nil {
		endSpan(span, err)
		return keyResult{err: fmt.Errorf("write %s: %w", key, err)}
	}
	return keyResult{write: &pendingWrite{next: next, prev: prev, events: events, future: f, span: span}, intents: intents}
}

// foldDocument applies events to a copy of prev.
func foldDocument(prev *document, events []*projections.Event) (*document, []projections.Intent, bool) {
	next := *prev
	var intents []projections.Intent
	changed := false
	for _, ev := range events {
		in, applied := next.apply(ev)
		if applied {
			changed = true
			intents = append(intents, in...)
		}
	}
	return &next, intents, changed
}

// confirm waits for a write's acknowledgement and caches the new version.
func (p *Projector) confirm(ctx context.Context, w *pendingWrite) (err error) {
	defer func() { endSpan(w.span, err) }()
	select {
	case ack := <-w.future.Ok():
		w.next.rev = ack.Sequence
		p.store.remember(w.next)
		p.metrics.Writes.Inc()
		p.metrics.Applied.Add(float64(len(w.events)))
		return nil
	case err := <-w.future.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refold retries one key after a conflict: reload from the server, fold,
// write synchronously, a few times.
func (p *Projector) refold(ctx context.Context, key string, events []*projections.Event) ([]projections.Intent, error) {
	var err error
	for range 5 {
		p.store.forget(key)
		r := p.foldKey(ctx, key, events)
		if r.err != nil || r.write == nil {
			return r.intents, r.err
		}
		if err = p.confirm(ctx, r.write); err == nil {
			return r.intents, nil
		}
		if !isRevisionMismatch(err) {
			return nil, err
		}
		p.metrics.Conflicts.Inc()
	}
	return nil, fmt.Errorf("write %s: still conflicting after retries: %w", key, err)
}

func waitAll(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
