package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// Projector consumes the event stream and keeps the state bucket current.
type Projector struct {
	js       jetstream.JetStream
	res      *streams.Resources
	consumer jetstream.Consumer
	name     string
	filters  []string
	store    *store
	opts     options
	metrics  *Metrics
	log      *slog.Logger

	// high is the highest stream sequence applied: every event of this
	// consumer at or below it is folded, in the bucket or in the window.
	high uint64
	// flushed is the checkpoint: every event of this consumer at or below
	// it is in the bucket.
	flushed uint64
	// win holds what is folded but not yet written.
	win *window
	// intents raised but not yet handed over, by lattice.host (see
	// holdIntents).
	intents map[string]projections.Intent
	// lastDelivery is the consumer's delivery sequence of the last event
	// applied; 0 after the iterator was reopened.
	lastDelivery uint64
	// streamID is the identity (creation time) of the event stream the
	// state counts in, recorded with the checkpoint.
	streamID string
	// highTime is when the event at high was captured.
	highTime time.Time
	// snaps records snapshots; nil when they are off.
	snaps *snapshotter
	// lease makes this projector the one that pulls from the consumer;
	// nil without a meta bucket, when it always pulls.
	lease *lease
	// active is set while the lease is held; read by Status.
	active atomic.Bool
	// handedOver is set when the lease was handed over on request: the
	// bucket is rewritten meanwhile, so the cache is read again.
	handedOver atomic.Bool
	// groups groups a batch's events by document; reused.
	groups grouping
	// spare holds batches' item slices, handed back once applied, for
	// fetch to fill again: a batch of items is about 1.6 MB.
	spare chan []item
}

// New returns a Projector that feeds the events of res.Events into
// res.State through its durable consumer, which it creates or updates, and
// records snapshots in res.Snapshots (none when nil). Projectors of one
// consumer take turns through a lease in res.Meta; one made without
// res.Meta takes no lease: it always pulls.
// Options: WithLattice, WithBatchSize, WithFlushWindow, WithWorkers,
// WithLogger, WithMetrics, WithIntentHandler, WithObserver, WithTracer,
// WithStreamOptions, WithSnapshotEvery; an invalid option fails New.
func New(ctx context.Context, js jetstream.JetStream, res *streams.Resources, opts ...Option) (*Projector, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("pipeline option: %w", err)
		}
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(nil)
	}
	cons, err := streams.EnsureConsumer(ctx, res.Events, o.lattice, o.streamOptions)
	if err != nil {
		return nil, err
	}
	r := *res
	p := &Projector{
		js:       js,
		res:      &r,
		consumer: cons,
		name:     streams.ConsumerName(o.lattice),
		store:    newStore(js, res.StateStream, res.State.Bucket()),
		opts:     o,
		metrics:  o.metrics,
		log:      o.logger.With("consumer", streams.ConsumerName(o.lattice)),
		intents:  map[string]projections.Intent{},
		spare:    make(chan []item, 2),
		win:      newWindow(),
	}
	p.snaps = newSnapshotter(res.Snapshots, o.snapshotEvery, p.log, p.metrics)
	if res.Meta != nil {
		p.lease = newLease(res.Meta, p.name, p.log)
	}
	if o.lattice != "" {
		p.filters = streams.LatticeFilters(o.lattice)
	}
	return p, nil
}

// shutdownGrace bounds how long the batch in flight may take to finish after
// Run's context is cancelled.
const shutdownGrace = 30 * time.Second

