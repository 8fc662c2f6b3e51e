package pipeline

import (
	"slices"

	"latticestate/projections"
)

// heldIntents keeps the intents the reducers raised, by lattice.host,
// until the projector reaches the head of the stream, and drops those that
// a later recorded host_labels_resolved already answers. Replaying history
// therefore never asks a host again for what the stream already holds,
// while a host first seen during a catch-up is still asked once the
// projector is current.
type heldIntents struct {
	byHost  map[string]projections.Intent
	metrics *Metrics
}

func newHeldIntents(m *Metrics) *heldIntents {
	return &heldIntents{byHost: map[string]projections.Intent{}, metrics: m}
}

// hold keeps the intents raised by applying events.
func (h *heldIntents) hold(events []capturedEvent, raised []projections.Intent) {
	for _, in := range raised {
		h.byHost[in.Lattice+"."+in.HostID] = in
	}
	for i := range events {
		ev := &events[i].ev
		if events[i].key == "" || ev.Kind != projections.KindHostLabelsResolved {
			continue
		}
		key := ev.Lattice + "." + ev.HostID
		if in, ok := h.byHost[key]; ok && in.Seq < ev.Seq {
			delete(h.byHost, key)
		}
	}
	h.metrics.HeldIntents.Set(float64(len(h.byHost)))
}

// len returns the number of intents held.
func (h *heldIntents) len() int { return len(h.byHost) }

// release hands the held intents to handler (none: they are dropped), in
// the order they were raised.
func (h *heldIntents) release(handler func([]projections.Intent)) {
	if len(h.byHost) == 0 {
		return
	}
	if handler != nil {
		out := make([]projections.Intent, 0, len(h.byHost))
		for _, in := range h.byHost {
			out = append(out, in)
		}
		slices.SortFunc(out, func(a, b projections.Intent) int { return compareSeq(a.Seq, b.Seq) })
		handler(out)
	}
	clear(h.byHost)
	h.metrics.HeldIntents.Set(0)
}
