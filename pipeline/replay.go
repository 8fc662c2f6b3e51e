package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// handOverTimeout bounds the wait for the live projector to hand its lease
// over: it writes its window first, and a projector that died holds it
// until it expires.
const handOverTimeout = shutdownGrace + 15*time.Second

// Replay rebuilds the state bucket in place from the stream: each lattice
// from its newest snapshot that the retained events continue (from the
// first event when the whole history is retained), plus those events,
// folded in memory and reconciled into the bucket, writing only the
// documents that differ. It runs under the consumer's lease, which the
// live projector hands over on request and takes back once the replay is
// done, continuing from the replay's checkpoint: readers of the bucket see
// the corrected state and every later change. When a lattice cannot be
// rebuilt exactly (its events are gone and no snapshot covers them) it
// refuses with a *HistoryGoneError and changes nothing. progress, when
// set, is told the sequence reached and the target. It returns the
// sequence the state was rebuilt at.
func (p *Projector) Replay(ctx context.Context, progress func(applied, target uint64)) (uint64, error) {
	if p.lease != nil {
		release, err := p.takeLease(ctx)
		if err != nil {
			return 0, err
		}
		defer release()
	}
	if err := p.loadCheckpoint(ctx); err != nil {
		return 0, err
	}
	if err := p.rebuildState(ctx, rebuildReplay, true, progress); err != nil {
		return 0, err
	}
	return p.flushed, nil
}

// takeLease asks the holder of the consumer's lease to hand it over, waits
// until it is held, and keeps it until release is called.
func (p *Projector) takeLease(ctx context.Context) (release func(), err error) {
	if err := p.lease.requestHandOver(ctx); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, handOverTimeout)
	err = p.lease.acquire(actx)
	cancel()
	p.lease.handedOver(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("the projector holding the lease of consumer %s did not hand it over within %v: %w", p.name, handOverTimeout, err)
	}
	held, giveUp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { p.lease.keep(held, giveUp, nil) })
	return func() {
		giveUp()
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		p.lease.release(rctx)
		cancel()
	}, nil
}