// Run consumes until ctx is cancelled, then finishes the batch in flight
// (written and acked) and returns nil. It pulls only while it holds the
// consumer's lease, and stands by while another projector does. It
// returns an error only when it cannot start.
func (p *Projector) Run(ctx context.Context) error {
	if err := p.loadCheckpoint(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.dropLegacySwitch(ctx)
	p.warm(ctx)
	p.log.Info("projector started", "bucket", p.res.State.Bucket(), "checkpoint", p.high)
	for ctx.Err() == nil {
		p.lead(ctx)
	}
	if p.snaps != nil {
		p.snaps.wait()
	}
	p.log.Info("projector stopped", "checkpoint", p.flushed)
	return nil
}

// lead waits on standby until this projector holds the consumer's lease,
// then pulls until ctx ends or the lease is lost. When ctx ends, the
// window in flight is written and acked within shutdownGrace, still under
// the lease, and the lease is released for a standby to take over at once.
// When the lease is lost, the window is dropped: the new holder applies its
// events from the checkpoint.
func (p *Projector) lead(ctx context.Context) {
	if p.lease != nil {
		if err := p.lease.acquire(ctx); err != nil {
			return
		}
	}
	// held ends when the lease is lost or given up; renewals go on until
	// then, through the final flush.
	held, giveUp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	pulling, stopPulling := context.WithCancel(ctx)
	if p.lease != nil {
		// Asked to hand over (a replay), it stops pulling and ends as at
		// shutdown: the window written and the lease released.
		wg.Go(func() {
			p.lease.keep(held, giveUp, func() {
				p.handedOver.Store(true)
				stopPulling()
			})
		})
	}
	stopOnLoss := context.AfterFunc(held, stopPulling)
	p.active.Store(true)
	p.metrics.LeasesHeld.Inc()
	backoff := newBackoff()
	err := p.adopt(pulling)
	for err != nil && backoff.wait(pulling) {
		p.log.Warn("take over the consumer", "err", err)
		err = p.adopt(pulling)
	}
	if err == nil {
		p.pull(pulling)
	}
	p.active.Store(false)
	p.metrics.LeasesHeld.Dec()
	stopOnLoss()
	stopPulling()
	if held.Err() != nil {
		p.rollback(errLeaseLost)
		giveUp()
		wg.Wait()
		return
	}
	// The window in flight is written and acked within shutdownGrace.
	fctx, cancel := context.WithTimeout(held, shutdownGrace)
	if err := p.settle(fctx); err != nil {
		p.log.Warn("window not written at shutdown, it will be applied again", "err", err)
	}
	cancel()
	giveUp()
	wg.Wait()
	if p.lease != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		p.lease.release(rctx)
		cancel()
	}
}

// errLeaseLost drops the window of a projector whose lease another took
// over.
var errLeaseLost = errors.New("lease taken over by another projector")

// pullExpiry is how long a pull request waits at the consumer: a request
// lost with a consumer leader is soon replaced.
const pullExpiry = 2500 * time.Millisecond

// pull consumes from the durable consumer until ctx ends, starting over
// after failures.
func (p *Projector) pull(ctx context.Context) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		d, err := p.deliver()
		if err != nil {
			p.log.Warn("open consumer", "err", err)
			if !backoff.wait(ctx) {
				return
			}
			p.refollow(ctx)
			continue
		}
		p.lastDelivery = 0
		err = p.consume(ctx, d)
		if errors.Is(err, errPullLost) {
			continue
		}
		if errors.Is(err, errFollow) || errors.Is(err, errDeliveriesEnded) {
			p.refollow(ctx)
			continue
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("consume", "err", err)
			if !backoff.wait(ctx) {
				return
			}
		}
	}
}

// deliveries are what the consumer delivers to the projector, handed over
// by the client's callback: at most a batch waits in msgs, and the client
// pulls no more while it does.
type deliveries struct {
	cc   jetstream.ConsumeContext
	msgs chan jetstream.Msg
	// done ends the hand-over; closed is closed once the client has
	// stopped consuming, by stop or for good (the consumer was deleted,
	// the connection closed).
	done     chan struct{}
	closed   <-chan struct{}
	stopOnce sync.Once
}

