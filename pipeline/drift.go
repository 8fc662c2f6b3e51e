package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DriftCheckEvery is how often, at most, the projector compares its
// durable consumer on the server with the configuration it set while
// events are delivered; when none are, it checks every pullCheckAfter.
// One check is one consumer info request.
const DriftCheckEvery = 5 * time.Second

// consumerGuard keeps the projector's durable consumer as the projector set
// it. Whoever may create consumers on the stream may also update or delete
// this one (a filter that matches nothing, one event in flight): the
// projection would stall, or skip events, without an error anywhere. The
// guard notices such drift, logs it, counts it and sets the configuration
// again.
//
// The projector calls check every DriftCheckEvery (due) while events are
// delivered, every pullCheckAfter while none are, and whenever its
// deliveries end or cannot be opened (batcher.guardConsumer).
type consumerGuard struct {
	stream jetstream.Stream
	want   jetstream.ConsumerConfig
	// applied is the configuration as the server reported it after the
	// projector last set it, with the server's defaults filled in.
	applied jetstream.ConsumerConfig
	drift   prometheus.Counter
	log     *slog.Logger
	next    time.Time
	// restartAt, when set, is the stream sequence a consumer created anew
	// (the old one was deleted, or cannot be updated back) starts at; nil:
	// it starts where want says.
	restartAt func() uint64
}

// newConsumerGuard guards cons, which the projector just created or updated
// in stream with want; drift counts every drift found.
func newConsumerGuard(stream jetstream.Stream, cons jetstream.Consumer, want jetstream.ConsumerConfig, drift prometheus.Counter, log *slog.Logger) *consumerGuard {
	g := &consumerGuard{
		stream: stream,
		want:   want,
		drift:  drift,
		log:    log,
		next:   time.Now().Add(DriftCheckEvery),
	}
	g.reseat(cons)
	return g
}

// reseat guards cons, which the projector just created or updated: where
// it starts cannot be updated, so want keeps cons's.
func (g *consumerGuard) reseat(cons jetstream.Consumer) {
	cc := cons.CachedInfo().Config
	g.want.DeliverPolicy, g.want.OptStartSeq, g.want.OptStartTime = cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime
	g.applied = withoutServerMetadata(cc)
}

// shouldCheck reports whether the periodic check is due at now.
func (g *consumerGuard) shouldCheck(now time.Time) bool { return !now.Before(g.next) }

// check reads the consumer from the server and, when it is gone or its
// configuration is not the one the projector set, logs a warning, counts
// the drift and sets the configuration again, replacing the consumer if it
// cannot be updated back (another deliver policy, a push consumer). It
// reports whether the consumer had drifted: the projector then reopens its
// deliveries (its jetstream.Consumer names the consumer and stays valid).
// Errors leave the consumer as it is, for the next check.
func (g *consumerGuard) check(ctx context.Context) (bool, error) {
	g.next = time.Now().Add(DriftCheckEvery)
	name := g.want.Durable
	cons, err := g.stream.Consumer(ctx, name)
	var changed []string
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		changed = []string{"deleted"}
	case errors.Is(err, jetstream.ErrNotPullConsumer):
		changed = []string{"deliver_subject"}
	case err != nil:
		return false, fmt.Errorf("check consumer %s: %w", name, err)
	default:
		if changed = configDiff(g.applied, withoutServerMetadata(cons.CachedInfo().Config)); len(changed) == 0 {
			return false, nil
		}
	}
	g.drift.Inc()
	g.log.Warn("the projector's consumer was changed by someone else, setting it again",
		"changed", strings.Join(changed, ","))
	if err == nil {
		if cons, err = g.stream.CreateOrUpdateConsumer(ctx, g.want); err != nil {
			g.log.Warn("consumer cannot be updated back, replacing it", "err", err)
		}
	}
	if err != nil {
		// What an update cannot undo, a new consumer does: it delivers the
		// stream again from restartAt (or where want says), and the
		// projector skips what it has applied.
		if err := g.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return true, fmt.Errorf("replace consumer %s: %w", name, err)
		}
		c := g.want
		if g.restartAt != nil {
			c.DeliverPolicy, c.OptStartSeq, c.OptStartTime = jetstream.DeliverByStartSequencePolicy, max(g.restartAt(), 1), nil
		}
		if cons, err = g.stream.CreateConsumer(ctx, c); err != nil {
			return true, fmt.Errorf("replace consumer %s: %w", name, err)
		}
	}
	g.reseat(cons)
	return true, nil
}

// withoutServerMetadata is c without what servers add on their own: the metadata
// under _nats. (server and API versions, which differ within a cluster
// being upgraded).
func withoutServerMetadata(c jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	c.Metadata = maps.Clone(c.Metadata)
	maps.DeleteFunc(c.Metadata, func(k, _ string) bool { return strings.HasPrefix(k, "_nats.") })
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	return c
}

// configDiff names the fields in which got differs from want.
func configDiff(want, got jetstream.ConsumerConfig) []string {
	var names []string
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range w.NumField() {
		if !reflect.DeepEqual(w.Field(i).Interface(), g.Field(i).Interface()) {
			name, _, _ := strings.Cut(w.Type().Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = w.Type().Field(i).Name
			}
			names = append(names, name)
		}
	}
	return names
}

// errDrift ends consume when the consumer was found changed by someone
// else and set again: the deliveries are opened again.
var errDrift = errors.New("consumer changed by someone else")

// guardConsumer measures the lag and checks the consumer (see
// consumerGuard.check). When the consumer had drifted, it applies straight
// from the stream every event up to the stream's end that is not applied
// yet: while changed, the consumer may have passed events by (a filter
// that matched none of them), and setting its configuration again does not
// move it back. It then returns errDrift. A failed check is logged and
// left for the next one.
func (b *batcher) guardConsumer(ctx context.Context) error {
	b.progress.measure(ctx, b.applier.checkpoint)
	drifted, err := b.guard.check(ctx)
	if err != nil && ctx.Err() == nil {
		b.log.Warn("check the consumer", "err", err)
	}
	if !drifted {
		return nil
	}
	backoff := newBackoff()
	for {
		last, err := b.progress.last(ctx)
		if err == nil {
			err = b.fillGap(ctx, last+1)
		}
		if err == nil {
			break
		}
		b.applier.rollback(err)
		b.log.Warn("events the changed consumer passed by not applied, applying again from the checkpoint", "err", err)
		if !backoff.wait(ctx) {
			return err
		}
	}
	b.progress.measure(ctx, b.applier.checkpoint)
	return errDrift
}

// fillUndelivered applies straight from the stream the events of the
// projector's subjects that the consumer has not delivered while it sat
// idle: deliveries made to a projector that crashed stay unacked, and are
// delivered again only after the ack wait (30 s). A failure is rolled
// back and left for the next idle check.
func (b *batcher) fillUndelivered(ctx context.Context) {
	last, err := b.progress.last(ctx)
	if err != nil || last <= b.applier.applied {
		return
	}
	if err := b.fillGap(ctx, last+1); err != nil {
		b.applier.rollback(err)
		b.log.Warn("events not delivered, not read from the stream either", "err", err)
	}
}
