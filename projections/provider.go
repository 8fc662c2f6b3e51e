package projections

import "maps"

// Provider is a capability provider instance on a host, keyed in the host
// document by public_key/link_name.
type Provider struct {
	PublicKey  string `json:"public_key"`
	LinkName   string `json:"link_name"`
	ContractID string `json:"contract_id"`
	Status     string `json:"status"`
}

func newProvider(p ProviderRef) Provider {
	return Provider{PublicKey: p.PublicKey, LinkName: p.LinkName, ContractID: p.ContractID, Status: StatusAwaiting}
}

// applyProvider adds a provider on provider_started (keeping an entry that
// is already there) and removes it on provider_stopped.
func applyProvider(h *Host, kind Kind, p *ProviderRef) {
	key := p.Key()
	_, ok := h.Providers[key]
	switch {
	case kind == KindProviderStarted && !ok:
		h.Providers = maps.Clone(h.Providers)
		h.Providers[key] = newProvider(*p)
	case kind == KindProviderStopped && ok:
		h.Providers = maps.Clone(h.Providers)
		delete(h.Providers, key)
	}
}

// applyHealth sets the status of the provider the check names or, when no
// provider matches, of the actor with that id.
func applyHealth(h *Host, kind Kind, c *HealthCheck) {
	status := StatusHealthy
	if kind == KindHealthCheckFailed {
		status = StatusUnhealthy
	}
	key := c.ID + "/" + c.LinkName
	if p, ok := h.Providers[key]; ok {
		if p.Status != status {
			p.Status = status
			h.Providers = maps.Clone(h.Providers)
			h.Providers[key] = p
		}
		return
	}
	if a, ok := h.Actors[c.ID]; ok && a.Status != status {
		a.Status = status
		h.Actors = maps.Clone(h.Actors)
		h.Actors[c.ID] = a
	}
}
