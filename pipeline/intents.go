package pipeline

import (
	"context"
	"slices"

	"latticestate/projections"
)

// heldIntents keeps the intents the reducers raised, by lattice.host,
// until the projector reaches the head of the stream, and drops those that
// a later recorded host_labels_resolved already answers. Replaying history
// therefore never asks a host again for what the stream already holds,
// while a host first seen during a catch-up is still asked once the
// projector is current.
//
// Intents are held in memory only; the state tells which hosts are still
// to be asked (see rescanAtHead), so a crash or a lost lease loses none.
type heldIntents struct {
	byHost  map[string]projections.Intent
	metrics *Metrics
	// rescan: at the next release, every host whose document has neither
	// labels nor a recorded outcome is asked too.
	rescan bool
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

// waiting reports whether a release has anything to do.
func (h *heldIntents) waiting() bool { return len(h.byHost) > 0 || h.rescan }

// rescanAtHead has the next release also ask every host whose document
// has neither labels nor a recorded outcome: after the projector took the
// lease (started, or took over from one that crashed) or rebuilt the
// state, whatever was asked before and not recorded is asked again.
func (h *heldIntents) rescanAtHead() { h.rescan = true }

// releaseIntents releases the held intents to handler (see
// heldIntents.release), with a RequestLabels for every host still to be
// asked when a rescan is due. The projector is at the head of the stream
// and its window is written, so the documents are current: the cache's
// when it holds every document, else the store's.
func (a *applier) releaseIntents(ctx context.Context, handler func([]projections.Intent)) {
	h := a.intents
	if h.rescan && handler != nil {
		docs := a.cache.documents()
		var err error
		if !a.cache.isComplete() {
			docs, err = a.store.LoadAll(ctx, a.cache.lattices)
		}
		if err != nil {
			// Asked for at the next release.
			a.log.Warn("hosts still to be asked for their labels not looked up", "err", err)
		} else {
			h.rescan = false
			for _, d := range docs {
				host := d.Host
				if host == nil || len(host.Labels) > 0 || host.LabelsOutcome != "" {
					continue
				}
				key := host.Lattice + "." + host.HostID
				if _, ok := h.byHost[key]; !ok {
					h.byHost[key] = projections.Intent{Kind: projections.IntentRequestLabels,
						Lattice: host.Lattice, HostID: host.HostID, Seq: d.Seq}
				}
			}
		}
	} else if handler == nil {
		h.rescan = false
	}
	h.release(handler)
}

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
