package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	// pending is the number of the consumer's events not yet delivered
	// after this one.
	pending  uint64
	subject  string
	data     []byte
	captured time.Time
	// msg is nil for events read directly from the stream to fill a gap.
	msg jetstream.Msg
	// traceCtx and span trace the event when tracing is on.
	traceCtx context.Context
	span     trace.Span

	// decoded is set once ev, key or err hold the decode's outcome.
	decoded bool
	ev      projections.Event
	key     string
	err     error
}

// applyItems decodes items (in stream order, all above p.high), folds them
// into the documents of the open window and dead-letters those that cannot
// be decoded. Nothing is written: flush writes the window. On error the
// caller rolls the window back. Items are applied in runs that end at the
// snapshot boundaries, and the snapshots due are taken between runs.
func (p *Projector) applyItems(ctx context.Context, items []item) error {
	for len(items) > 0 {
		n := len(items)
		if s := p.snaps; s != nil {
			if b := s.due(p.high, items[0].seq); b > 0 {
				p.takeSnapshots(ctx, b)
			}
			end := s.next(items[0].seq)
			n = sort.Search(len(items), func(i int) bool { return items[i].seq > end })
		}
		if err := p.applyRun(ctx, items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// applyRun is applyItems for a run that crosses no snapshot boundary.
func (p *Projector) applyRun(ctx context.Context, items []item) error {
	if len(items) == 0 {
		return nil
	}
	p.metrics.BatchSize.Observe(float64(len(items)))
	p.decode(items)
	w := p.win
	if w.events == 0 {
		w.started = time.Now()
	}
	if p.opts.tracer != nil {
		for i := range items {
			if items[i].span != nil {
				w.traces[items[i].seq] = items[i].traceCtx
				w.spans = append(w.spans, items[i].span)
			}
		}
	}

	g := &p.groups
	defer g.reset()
	var dead []*item
	for i := range items {
		it := &items[i]
		switch {
		case it.err != nil:
			dead = append(dead, it)
		case it.key == "":
			p.metrics.Ignored.Inc()
		default:
			g.add(it.key, &it.ev)
		}
	}
	if err := p.deadLetter(dead); err != nil {
		return err
	}
	intents, err := p.foldGroups(ctx, g)
	if err != nil {
		return err
	}
	last := &items[len(items)-1]
	p.high, p.highTime = last.seq, last.captured
	w.events += len(items)
	if p.snaps != nil {
		for i := range items {
			if items[i].key != "" {
				p.snaps.applied(items[i].ev.Lattice, items[i].seq)
			}
		}
	}
	if p.opts.observe != nil {
		for i := range items {
			if items[i].key != "" {
				ev := items[i].ev
				ev.Data = nil
				w.observed = append(w.observed, observed{ev: ev, captured: items[i].captured})
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
		if it.decoded {
			return
		}
		it.decoded = true
		it.ev, it.key, it.err = decodeEvent(p.opts.decoder, it.seq, it.subject, it.data)
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
func (p *Projector) deadLetter(dead []*item) error {
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
			return fmt.Errorf("dead-letter seq %d: %w", it.seq, err)
		}
		p.win.dlq = append(p.win.dlq, f)
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

// foldGroups folds each key's events into its document, in parallel:
// the window's version when it has one, else the last written one. It
// returns the intents raised.
func (p *Projector) foldGroups(ctx context.Context, g *grouping) ([]projections.Intent, error) {
	keys := g.keys
	type result struct {
		base, next *document
		intents    []projections.Intent
		changed    bool
		err        error
	}
	results := make([]result, len(keys))
	fold := func(i int) {
		r := &results[i]
		var prev *document
		if d, ok := p.win.dirty[keys[i]]; ok {
			r.base, prev = d.base, d.next
		} else if prev, r.err = p.store.load(ctx, keys[i]); r.err != nil {
			return
		} else {
			r.base = prev
		}
		r.next, r.intents, r.changed = foldDocument(prev, g.events[i])
	}
	if len(keys) < 64 || p.opts.workers == 1 {
		for i := range keys {
			fold(i)
		}
	} else {
		var wg sync.WaitGroup
		work := make(chan int)
		for range p.opts.workers * 2 {
			wg.Go(func() {
				for i := range work {
					fold(i)
				}
			})
		}
		for i := range keys {
			work <- i
		}
		close(work)
		wg.Wait()
	}

	var intents []projections.Intent
	for i := range results {
		r := &results[i]
		if r.err != nil {
			return nil, r.err
		}
		intents = append(intents, r.intents...)
		if !r.changed {
			continue
		}
		events := g.events[i]
		d, ok := p.win.dirty[keys[i]]
		if !ok {
			d = &dirtyDoc{base: r.base}
			p.win.dirty[keys[i]] = d
		}
		d.next = r.next
		d.events += len(events)
		if p.opts.tracer != nil {
			for _, ev := range events {
				d.seqs = append(d.seqs, ev.Seq)
			}
		}
	}
	return intents, nil
}

// grouping is a batch's events grouped by document key, in stream order
// within each key. A projector keeps one and reuses its map and slices
// from batch to batch.
type grouping struct {
	index map[string]int
	// keys in order of first appearance; events[i] are those of keys[i].
	// events may be longer than keys: the slices past len(keys) are kept
	// for later batches.
	keys   []string
	events [][]*projections.Event
}

// keptPerKey bounds the events a reused slice of a grouping holds.
const keptPerKey = 64

func (g *grouping) add(key string, ev *projections.Event) {
	i, ok := g.index[key]
	if !ok {
		if g.index == nil {
			g.index = map[string]int{}
		}
		i = len(g.keys)
		g.index[key] = i
		g.keys = append(g.keys, key)
		if i == len(g.events) {
			g.events = append(g.events, nil)
		}
	}
	g.events[i] = append(g.events[i], ev)
}

// reset empties g, keeping its memory, and lets go of the events. Slices
// grown past keptPerKey are dropped, so that what g keeps stays within a
// batch's worth of keys times keptPerKey, whatever batches came before.
func (g *grouping) reset() {
	clear(g.index)
	for i := range g.keys {
		if cap(g.events[i]) > keptPerKey {
			g.events[i] = nil
			continue
		}
		clear(g.events[i])
		g.events[i] = g.events[i][:0]
	}
	clear(g.keys)
	g.keys = g.keys[:0]
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
