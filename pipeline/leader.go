package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"latticestate/streams"
)

// leader runs a projector's turns at its consumer. Projectors of one
// consumer take turns through a lease: the leader stands by until it holds
// it, resumes from the bucket's checkpoint, has the state follow the
// stream, and pulls through the batcher until the lease is lost, handed
// over on request, or its context ends; then the window in flight is
// written (or dropped when the lease was lost) and the lease released.
type leader struct {
	// lease is nil without a meta bucket: the leader always pulls.
	lease     *lease
	applier   *applier
	batcher   *batcher
	rebuilder *rebuilder
	res       *streams.Resources
	metrics   *Metrics
	log       *slog.Logger

	// active is set while the lease is held; read by Status.
	active atomic.Bool
	// handedOver is set when the lease was handed over on request: the
	// bucket is rewritten meanwhile, so the cache is read again.
	handedOver atomic.Bool
}

// shutdownGrace bounds how long the batch in flight may take to finish after
// Run's context is cancelled.
const shutdownGrace = 30 * time.Second

// run takes turns until ctx is cancelled; see Projector.Run.
func (l *leader) run(ctx context.Context) error {
	a := l.applier
	if err := a.loadCheckpoint(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	l.dropLegacySwitch(ctx)
	a.fillCache(ctx)
	l.log.Info("projector started", "bucket", l.res.State.Bucket(), "checkpoint", a.applied)
	for ctx.Err() == nil {
		l.runTerm(ctx)
	}
	if a.snaps != nil {
		a.snaps.wait()
	}
	l.log.Info("projector stopped", "checkpoint", a.checkpoint)
	return nil
}

// runTerm is one turn: it waits on standby until this projector holds the
// consumer's lease, then pulls until ctx ends or the lease is lost. When
// ctx ends, the window in flight is written and acked within
// shutdownGrace, still under the lease, and the lease is released for a
// standby to take over at once. When the lease is lost, the window is
// dropped: the new holder applies its events from the checkpoint.
func (l *leader) runTerm(ctx context.Context) {
	if l.lease != nil {
		if err := l.lease.acquire(ctx); err != nil {
			return
		}
	}
	// held ends when the lease is lost or given up; renewals go on until
	// then, through the final flush.
	held, giveUp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	pulling, stopPulling := context.WithCancel(ctx)
	if l.lease != nil {
		// Asked to hand over (a replay), it stops pulling and ends as at
		// shutdown: the window written and the lease released.
		wg.Go(func() {
			l.lease.keep(held, giveUp, func() {
				l.handedOver.Store(true)
				stopPulling()
			})
		})
	}
	stopOnLoss := context.AfterFunc(held, stopPulling)
	l.active.Store(true)
	l.metrics.LeasesHeld.Inc()
	l.pull(pulling)
	l.active.Store(false)
	l.metrics.LeasesHeld.Dec()
	stopOnLoss()
	stopPulling()
	if held.Err() != nil {
		l.applier.rollback(errLeaseLost)
		giveUp()
		wg.Wait()
		return
	}
	// The window in flight is written and acked within shutdownGrace.
	fctx, cancel := context.WithTimeout(held, shutdownGrace)
	if err := l.batcher.writeWindow(fctx, false); err != nil {
		l.log.Warn("window not written at shutdown, it will be applied again", "err", err)
	}
	cancel()
	giveUp()
	wg.Wait()
	if l.lease != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		l.lease.release(rctx)
		cancel()
	}
}

// errLeaseLost drops the window of a projector whose lease another took
// over.
var errLeaseLost = errors.New("lease taken over by another projector")

// pull resumes from the checkpoint and consumes from the durable consumer
// until ctx ends, starting over after failures.
func (l *leader) pull(ctx context.Context) {
	backoff := newBackoff()
	err := l.resume(ctx)
	for err != nil && backoff.wait(ctx) {
		l.log.Warn("take over the consumer", "err", err)
		err = l.resume(ctx)
	}
	if err != nil {
		return
	}
	backoff = newBackoff()
	for ctx.Err() == nil {
		d, err := l.batcher.openDeliveries()
		if err != nil {
			l.log.Warn("open consumer", "err", err)
			if !backoff.wait(ctx) {
				return
			}
			_ = l.batcher.guardConsumer(ctx)
			l.refollow(ctx)
			continue
		}
		err = l.batcher.consume(ctx, d)
		switch {
		case errors.Is(err, errPullLost), errors.Is(err, errDrift):
		case errors.Is(err, errDeliveriesEnded):
			_ = l.batcher.guardConsumer(ctx)
			l.refollow(ctx)
		case errors.Is(err, errFollow):
			l.refollow(ctx)
		case err != nil && ctx.Err() == nil:
			l.log.Warn("consume", "err", err)
			if !backoff.wait(ctx) {
				return
			}
		}
	}
}

// resume prepares a projector that has just taken the lease: it was on
// standby, or has just started. Another projector may have applied events
// meanwhile, so when the bucket's checkpoint moved it continues from there
// with a fresh cache; its compare-and-set writes make any overlap
// harmless.
func (l *leader) resume(ctx context.Context) error {
	a := l.applier
	cp, err := a.store.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if cp.seq != a.checkpoint || cp.stream != a.stream || l.handedOver.Swap(false) || a.snaps != nil && a.snaps.index == nil {
		l.log.Info("taking over from another projector", "checkpoint", cp.seq, "was", a.checkpoint)
		a.cache.reset()
		a.restart(cp)
		a.fillCache(ctx)
		a.loadSnapshots(ctx)
	}
	return l.follow(ctx)
}

// follow has the state follow the stream (see rebuilder.follow) and pulls
// from the consumer it started again, if any.
func (l *leader) follow(ctx context.Context) error {
	c, err := l.rebuilder.follow(ctx, l.batcher.consumer())
	if c != nil {
		l.batcher.setConsumer(c)
	}
	// Label requests that were not recorded (this or another projector
	// stopped, crashed, or the state was rebuilt) are asked again once
	// caught up.
	l.applier.intents.rescanAtHead()
	return err
}

// refollow runs follow after consuming failed, logging what it could not
// do: the next attempt tries again.
func (l *leader) refollow(ctx context.Context) {
	if err := l.follow(ctx); err != nil && ctx.Err() == nil {
		l.log.Warn("follow the stream", "err", err)
	}
}

// dropLegacySwitch removes the record with which earlier versions switched
// readers to a rebuilt bucket: the state is always in streams.StateBucket.
func (l *leader) dropLegacySwitch(ctx context.Context) {
	if l.res.Meta == nil {
		return
	}
	e, err := l.res.Meta.Get(ctx, streams.LegacyActiveStateKey)
	if err != nil {
		return
	}
	l.log.Warn("readers were switched to another state bucket by an earlier version; "+streams.StateBucket+" is the state again and catches up from its checkpoint",
		"was", string(e.Value()))
	_ = l.res.Meta.Delete(ctx, streams.LegacyActiveStateKey)
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