// deliver starts consuming.
func (p *Projector) deliver() (*deliveries, error) {
	d := &deliveries{msgs: make(chan jetstream.Msg, p.opts.batchSize), done: make(chan struct{})}
	cc, err := p.consumer.Consume(func(m jetstream.Msg) {
		select {
		case d.msgs <- m:
		case <-d.done:
		}
	}, jetstream.PullMaxMessages(2*p.opts.batchSize), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { p.log.Debug("consume", "err", err) }))
	if err != nil {
		return nil, err
	}
	d.cc, d.closed = cc, cc.Closed()
	return d, nil
}

// stop ends consuming and waits until the client has; deliveries not taken
// are dropped unacked.
func (d *deliveries) stop() {
	d.stopOnce.Do(func() {
		close(d.done)
		d.cc.Stop()
		<-d.closed
	})
}

// errDeliveriesEnded ends consume when the client stopped consuming for
// good.
var errDeliveriesEnded = errors.New("consumer deliveries ended")

// consume processes batches from d until ctx is cancelled or the
// deliveries end, and stops d. A second goroutine gathers and decodes the
// next batch while one is folded and written.
func (p *Projector) consume(ctx context.Context, d *deliveries) error {
	batches := make(chan fetched, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { p.fetch(d, batches, stop) })
	defer func() {
		close(stop)
		d.stop()
		wg.Wait()
	}()
	idleSince := time.Now()
	for {
		var f fetched
		select {
		case f = <-batches:
		case <-ctx.Done():
			return nil
		}
		switch {
		case f.err != nil:
			return f.err
		case f.items == nil:
			// Idle: write what the window holds, and now and then check
			// that the pull request is still where the events are.
			if p.due(0) {
				if err := p.settle(ctx); err != nil && ctx.Err() == nil {
					return err
				}
			}
			p.releaseIfCaughtUp(ctx)
			if time.Since(idleSince) >= pullCheckAfter {
				idleSince = time.Now()
				if p.streamChanged(ctx) {
					return errFollow
				}
				if p.pullLost(ctx) {
					return errPullLost
				}
			}
			continue
		}
		idleSince = time.Now()
		// The batch in flight is finished even when ctx is cancelled now,
		// within shutdownGrace.
		bctx, cancel := graceContext(ctx, shutdownGrace)
		err := p.processBatch(bctx, f.items)
		cancel()
		if err != nil {
			return err
		}
		p.reuse(f.items)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// A batch takes what is delivered within maxGather of its first event,
// and ends sooner when nothing more arrives for maxLull: at the head of a
// steady stream it would otherwise keep gathering, and keep the first
// event waiting. After idleAfter without deliveries, consume is told.
const (
	maxGather = 5 * time.Millisecond
	maxLull   = time.Millisecond
	idleAfter = 250 * time.Millisecond
)

// fetched is what fetch hands to consume: a prepared batch, nil items when
// nothing arrived for a while, or the error that ended the deliveries.
type fetched struct {
	items []item
	err   error
}

// fetch gathers batches from d (what is delivered, up to the batch size)
// and prepares them, until stop is closed or the deliveries end.
func (p *Projector) fetch(d *deliveries, out chan<- fetched, stop <-chan struct{}) {
	send := func(f fetched) bool {
		select {
		case out <- f:
			return true
		case <-stop:
			return false
		}
	}
	timer := time.NewTimer(idleAfter)
	defer timer.Stop()
	batch := make([]jetstream.Msg, 0, p.opts.batchSize)
	for {
		timer.Reset(idleAfter)
		select {
		case m := <-d.msgs:
			batch = append(batch[:0], m)
		case <-timer.C:
			if !send(fetched{}) {
				return
			}
			continue
		case <-d.closed:
			send(fetched{err: errDeliveriesEnded})
			return
		case <-stop:
			return
		}
		deadline := time.Now().Add(maxGather)
	gather:
		for len(batch) < p.opts.batchSize {
			// Deliveries already waiting are taken without a timer.
			select {
			case m := <-d.msgs:
				batch = append(batch, m)
				continue
			default:
			}
			wait := min(maxLull, time.Until(deadline))
			if wait <= 0 {
				break
			}
			timer.Reset(wait)
			select {
			case m := <-d.msgs:
				batch = append(batch, m)
			case <-timer.C:
				break gather
			case <-stop:
				return
			}
		}
		if items := p.prepare(batch); len(items) > 0 && !send(fetched{items: items}) {
			return
		}
	}
}

// prepare reads the delivery metadata of a batch and, unless tracing,
// decodes it: the part of a batch that needs no projector state.
func (p *Projector) prepare(msgs []jetstream.Msg) []item {
	var items []item
	select {
	case items = <-p.spare:
	default:
		items = make([]item, 0, p.opts.batchSize)
	}
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			p.log.Warn("message without metadata", "subject", m.Subject(), "err", err)
			continue
		}
		items = append(items, item{seq: meta.Sequence.Stream, delivery: meta.Sequence.Consumer, pending: meta.NumPending,
			subject: m.Subject(), data: m.Data(), captured: meta.Timestamp, msg: m})
	}
	if p.opts.tracer == nil {
		p.decode(items)
	}
	return items
}

