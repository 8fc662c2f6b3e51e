package projections

import (
	"maps"
	"math"
)

// Statuses of actors and providers.
const (
	StatusAwaiting  = "Awaiting"
	StatusHealthy   = "Healthy"
	StatusUnhealthy = "Unhealthy"
)

// Actor is an actor (component) running on a host.
type Actor struct {
	Count  uint64 `json:"count"`
	Status string `json:"status"`
}

// applyActor applies actor_started (+1), actor_stopped (-1, never below 0)
// and component_scaled (count = max_instances); an entry whose count reaches
// 0 is removed.
func applyActor(h *Host, kind Kind, d *ActorChange) {
	cur, ok := h.Actors[d.ID]
	next := cur
	switch kind {
	case KindActorStarted:
		if !ok {
			next.Status = StatusAwaiting
		}
		if next.Count == math.MaxUint64 {
			return
		}
		next.Count++
	case KindActorStopped:
		if !ok {
			return
		}
		next.Count--
	case KindComponentScaled:
		if !ok {
			next.Status = StatusAwaiting
		}
		next.Count = d.Count
	}
	if !ok && next.Count == 0 {
		return
	}
	h.Actors = maps.Clone(h.Actors)
	if next.Count == 0 {
		delete(h.Actors, d.ID)
		return
	}
	h.Actors[d.ID] = next
}
