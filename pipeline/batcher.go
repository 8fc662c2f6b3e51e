package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// batcher feeds the applier from the durable consumer: it gathers
// deliveries into batches, decodes them ahead, drops what is already
// applied, puts redeliveries back in stream order, fills gaps of events
// that were delivered but never received from the stream itself, and has
// the window flushed when due, re-applying from the checkpoint after a
// failure. It releases the held intents once the consumer has nothing
// left.
type batcher struct {
	applier *applier
	// follower says whether the stream or the state bucket changed.
	follower *rebuilder
	js       jetstream.JetStream
	// res holds the event stream that gaps are read from.
	res     *streams.Resources
	filters []string
	opts    options
	metrics *Metrics
	log     *slog.Logger

	mu   sync.Mutex
	cons jetstream.Consumer
	// guard keeps cons as the projector set it; progress measures the
	// lag. Both are used on the leader's goroutine.
	guard    *consumerGuard
	progress *progress

	// lastDelivery is the consumer's delivery sequence of the last event
	// applied, valid while the applier's resets are deliveryResets; 0
	// after the deliveries were opened again.
	lastDelivery   uint64
	deliveryResets uint64
	// consumeErrs logs what the client reports while consuming.
	consumeErrs *consumeErrors
	// spare holds batches' event slices, handed back once applied, for
	// gather to fill again: a batch of events is about 1.6 MB.
	spare chan []capturedEvent
}

// spareBatches is how many event slices consume has in use at most: one
// being gathered, one waiting to be applied, one being applied. The spare
// channel holds them all, so none is dropped when consume goes idle and
// none allocated again when it is busy: at the head of a steady stream,
// with two, a new slice was allocated and one dropped about 20 times a
// second.
const spareBatches = 3

// consumer returns the consumer pulled from.
func (b *batcher) consumer() jetstream.Consumer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cons
}

// setConsumer makes c the consumer pulled from, when it was created again.
func (b *batcher) setConsumer(c jetstream.Consumer) {
	b.mu.Lock()
	b.cons = c
	b.mu.Unlock()
	b.guard.reseat(c)
}

// Reasons consume ends with for the leader to act on.
var (
	// errDeliveriesEnded: the client stopped consuming for good.
	errDeliveriesEnded = errors.New("consumer deliveries ended")
	// errPullLost: the consumer has events for the projector but no pull
	// request of it.
	errPullLost = errors.New("pull request lost")
)

// consume processes batches from d until ctx is cancelled or the
// deliveries end, and stops d. A second goroutine gathers and decodes the
// next batch while one is folded and written, and hands it over as soon
// as consume waits for it: a batch waits for more deliveries only while
// the one before is still being written.
func (b *batcher) consume(ctx context.Context, d *deliveries) error {
	b.lastDelivery = 0
	batches := make(chan gathered, 1)
	// waiting holds a token while consume waits for a batch.
	waiting := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { b.gather(d, batches, waiting, stop) })
	defer func() {
		close(stop)
		d.stop()
		wg.Wait()
	}()
	idleSince := time.Now()
	// checkpoint fires when the checkpoint a live flush left unsaved is
	// due and no batch came to save it.
	checkpoint := time.NewTimer(time.Hour)
	defer checkpoint.Stop()
	for {
		var due <-chan time.Time
		if at, ok := b.applier.checkpointDue(); ok {
			checkpoint.Reset(time.Until(at))
			due = checkpoint.C
		}
		g, ok := nextBatch(ctx, batches, waiting, due)
		if !ok {
			return nil
		}
		if g.err != nil {
			return g.err
		}
		if g.due {
			if err := b.writeWindow(ctx, false); err != nil && ctx.Err() == nil {
				return err
			}
			continue
		}
		if g.events == nil {
			check := time.Since(idleSince) >= pullCheckAfter
			if check {
				idleSince = time.Now()
			}
			if err := b.idle(ctx, check); err != nil {
				return err
			}
			continue
		}
		idleSince = time.Now()
		// The batch in flight is finished even when ctx is cancelled now,
		// within shutdownGrace.
		bctx, cancel := graceContext(ctx, shutdownGrace)
		err := b.applyBatch(bctx, g.events, func() uint64 { return uint64(len(d.msgs) + len(batches)) })
		cancel()
		if err != nil {
			return err
		}
		b.recycle(g.events)
		if ctx.Err() != nil {
			return nil
		}
		if b.guard.shouldCheck(time.Now()) {
			if err := b.guardConsumer(ctx); err != nil {
				return err
			}
		}
	}
}