// reuse hands back the item slice of an applied batch. Nothing refers to
// its items any more; they are cleared so that the messages and events
// they held can be collected.
func (p *Projector) reuse(items []item) {
	clear(items)
	select {
	case p.spare <- items[:0]:
	default:
	}
}

// errPullLost ends consume when the consumer has events for the projector
// but no pull request of it: the request went to a consumer leader that is
// gone. The client notices that only through missed heartbeats; the
// server's view of the consumer tells it sooner and surely.
var errPullLost = errors.New("pull request lost")

// pullCheckAfter is how long consume waits without an event before it
// checks that its pull request is still at the consumer leader.
const pullCheckAfter = 3 * time.Second

// pullLost reports whether the consumer has events to deliver or redeliver
// and no pull request waiting for them.
func (p *Projector) pullLost(ctx context.Context) bool {
	info, err := p.consumer.Info(ctx)
	if err != nil || info.NumWaiting > 0 || (info.NumPending == 0 && info.NumAckPending == 0) {
		return false
	}
	p.log.Info("no pull request at the consumer leader, pulling again",
		"pending", info.NumPending, "ack_pending", info.NumAckPending)
	return true
}

// warm fills the document cache from the bucket; without it documents are
// loaded one by one as events need them.
func (p *Projector) warm(ctx context.Context) {
	start := time.Now()
	var lattices []string
	if p.opts.lattice != "" {
		lattices = []string{p.opts.lattice}
	}
	if err := p.store.warm(ctx, lattices); err != nil {
		p.store.reset()
		p.log.Warn("documents will be loaded one by one", "err", err)
		return
	}
	p.log.Debug("document cache filled", "bucket", p.res.State.Bucket(), "took", time.Since(start))
}

// processBatch folds a delivered batch into the window, and flushes the
// window when it is due (see due), which acks the batch. Failures are
// retried from the checkpoint until they succeed or ctx ends; what is not
// acked is redelivered.
func (p *Projector) processBatch(ctx context.Context, batch []item) error {
	var lastSeq, pending uint64
	// The events to apply are filtered in place: batch is not read again.
	// Items are large, so they are moved only when one is dropped.
	items := batch[:0]
	for i := range batch {
		it := &batch[i]
		p.win.track(it.msg, it.seq)
		if it.seq >= lastSeq {
			lastSeq, pending = it.seq, it.pending
		}
		if it.seq <= p.high {
			p.metrics.Skipped.Inc()
			continue
		}
		if len(items) != i {
			batch[len(items)] = *it
		}
		items = batch[:len(items)+1]
		p.startEventSpan(&items[len(items)-1], items[len(items)-1].msg.Headers())
	}
	p.metrics.Lag.Set(float64(batch[len(batch)-1].pending))
	if !ascending(items) {
		slices.SortStableFunc(items, func(a, b item) int { return compareSeq(a.seq, b.seq) })
		items = slices.CompactFunc(items, func(a, b item) bool {
			if a.seq == b.seq {
				if b.span != nil {
					b.span.End()
				}
				return true
			}
			return false
		})
	}
	backoff := newBackoff()
	err := p.applyDelivered(ctx, items)
	for err != nil {
		p.rollback(err)
		p.log.Warn("batch not applied, applying again from the checkpoint", "err", err, "checkpoint", p.flushed)
		if !backoff.wait(ctx) {
			return fmt.Errorf("batch abandoned at shutdown: %w", err)
		}
		if p.stateGone(ctx) {
			return errFollow
		}
		err = p.fillGap(ctx, lastSeq+1)
	}
	if p.due(pending) {
		if err := p.settle(ctx); err != nil {
			return fmt.Errorf("batch abandoned at shutdown: %w", err)
		}
	}
	if pending == 0 && p.win.events == 0 {
		p.releaseIntents()
	}
	return nil
}

