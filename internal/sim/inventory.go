package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"latticestate/streams"
)

// requestBuffer bounds the inventory requests waiting for an answer; beyond
// it NATS drops them (slow consumer) and the requester times out.
const requestBuffer = 1024

// inventorySubject is where h answers inventory requests: each host listens
// on its own generation's control subject only, so a request on the other
// generation's subject finds no responders, as with real hosts.
func (l *Lattice) inventorySubject(h *host) string {
	if l.cfg.Schema == SchemaV1 {
		return streams.V1InventorySubject(l.cfg.Lattice, h.id)
	}
	return streams.OTPInventorySubject(l.cfg.Lattice, h.id)
}

// subscribe makes h receive inventory requests. Silent hosts subscribe too
// and never answer, so requests to them time out rather than fail fast.
// l.mu must be held. A History has no connection and answers nothing.
func (l *Lattice) subscribe(h *host) error {
	if l.nc == nil {
		return nil
	}
	subject := l.inventorySubject(h)
	sub, err := l.nc.ChanSubscribe(subject, l.requests)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	h.sub = sub
	l.inv[subject] = h
	return nil
}

// unsubscribe stops h receiving inventory requests; l.mu must be held.
func (l *Lattice) unsubscribe(h *host) {
	if h.sub == nil {
		return
	}
	_ = h.sub.Unsubscribe() // fails only when the connection is closed
	h.sub = nil
	delete(l.inv, l.inventorySubject(h))
}

// answerInventory answers inventory requests until ctx ends.
func (l *Lattice) answerInventory(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-l.requests:
			l.answer(m)
		}
	}
}

// answer replies to one inventory request, unless the host is silent,
// paused or stopped: real hosts in those states do not answer.
func (l *Lattice) answer(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	l.mu.RLock()
	h, ok := l.inv[m.Subject]
	running := l.state == stateRunning
	l.mu.RUnlock()
	if !ok || !running || h.silent {
		return
	}
	h.mu.Lock()
	if !h.up || h.paused {
		h.mu.Unlock()
		return
	}
	var reply []byte
	var err error
	if l.cfg.Schema == SchemaV1 {
		reply, err = h.v1InventoryReply(time.Now())
	} else {
		reply, err = h.otpInventoryReply(time.Now())
	}
	h.mu.Unlock()
	if err == nil {
		err = m.Respond(reply)
	}
	if err != nil {
		l.log.Debug("answer inventory request", "subject", m.Subject, "err", err)
	}
}