// nextBatch returns the next gathered batch, telling gather through
// waiting that consume waits for it when none is ready; false when ctx
// ends first. When due fires first, it returns a gathered that says so.
func nextBatch(ctx context.Context, batches <-chan gathered, waiting chan struct{}, due <-chan time.Time) (gathered, bool) {
	select {
	case g := <-batches:
		return g, true
	default:
	}
	select {
	case waiting <- struct{}{}:
	default:
	}
	defer func() {
		// The token gather did not take: consume is busy again.
		select {
		case <-waiting:
		default:
		}
	}()
	select {
	case g := <-batches:
		return g, true
	case <-due:
		return gathered{due: true}, true
	case <-ctx.Done():
		return gathered{}, false
	}
}

// idle writes what the window holds while nothing is delivered, and, with
// check, makes sure that the stream is the one followed, that the consumer
// is as the projector set it and that the pull request is still where the
// events are.
func (b *batcher) idle(ctx context.Context, check bool) error {
	if b.applier.flushDue(0) {
		if err := b.writeWindow(ctx, false); err != nil && ctx.Err() == nil {
			return err
		}
	}
	b.releaseIfCaughtUp(ctx)
	if !check {
		return nil
	}
	if b.follower.streamChanged(ctx) {
		return errFollow
	}
	if err := b.guardConsumer(ctx); err != nil {
		return err
	}
	b.fillUndelivered(ctx)
	if b.pullLost(ctx) {
		return errPullLost
	}
	return nil
}

// applyBatch folds a delivered batch into the window, and flushes the
// window when it is due (see applier.flushDue), which acks the batch;
// waiting counts the deliveries received and not yet taken.
// Failures are retried from the checkpoint until they succeed or ctx
// ends; what is not acked is redelivered.
func (b *batcher) applyBatch(ctx context.Context, batch []capturedEvent, waiting func() uint64) error {
	a := b.applier
	var lastSeq, pending uint64
	// The events to apply are filtered in place: batch is not read again.
	// Events are large, so they are moved only when one is dropped.
	events := batch[:0]
	for i := range batch {
		e := &batch[i]
		a.track(e.msg, e.seq)
		if e.seq >= lastSeq {
			lastSeq, pending = e.seq, e.pending
		}
		if e.seq <= a.applied {
			b.metrics.Skipped.Inc()
			continue
		}
		if len(events) != i {
			batch[len(events)] = *e
		}
		events = batch[:len(events)+1]
		last := &events[len(events)-1]
		startEventSpan(b.opts.tracer, last, last.msg.Headers())
	}
	if !ascending(events) {
		events = inStreamOrder(events)
	}
	backoff := newBackoff()
	err := b.applyDelivered(ctx, events)
	for err != nil {
		a.rollback(err)
		b.log.Warn("batch not applied, applying again from the checkpoint", "err", err, "checkpoint", a.checkpoint)
		if !backoff.wait(ctx) {
			return fmt.Errorf("batch abandoned at shutdown: %w", err)
		}
		if b.follower.stateGone(ctx) {
			return errFollow
		}
		err = b.fillGap(ctx, lastSeq+1)
	}
	if a.flushDue(pending + waiting()) {
		if err := b.writeWindow(ctx, true); err != nil {
			return fmt.Errorf("batch abandoned at shutdown: %w", err)
		}
	}
	if pending == 0 && a.win.events == 0 {
		a.releaseIntents(ctx, b.opts.onIntents)
	}
	return nil
}