// applyDelivered applies items in stream order, first filling every gap of
// events that were delivered but never received: a delivery lost when the
// process crashed, or dropped by the client on a slow or broken connection,
// is redelivered by the server only after the ack wait, later than newer
// events, and acking a later event acks it too. A jump in stream sequence
// is checked against the stream unless the consumer's delivery sequence
// shows nothing was lost (a filtered consumer skips other lattices).
func (p *Projector) applyDelivered(ctx context.Context, items []item) error {
	// The events to apply are compacted in place into items[:n]; those in
	// items[start:n] are not applied yet.
	start, n := 0, 0
	flush := func() error {
		for start < n {
			end := min(n, start+p.opts.batchSize)
			if err := p.applyItems(ctx, items[start:end]); err != nil {
				return err
			}
			start = end
		}
		return nil
	}
	prevSeq, prevDelivery := p.high, p.lastDelivery
	for i := range items {
		seq, delivery := items[i].seq, items[i].delivery
		jump := seq != prevSeq+1
		lostDelivery := len(p.filters) == 0 || prevDelivery == 0 || delivery != prevDelivery+1
		if jump && lostDelivery {
			if err := flush(); err != nil {
				return err
			}
			if err := p.fillGap(ctx, seq); err != nil {
				return err
			}
		}
		prevSeq, prevDelivery = seq, delivery
		// The gap fill may have applied it already.
		if seq > p.high && (n == start || seq > items[n-1].seq) {
			if n != i {
				items[n] = items[i]
			}
			n++
		}
	}
	if err := flush(); err != nil {
		return err
	}
	p.lastDelivery = prevDelivery
	return nil
}

// ascending reports whether items are in strictly ascending stream order,
// as a consumer delivers them unless it redelivers.
func ascending(items []item) bool {
	for i := 1; i < len(items); i++ {
		if items[i].seq <= items[i-1].seq {
			return false
		}
	}
	return true
}

// holdIntents keeps the intents a batch raised until the projector reaches
// the head of the stream, and drops those that a later recorded
// host_labels_resolved already answers. Replaying history therefore never
// asks a host again for what the stream already holds, while a host first
// seen during a catch-up is still asked once the projector is current.
func (p *Projector) holdIntents(items []item, raised []projections.Intent) {
	for _, in := range raised {
		p.intents[in.Lattice+"."+in.HostID] = in
	}
	for i := range items {
		ev := &items[i].ev
		if items[i].key == "" || ev.Kind != projections.KindHostLabelsResolved {
			continue
		}
		key := ev.Lattice + "." + ev.HostID
		if in, ok := p.intents[key]; ok && in.Seq < ev.Seq {
			delete(p.intents, key)
		}
	}
	p.metrics.HeldIntents.Set(float64(len(p.intents)))
}

// releaseIfCaughtUp releases the held intents when the consumer has
// nothing left to deliver or to be acked: the last batch need not have
// been the one that said so (its delivery raced a leader change, or it
// was redelivered).
func (p *Projector) releaseIfCaughtUp(ctx context.Context) {
	if len(p.intents) == 0 || p.win.events > 0 {
		return
	}
	if st, err := p.Status(ctx); err == nil && st.CaughtUp() {
		p.releaseIntents()
	}
}

