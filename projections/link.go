package projections

// Link is a link definition. 0.5x OTP hosts define links between an actor
// and a provider (actor_id, provider_id, contract_id, link_name, values);
// 1.x hosts between a source and a target over a WIT interface. Only the
// members of the link's own generation are encoded.
type Link struct {
	ActorID    string            `json:"actor_id,omitempty"`
	ProviderID string            `json:"provider_id,omitempty"`
	ContractID string            `json:"contract_id,omitempty"`
	LinkName   string            `json:"link_name,omitempty"`
	Values     map[string]string `json:"values,omitzero"`

	SourceID     string   `json:"source_id,omitempty"`
	Target       string   `json:"target,omitempty"`
	Name         string   `json:"name,omitempty"`
	WitNamespace string   `json:"wit_namespace,omitempty"`
	WitPackage   string   `json:"wit_package,omitempty"`
	Interfaces   []string `json:"interfaces,omitzero"`
	SourceConfig []string `json:"source_config,omitzero"`
	TargetConfig []string `json:"target_config,omitzero"`
}

// ApplyLink folds a linkdef_set or linkdef_deleted event into the link
// document cur (nil when absent) and returns the new one (nil when deleted).
func ApplyLink(cur *Link, ev *Event) *Link {
	lc, ok := ev.Data.(*LinkChange)
	if !ok {
		return cur
	}
	if ev.Kind == KindLinkdefDeleted {
		return nil
	}
	l := lc.Link
	return &l
}

// ApplyRefmap folds a refmap_set event into the refmap entry cur and
// returns the public key the OCI reference now maps to.
func ApplyRefmap(cur string, ev *Event) string {
	if r, ok := ev.Data.(*Refmap); ok {
		return r.PublicKey
	}
	return cur
}