// inStreamOrder sorts redelivered events into stream order and drops
// duplicates.
func inStreamOrder(events []capturedEvent) []capturedEvent {
	slices.SortStableFunc(events, func(a, b capturedEvent) int { return compareSeq(a.seq, b.seq) })
	return slices.CompactFunc(events, func(a, b capturedEvent) bool {
		if a.seq == b.seq {
			if b.span != nil {
				b.span.End()
			}
			return true
		}
		return false
	})
}

// applyDelivered applies events in stream order, first filling every gap
// of events that were delivered but never received: a delivery lost when
// the process crashed, or dropped by the client on a slow or broken
// connection, is redelivered by the server only after the ack wait, later
// than newer events, and acking a later event acks it too. A jump in
// stream sequence is checked against the stream unless the consumer's
// delivery sequence shows nothing was lost (a filtered consumer skips
// other lattices).
func (b *batcher) applyDelivered(ctx context.Context, events []capturedEvent) error {
	a := b.applier
	// The events to apply are compacted in place into events[:n]; those in
	// events[start:n] are not applied yet.
	start, n := 0, 0
	applyHeld := func() error {
		for start < n {
			end := min(n, start+b.opts.batchSize)
			if err := a.apply(ctx, events[start:end]); err != nil {
				return err
			}
			start = end
		}
		return nil
	}
	prevSeq, prevDelivery := a.applied, b.lastDelivery
	if b.deliveryResets != a.resets {
		prevDelivery = 0
	}
	for i := range events {
		seq, delivery := events[i].seq, events[i].delivery
		jump := seq != prevSeq+1
		lostDelivery := len(b.filters) == 0 || prevDelivery == 0 || delivery != prevDelivery+1
		if jump && lostDelivery {
			if err := applyHeld(); err != nil {
				return err
			}
			if err := b.fillGap(ctx, seq); err != nil {
				return err
			}
		}
		prevSeq, prevDelivery = seq, delivery
		// The gap fill may have applied it already.
		if seq > a.applied && (n == start || seq > events[n-1].seq) {
			if n != i {
				events[n] = events[i]
			}
			n++
		}
	}
	if err := applyHeld(); err != nil {
		return err
	}
	b.lastDelivery, b.deliveryResets = prevDelivery, a.resets
	return nil
}

// writeWindow flushes the window (see applier.write for live); after a
// failure it applies the window's events again from the checkpoint and
// retries, until it succeeds or ctx ends.
func (b *batcher) writeWindow(ctx context.Context, live bool) error {
	a := b.applier
	backoff := newBackoff()
	for {
		err := a.write(ctx, live)
		if err == nil {
			return nil
		}
		b.log.Warn("window not written, applying it again from the checkpoint", "err", err, "checkpoint", a.checkpoint)
		if !backoff.wait(ctx) {
			return err
		}
		if b.follower.stateGone(ctx) {
			a.rollback(errFollow)
			return errFollow
		}
		if err := b.fillGap(ctx, a.win.ackSeq+1); err != nil {
			a.rollback(err)
		}
	}
}

// releaseIfCaughtUp releases the held intents when every event of the
// projector's subjects in the stream is applied and written: the last
// batch need not have been the one that said so (its delivery raced a
// leader change, or it was redelivered). It is measured on the stream,
// not on the consumer, which counts the deliveries of a projector that
// crashed as pending until their ack wait ends.
func (b *batcher) releaseIfCaughtUp(ctx context.Context) {
	a := b.applier
	if !a.intents.waiting() || a.win.events > 0 {
		return
	}
	if last, err := b.progress.last(ctx); err == nil && last <= a.applied {
		a.releaseIntents(ctx, b.opts.onIntents)
	}
}