// releaseIntents hands the held intents to the handler.
func (p *Projector) releaseIntents() {
	if len(p.intents) == 0 {
		return
	}
	if p.opts.onIntents != nil {
		out := make([]projections.Intent, 0, len(p.intents))
		for _, in := range p.intents {
			out = append(out, in)
		}
		slices.SortFunc(out, func(a, b projections.Intent) int { return compareSeq(a.Seq, b.Seq) })
		p.opts.onIntents(out)
	}
	clear(p.intents)
	p.metrics.HeldIntents.Set(0)
}

func (p *Projector) loadCheckpoint(ctx context.Context) error {
	n, stream, err := p.readCheckpoint(ctx)
	if err != nil {
		return err
	}
	p.high, p.flushed, p.streamID = n, n, stream
	p.metrics.Checkpoint.Set(float64(n))
	return nil
}

// adopt prepares a projector that has just taken the lease: it was on
// standby, or has just started. Another projector may have applied events
// meanwhile, so when the bucket's checkpoint moved it continues from there
// with a fresh cache; its compare-and-set writes make any overlap
// harmless.
func (p *Projector) adopt(ctx context.Context) error {
	cp, stream, err := p.readCheckpoint(ctx)
	if err != nil {
		return err
	}
	if cp != p.flushed || stream != p.streamID || p.handedOver.Swap(false) || p.snaps != nil && p.snaps.index == nil {
		p.log.Info("taking over from another projector", "checkpoint", cp, "was", p.flushed)
		p.store.reset()
		p.high, p.flushed, p.streamID, p.lastDelivery = cp, cp, stream, 0
		p.metrics.Checkpoint.Set(float64(cp))
		p.warm(ctx)
		p.loadSnapshots(ctx)
	}
	return p.follow(ctx)
}

// refollow runs follow after consuming failed, logging what it could not
// do: the next attempt tries again.
func (p *Projector) refollow(ctx context.Context) {
	if err := p.follow(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("follow the stream", "err", err)
	}
}

// dropLegacySwitch removes the record with which earlier versions switched
// readers to a rebuilt bucket: the state is always in streams.StateBucket.
func (p *Projector) dropLegacySwitch(ctx context.Context) {
	if p.res.Meta == nil {
		return
	}
	e, err := p.res.Meta.Get(ctx, streams.LegacyActiveStateKey)
	if err != nil {
		return
	}
	p.log.Warn("readers were switched to another state bucket by an earlier version; "+streams.StateBucket+" is the state again and catches up from its checkpoint",
		"was", string(e.Value()))
	_ = p.res.Meta.Delete(ctx, streams.LegacyActiveStateKey)
}

// Status is what the projector knows of its progress.
type Status struct {
	// Pending is the number of events not yet delivered to the projector.
	Pending uint64
	// AckPending is the number delivered but not yet written and acked.
	AckPending int
	// Checkpoint is the last stream sequence applied completely.
	Checkpoint uint64
	// Active tells whether this projector holds the consumer's lease and
	// pulls from it; false while it is on standby behind another.
	Active bool
}

// CaughtUp reports whether every captured event is applied and acked.
func (s Status) CaughtUp() bool { return s.Pending == 0 && s.AckPending == 0 }

// Status asks the server for the consumer's progress.
func (p *Projector) Status(ctx context.Context) (Status, error) {
	info, err := p.consumer.Info(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("consumer info: %w", err)
	}
	return Status{Pending: info.NumPending, AckPending: info.NumAckPending, Checkpoint: info.AckFloor.Stream,
		Active: p.active.Load()}, nil
}

// graceContext returns a context that is not cancelled with parent but
// grace after it.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() {
		stop()
		cancel()
	}
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// backoff doubles a wait from 50 ms up to 5 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

// wait sleeps for the current delay; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 5*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
