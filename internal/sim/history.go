package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// maxUptime bounds how long the hosts of a History have been up when it
// begins.
const maxUptime = 30 * 24 * time.Hour

// History generates the event history of a simulated lattice without NATS:
// the same hosts, heartbeats and lifecycle churn as a Lattice, as messages
// for the caller to publish (a benchmark fills a stream with them). The
// history begins long after the hosts started, as a stream limited by age
// does: every host is already up (for up to 30 days) with its inventory,
// so it begins with heartbeats rather than host_started; hosts that join
// later start with host_started and their inventory. A History is not safe
// for concurrent use.
type History struct {
	l     *Lattice
	churn float64
	queue []*nats.Msg
	// noMsgIDs drops the Nats-Msg-Id header (OmitMsgIDs).
	noMsgIDs bool
}

// OmitMsgIDs makes Next return messages without a Nats-Msg-Id header, as
// wasmCloud hosts publish their events: the event stream then has no
// message id to remember for its duplicate window. latticestate's own
// publishers (the emitter) set one.
func (hs *History) OmitMsgIDs() { hs.noMsgIDs = true }

// NewHistory returns the history of the lattice cfg describes (Rate,
// Interval, Count and Scenario are not used). churn (0..1) is the share of
// events that are lifecycle events: actors and providers started and
// stopped, health checks, links, hosts leaving and joining; the others are
// heartbeats, round-robin across the hosts.
func NewHistory(cfg Config, churn float64) (*History, error) {
	if !(churn >= 0 && churn <= 1) {
		return nil, fmt.Errorf("%w: churn %v is not in 0..1", ErrInvalidConfig, churn)
	}
	l, err := newLattice(cfg)
	if err != nil {
		return nil, err
	}
	hs := &History{l: l, churn: churn}
	l.emit = func(m *nats.Msg) error {
		hs.queue = append(hs.queue, m)
		return nil
	}
	now := time.Now()
	for _, h := range l.slots {
		h.start(now.Add(-time.Duration(l.rng.Int64N(int64(maxUptime)))))
	}
	l.state = stateRunning
	return hs, nil
}

// Next returns the next event of the history, with the subject, the
// Nats-Msg-Id (unless omitted) and the traceparent header its host would
// publish it with, stamped with the current time.
func (hs *History) Next() (*nats.Msg, error) {
	m, _, err := hs.NextEvent()
	return m, err
}

// NextEvent is Next, with the CloudEvent id of the event, which the
// message carries in its Nats-Msg-Id header unless omitted.
func (hs *History) NextEvent() (*nats.Msg, string, error) {
	l := hs.l
	for len(hs.queue) == 0 {
		n := 0
		var err error
		if hs.churn > 0 && l.rng.Float64() < hs.churn {
			n, _, err = l.churnOnce()
		}
		if n == 0 && err == nil {
			n, err = l.nextHeartbeat()
		}
		if err != nil {
			return nil, "", err
		}
		if n == 0 && len(hs.queue) == 0 {
			return nil, "", errors.New("simulated history: no host is up")
		}
	}
	m := hs.queue[0]
	hs.queue[0] = nil
	hs.queue = hs.queue[1:]
	id := m.Header.Get(nats.MsgIdHdr)
	if hs.noMsgIDs {
		m.Header.Del(nats.MsgIdHdr)
	}
	return m, id, nil
}
