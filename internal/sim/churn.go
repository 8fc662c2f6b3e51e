package sim

import (
	"slices"
	"time"
)

// churnShare is the share of rate-paced events that are lifecycle events
// under churn.
const churnShare = 0.25

// hostPickTries bounds the random probes for a host to churn, so a lattice
// of mostly paused or departed hosts costs no scan.
const hostPickTries = 8

// Relative weights of churn actions.
const (
	weightHostAction = 20.0 // something happens on one host
	weightJoin       = 2.0  // a new host joins an empty slot
	weightLeave      = 0.6  // a host leaves (only while no slot is empty)
)

// churnOnce performs one random lifecycle action and publishes its one
// event: a host joins (returned as joined, to be scheduled) or leaves, or
// something starts, stops, is health-checked or linked on one host. n is 0
// when nothing could be done.
func (l *Lattice) churnOnce() (n int, joined *host, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != stateRunning {
		return 0, nil, nil
	}
	join, leave := 0.0, 0.0
	if len(l.empty) > 0 {
		join = weightJoin
	} else {
		leave = weightLeave
	}
	switch r := l.rng.Float64() * (weightHostAction + join + leave); {
	case r < join:
		return l.join()
	case r < join+leave:
		return l.leave()
	}
	h := l.pickHost()
	if h == nil {
		return 0, nil, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	ev, ok := l.hostAction(h)
	if !ok {
		return 0, nil, nil
	}
	if err := l.publish(h, ev, now); err != nil {
		return 0, nil, err
	}
	return 1, nil, nil
}

// pickHost returns a random host that is up and not paused, or nil.
func (l *Lattice) pickHost() *host {
	for range hostPickTries {
		h := l.slots[l.rng.IntN(len(l.slots))]
		if h == nil {
			continue
		}
		h.mu.Lock()
		ok := h.up && !h.paused
		h.mu.Unlock()
		if ok {
			return h
		}
	}
	return nil
}

// join starts a new host, without inventory, in a random empty slot.
func (l *Lattice) join() (int, *host, error) {
	i := l.rng.IntN(len(l.empty))
	slot := l.empty[i]
	l.gens[slot]++
	h, err := newHost(l.seed, slot, l.gens[slot], l.cfg.Schema, l.silent[slot], l.issuer, false)
	if err != nil {
		return 0, nil, err
	}
	if err := l.subscribe(h); err != nil {
		return 0, nil, err
	}
	l.empty = slices.Delete(l.empty, i, i+1)
	l.add(h)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if err := l.publishAll(h, h.start(now), now); err != nil {
		return 0, h, err
	}
	l.log.Debug("host joined", "host_id", h.id, "friendly_name", h.name)
	return 1, h, nil
}

// leave stops a random host that is up and not paused.
func (l *Lattice) leave() (int, *host, error) {
	h := l.pickHost()
	if h == nil {
		return 0, nil, nil
	}
	l.unsubscribe(h)
	l.remove(h)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if err := l.publish(h, h.stop(), now); err != nil {
		return 0, nil, err
	}
	l.log.Debug("host left", "host_id", h.id, "friendly_name", h.name)
	return 1, nil, nil
}

// hostAction picks and applies one feasible lifecycle change on h, whose mu
// is held, and returns its event.
func (l *Lattice) hostAction(h *host) (hostEvent, bool) {
	type action struct {
		weight float64
		do     func() (hostEvent, bool)
	}
	var idle []providerSpec
	for _, p := range providerCatalog {
		if h.findProvider(h.providerID(p), p.linkName) < 0 {
			idle = append(idle, p)
		}
	}
	actions := []action{
		{weight(h.instanceCount() < maxInstancesPerHost, 3), func() (hostEvent, bool) {
			a := actorCatalog[l.rng.IntN(len(actorCatalog))]
			return h.startActor(h.actorID(a), 1)[0], true
		}},
		{weight(len(h.actors) > 0, 3), func() (hostEvent, bool) {
			ev, err := h.stopActor(h.actors[l.rng.IntN(len(h.actors))].id)
			return ev, err == nil
		}},
		{weight(len(idle) > 0, 1.5), func() (hostEvent, bool) {
			p := idle[l.rng.IntN(len(idle))]
			ev, err := h.startProvider(p, h.providerID(p))
			return ev, err == nil
		}},
		{weight(len(h.providers) > 0, 1), func() (hostEvent, bool) {
			p := h.providers[l.rng.IntN(len(h.providers))]
			ev, err := h.stopProvider(p.id, p.linkName)
			return ev, err == nil
		}},
		{weight(len(h.providers) > 0, 2), func() (hostEvent, bool) {
			return h.healthCheck(h.providers[l.rng.IntN(len(h.providers))], l.rng.Float64() < 0.7), true
		}},
		{weight(len(h.actors) > 0 && len(h.providers) > 0, 1), func() (hostEvent, bool) {
			return h.linkSet(h.actors[l.rng.IntN(len(h.actors))], h.providers[l.rng.IntN(len(h.providers))]), true
		}},
	}
	total := 0.0
	for _, a := range actions {
		total += a.weight
	}
	r := l.rng.Float64() * total
	for _, a := range actions {
		if r < a.weight {
			return a.do()
		}
		r -= a.weight
	}
	return hostEvent{}, false
}

func weight(feasible bool, w float64) float64 {
	if feasible {
		return w
	}
	return 0
}
