package sim

import (
	"container/heap"
	"context"
	"time"

	"golang.org/x/time/rate"
)

// driveIntervals heartbeats every host once per Interval, the initial hosts'
// first heartbeats spread evenly over the first Interval so they do not
// arrive in one burst; hosts that join heartbeat at once. Under churn one
// lifecycle event happens every Interval/Hosts.
func (l *Lattice) driveIntervals(ctx context.Context) error {
	interval := l.cfg.Interval
	b := budget{limit: l.cfg.Count}
	q := &heartbeatQueue{}
	now := time.Now()
	for i, h := range l.upHosts() {
		heap.Push(q, scheduledHeartbeat{at: now.Add(interval * time.Duration(i) / time.Duration(l.cfg.Hosts)), h: h})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var churn <-chan time.Time
	if l.cfg.Scenario == ScenarioChurn {
		t := time.NewTicker(max(interval/time.Duration(l.cfg.Hosts), time.Millisecond))
		defer t.Stop()
		churn = t.C
	}
	for {
		if q.Len() > 0 {
			timer.Reset(time.Until((*q)[0].at))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			for q.Len() > 0 && !(*q)[0].at.After(time.Now()) {
				d := heap.Pop(q).(scheduledHeartbeat)
				n, up, err := l.heartbeatOf(d.h)
				if err := l.tolerate(err); err != nil {
					return err
				}
				if up {
					next := d.at.Add(interval)
					if now := time.Now(); next.Before(now) { // fell behind: skip, do not catch up
						next = now.Add(interval)
					}
					heap.Push(q, scheduledHeartbeat{at: next, h: d.h})
				}
				if b.spend(n) {
					return nil
				}
			}
		case <-churn:
			n, joined, err := l.churnOnce()
			if err := l.tolerate(err); err != nil {
				return err
			}
			if joined != nil {
				heap.Push(q, scheduledHeartbeat{at: time.Now(), h: joined})
			}
			if b.spend(n) {
				return nil
			}
		}
	}
}

// driveRate publishes at Config.Rate events per second in total: heartbeats
// round-robin across hosts and, under churn, a lifecycle event in place of
// about one heartbeat in four.
func (l *Lattice) driveRate(ctx context.Context) error {
	// A burst of 10 ms worth of events keeps high rates from sleeping
	// between single events; low rates get a burst of 1.
	lim := rate.NewLimiter(rate.Limit(l.cfg.Rate), max(1, int(l.cfg.Rate/100)))
	b := budget{limit: l.cfg.Count}
	for {
		if err := lim.Wait(ctx); err != nil {
			// ctx ended, or its deadline comes before the next token.
			<-ctx.Done()
			return nil
		}
		n := 0
		var err error
		if l.cfg.Scenario == ScenarioChurn && l.rng.Float64() < churnShare {
			n, _, err = l.churnOnce()
		}
		if n == 0 && err == nil {
			n, err = l.nextHeartbeat()
		}
		if err := l.tolerate(err); err != nil {
			return err
		}
		if b.spend(n) {
			return nil
		}
	}
}

// upHosts returns the hosts up, in slot order.
func (l *Lattice) upHosts() []*host {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var hs []*host
	for _, h := range l.slots {
		if h != nil {
			hs = append(hs, h)
		}
	}
	return hs
}

// heartbeatOf publishes h's heartbeat unless it is paused. up is false once
// h has stopped, so the caller drops it.
func (l *Lattice) heartbeatOf(h *host) (n int, up bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up {
		return 0, false, nil
	}
	if h.paused {
		return 0, true, nil
	}
	now := time.Now()
	if err := l.publish(h, h.heartbeat(now), now); err != nil {
		return 0, true, err
	}
	return 1, true, nil
}

// nextHeartbeat publishes the heartbeat of the next host up and not paused
// after the cursor; 0 events when there is none.
func (l *Lattice) nextHeartbeat() (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for range len(l.slots) {
		h := l.slots[l.cursor]
		l.cursor = (l.cursor + 1) % len(l.slots)
		if h == nil {
			continue
		}
		if n, _, err := l.heartbeatOf(h); n > 0 || err != nil {
			return n, err
		}
	}
	return 0, nil
}

// scheduledHeartbeat is a host's next heartbeat time.
type scheduledHeartbeat struct {
	at time.Time
	h  *host
}

// heartbeatQueue is a min-heap of heartbeat times.
type heartbeatQueue []scheduledHeartbeat

func (q heartbeatQueue) Len() int           { return len(q) }
func (q heartbeatQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q heartbeatQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *heartbeatQueue) Push(x any)        { *q = append(*q, x.(scheduledHeartbeat)) }
func (q *heartbeatQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

var _ heap.Interface = (*heartbeatQueue)(nil)
