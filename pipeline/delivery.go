package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

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

// pullExpiry is how long a pull request waits at the consumer: a request
// lost with a consumer leader is soon replaced.
const pullExpiry = 2500 * time.Millisecond

// openDeliveries starts consuming.
func (b *batcher) openDeliveries() (*deliveries, error) {
	d := &deliveries{msgs: make(chan jetstream.Msg, b.opts.batchSize), done: make(chan struct{})}
	cc, err := b.consumer().Consume(func(m jetstream.Msg) {
		select {
		case d.msgs <- m:
		case <-d.done:
		}
	}, jetstream.PullMaxMessages(2*b.opts.batchSize), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(b.consumeErrs.handle))
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

// A batch takes what is delivered within maxGather of its first event,
// and ends sooner when consume waits for it, or when nothing more arrives
// for maxLull: at the head of a steady stream it would otherwise keep
// gathering, and keep the first event waiting. After idleAfter without
// deliveries, consume is told.
const (
	maxGather = 5 * time.Millisecond
	maxLull   = time.Millisecond
	idleAfter = 250 * time.Millisecond
	// decodeStep is how many events gather decodes between two looks at
	// the deliveries and at consume.
	decodeStep = 16
)

// gathered is what gather hands to consume: a prepared batch, nil events
// when nothing arrived for a while, or the error that ended the
// deliveries.
type gathered struct {
	events []capturedEvent
	err    error
	// due is consume's own: the checkpoint a live flush left unsaved is
	// due (see applier.checkpointDue).
	due bool
}

// gather gathers batches from d (what is delivered, up to the batch size)
// and prepares them, until stop is closed or the deliveries end; waiting
// says that consume waits for a batch.
func (b *batcher) gather(d *deliveries, out chan<- gathered, waiting <-chan struct{}, stop <-chan struct{}) {
	send := func(g gathered) bool {
		select {
		case out <- g:
			return true
		case <-stop:
			return false
		}
	}
	timer := time.NewTimer(idleAfter)
	defer timer.Stop()
	for {
		timer.Reset(idleAfter)
		var first jetstream.Msg
		select {
		case first = <-d.msgs:
		case <-timer.C:
			if !send(gathered{}) {
				return
			}
			continue
		case <-d.closed:
			send(gathered{err: errDeliveriesEnded})
			return
		case <-stop:
			return
		}
		events, ok := b.gatherMore(d, b.capture(b.eventSlice(), first), timer, waiting, stop)
		if !ok {
			return
		}
		if b.opts.tracer == nil {
			decodeEvents(b.opts.decoder, events, b.opts.workers, nil)
		}
		if len(events) > 0 && !send(gathered{events: events}) {
			return
		}
	}
}

// gatherMore adds to events what is delivered within maxGather, up to the
// batch size, ending after a lull of maxLull or as soon as consume waits
// for it; false when stop was closed. While it waits for deliveries it
// decodes those it has, unless tracing, so that the batch is ready when it
// ends.
func (b *batcher) gatherMore(d *deliveries, events []capturedEvent, timer *time.Timer, waiting <-chan struct{}, stop <-chan struct{}) ([]capturedEvent, bool) {
	deadline := time.Now().Add(maxGather)
	decoded := 0
	for len(events) < b.opts.batchSize {
		// Deliveries already waiting are taken without a timer.
		select {
		case m := <-d.msgs:
			events = b.capture(events, m)
			continue
		default:
		}
		if b.opts.tracer == nil && decoded < len(events) {
			select {
			case <-waiting:
				// The rest is decoded in parallel.
				return events, true
			default:
			}
			n := min(len(events), decoded+decodeStep)
			decodeEvents(b.opts.decoder, events[decoded:n], 1, nil)
			decoded = n
			continue
		}
		wait := min(maxLull, time.Until(deadline))
		if wait <= 0 {
			return events, true
		}
		timer.Reset(wait)
		select {
		case m := <-d.msgs:
			events = b.capture(events, m)
		case <-waiting:
			return events, true
		case <-timer.C:
			return events, true
		case <-stop:
			return events, false
		}
	}
	return events, true
}

// eventSlice returns an empty slice for a batch's events, one handed back
// by recycle when there is one.
func (b *batcher) eventSlice() []capturedEvent {
	select {
	case events := <-b.spare:
		return events
	default:
		return make([]capturedEvent, 0, b.opts.batchSize)
	}
}

// capture appends the delivered message m to events with its delivery
// metadata; a message without any is logged and left out.
func (b *batcher) capture(events []capturedEvent, m jetstream.Msg) []capturedEvent {
	meta, err := m.Metadata()
	if err != nil {
		b.log.Warn("message without metadata", "subject", m.Subject(), "err", err)
		return events
	}
	return append(events, capturedEvent{seq: meta.Sequence.Stream, delivery: meta.Sequence.Consumer, pending: meta.NumPending,
		subject: m.Subject(), data: m.Data(), captured: meta.Timestamp, msg: m})
}

// recycle hands back the event slice of an applied batch. Nothing refers
// to its events any more; they are cleared so that the messages and
// decoded events they held can be collected.
func (b *batcher) recycle(events []capturedEvent) {
	clear(events)
	select {
	case b.spare <- events[:0]:
	default:
	}
}

// pullCheckAfter is how long consume waits without an event before it
// checks that its pull request is still at the consumer leader.
const pullCheckAfter = 3 * time.Second

// pullLost reports whether the consumer has events to deliver or redeliver
// and no pull request waiting for them: the request went to a consumer
// leader that is gone. The client notices that only through missed
// heartbeats; the server's view of the consumer tells it sooner and
// surely.
func (b *batcher) pullLost(ctx context.Context) bool {
	info, err := b.consumer().Info(ctx)
	if err != nil || info.NumWaiting > 0 || (info.NumPending == 0 && info.NumAckPending == 0) {
		return false
	}
	b.log.Info("no pull request at the consumer leader, pulling again",
		"pending", info.NumPending, "ack_pending", info.NumAckPending)
	return true
}

// consumeErrors logs what the client reports while consuming. A missed
// heartbeat means that the server sent nothing for a pull request for two
// heartbeat intervals: deliveries are late or lost (a starved or
// unreachable server), which the projector recovers from (the client
// pulls again, gaps are read from the stream) but an operator should
// see; it is logged at warn, at most once per missedWarnEvery with how
// many there were. The rest (status notices, the end of deliveries the
// batcher handles itself) is logged at debug.
type consumeErrors struct {
	log *slog.Logger

	mu     sync.Mutex
	missed int
	warned time.Time
}

// missedWarnEvery is the least time between two warnings of missed
// heartbeats.
const missedWarnEvery = 30 * time.Second

func (c *consumeErrors) handle(_ jetstream.ConsumeContext, err error) {
	if !errors.Is(err, jetstream.ErrNoHeartbeat) {
		c.log.Debug("consume", "err", err)
		return
	}
	c.mu.Lock()
	c.missed++
	if !c.warned.IsZero() && time.Since(c.warned) < missedWarnEvery {
		c.mu.Unlock()
		return
	}
	n := c.missed
	c.missed, c.warned = 0, time.Now()
	c.mu.Unlock()
	c.log.Warn("no heartbeat from the server for a pull request: deliveries are late or lost, pulling again",
		"missed", n)
}
