package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// flushTimeout bounds the wait for the server to take the last events.
const flushTimeout = 10 * time.Second

// Run starts every host (it subscribes to its inventory requests, then
// publishes host_started and the events that start its initial inventory),
// answers inventory requests and publishes heartbeats (and, under churn,
// lifecycle events) until ctx ends or Config.Count events have been
// published. It then publishes host_stopped for every host, flushes and
// returns: nil after a clean shutdown, an error when NATS failed. Run may be
// called once.
func (l *Lattice) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { l.answerInventory(runCtx) })
	err := l.startUp()
	if err == nil {
		close(l.ready)
		l.log.Info("simulated hosts started", "lattice", l.cfg.Lattice, "hosts", l.cfg.Hosts, "schema", l.cfg.Schema,
			"scenario", l.cfg.Scenario, "seed", l.seed)
		err = l.drive(runCtx)
	}
	cancel()
	wg.Wait()
	return errors.Join(err, l.shutdown())
}

// startUp subscribes every host to its inventory requests, waits until the
// server has the subscriptions, and starts the hosts.
func (l *Lattice) startUp() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.slots {
		if err := l.subscribe(h); err != nil {
			return err
		}
	}
	if err := l.nc.FlushTimeout(flushTimeout); err != nil {
		return fmt.Errorf("subscribe to inventory requests: %w", err)
	}
	now := time.Now()
	for _, h := range l.slots {
		h.mu.Lock()
		err := l.publishAll(h, h.start(now), now)
		h.mu.Unlock()
		if err != nil {
			return err
		}
	}
	l.state = stateRunning
	return nil
}

// shutdown stops every host that is up (paused ones too: the simulation
// stops them): it stops answering inventory requests and publishes
// host_stopped. Then it flushes.
func (l *Lattice) shutdown() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = stateStopped
	now := time.Now()
	var firstErr error
	stopped := 0
	for _, h := range l.slots {
		if h == nil {
			continue
		}
		l.unsubscribe(h)
		h.mu.Lock()
		if h.up {
			if err := l.publish(h, h.stop(), now); err != nil && firstErr == nil {
				firstErr = err
			}
			stopped++
		}
		h.mu.Unlock()
	}
	if firstErr != nil {
		return firstErr
	}
	if err := l.nc.FlushTimeout(flushTimeout); err != nil {
		return fmt.Errorf("flush NATS connection: %w", err)
	}
	l.log.Info("simulated hosts stopped", "lattice", l.cfg.Lattice, "hosts", stopped, "published", l.published.Load())
	return nil
}

// drive publishes the scenario's events until ctx ends or the count is
// reached.
func (l *Lattice) drive(ctx context.Context) error {
	if l.cfg.Rate > 0 {
		return l.driveRate(ctx)
	}
	return l.driveIntervals(ctx)
}

// budget counts the events of the scenario against Config.Count.
type budget struct{ used, limit int }

// spend records n events and reports whether the count is reached.
func (b *budget) spend(n int) bool {
	b.used += n
	return b.limit > 0 && b.used >= b.limit
}

// publishWarnEvery throttles the log of failing publishes.
const publishWarnEvery = 5 * time.Second

// tolerate decides what a failed publish of the driver means: the end of the
// run when the connection is closed, else a (throttled) warning, as NATS
// buffers while it reconnects and the next heartbeat repairs the state.
func (l *Lattice) tolerate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	if now := time.Now(); now.Sub(l.lastWarn) >= publishWarnEvery {
		l.lastWarn = now
		l.log.Warn("publish failed", "err", err)
	}
	return nil
}
