package projections

import "maps"

// Host statuses.
const (
	StatusUp    = "up"
	StatusStale = "stale"
)

// Host is the projection of one host: the document stored under
// <lattice>.hosts.<host_id>. Host values are never modified once returned by
// a reducer; reducers return a new *Host instead.
type Host struct {
	HostID       string            `json:"host_id"`
	Lattice      string            `json:"lattice"`
	FriendlyName string            `json:"friendly_name"`
	Version      string            `json:"version"`
	Labels       map[string]string `json:"labels"`
	// LabelsOutcome is the outcome of the last label request recorded
	// for the host (host_labels_resolved: ok, timeout or error) since it
	// was created; empty while none is. A host with neither labels nor an
	// outcome is still to be asked.
	LabelsOutcome string `json:"labels_outcome,omitempty"`
	UptimeSeconds uint64 `json:"uptime_seconds"`
	UptimeHuman   string `json:"uptime_human"`
	Status        string `json:"status"`
	// LastSeen is the time of the last heartbeat or host_started as the
	// host sent it; nil until the first of them (or when it had no time).
	LastSeen  *string             `json:"last_seen"`
	Actors    map[string]Actor    `json:"actors"`
	Providers map[string]Provider `json:"providers"`
	// Seq is the stream sequence (or line number) of the last event applied.
	Seq uint64 `json:"seq"`
}

// newHost is the state of a host that an event names before anything else
// has been seen of it.
func newHost(ev *Event) *Host {
	return &Host{
		HostID:    ev.HostID,
		Lattice:   ev.Lattice,
		Labels:    map[string]string{},
		Status:    StatusUp,
		Actors:    map[string]Actor{},
		Providers: map[string]Provider{},
	}
}

// ApplyHost folds one host event into the host document cur (nil when the
// host is unknown) and returns the new document (nil when the host is gone)
// with the intents the event raises. cur is not modified. Events that do not
// target a host document leave it as it is.
func ApplyHost(cur *Host, ev *Event) (*Host, []Intent) {
	if ev.Target().Kind != TargetHost {
		return cur, nil
	}
	switch ev.Kind {
	case KindHostStopped:
		return nil, nil
	case KindHostLabelsResolved, KindHostStale, KindHostExpired:
		// Recorded by latticestate about a host it knew; they never bring
		// back a host that has stopped since.
		if cur == nil {
			return nil, nil
		}
		if d, ok := ev.Data.(*HostExpired); ok && d.holds(cur) {
			return nil, nil
		}
	}
	var h *Host
	created := cur == nil || ev.Kind == KindHostStarted
	if created {
		h = newHost(ev)
	} else {
		c := *cur
		h = &c
	}
	h.Seq = ev.Seq
	switch d := ev.Data.(type) {
	case *Heartbeat:
		applyHeartbeat(h, ev, d)
	case *HostInfo:
		if ev.Kind == KindHostStarted {
			applyHostInfo(h, d)
			// A host that says it started has been seen.
			h.LastSeen = eventTime(ev)
		} else if d.Labels != nil {
			h.Labels = d.Labels
		}
	case *ActorChange:
		applyActor(h, ev.Kind, d)
	case *ProviderRef:
		applyProvider(h, ev.Kind, d)
	case *HealthCheck:
		applyHealth(h, ev.Kind, d)
	case *LabelsResolved:
		if len(h.Labels) == 0 && len(d.Labels) > 0 {
			h.Labels = d.Labels
		}
		h.LabelsOutcome = d.Outcome
	case *HostExpired:
		// The host was seen after the sweeper judged it: it stays, and
		// the sweeper judges it again from this document.
	case nil:
		if ev.Kind == KindHostStale {
			h.Status = StatusStale
		}
	}
	if created && len(h.Labels) == 0 {
		return h, []Intent{{Kind: IntentRequestLabels, Lattice: h.Lattice, HostID: h.HostID, Seq: ev.Seq}}
	}
	return h, nil
}

// holds reports whether a host_expired still applies to cur, the host's
// document now: it is the document the sweeper judged (nothing about the
// host applied after seq) and no heartbeat or start has been seen since
// (last_seen unchanged). A host that came back in between is not removed.
func (d *HostExpired) holds(cur *Host) bool {
	if cur.Seq > d.Seq {
		return false
	}
	if cur.LastSeen == nil || d.LastSeen == nil {
		return cur.LastSeen == nil && d.LastSeen == nil
	}
	return *cur.LastSeen == *d.LastSeen
}

// applyHeartbeat makes the host's inventory that of the heartbeat, keeping the
// status of actors and the entries of providers it already knew.
func applyHeartbeat(h *Host, ev *Event, hb *Heartbeat) {
	labels := h.Labels
	applyHostInfo(h, &hb.HostInfo)
	if hb.Labels == nil {
		h.Labels = labels
	}
	h.Status = StatusUp
	h.LastSeen = eventTime(ev)
	h.Actors = heartbeatActors(h.Actors, hb.Actors)
	h.Providers = heartbeatProviders(h.Providers, hb.Providers)
}

// heartbeatActors returns the actors of a host that was running cur and
// sends the inventory counts: cur itself when nothing changed, as from one
// heartbeat to the next.
func heartbeatActors(cur map[string]Actor, counts map[string]uint64) map[string]Actor {
	same := len(cur) == len(counts)
	for id, n := range counts {
		if a, ok := cur[id]; !ok || a.Count != n {
			same = false
			break
		}
	}
	if same && cur != nil {
		return cur
	}
	actors := make(map[string]Actor, len(counts))
	for id, n := range counts {
		status := StatusAwaiting
		if a, ok := cur[id]; ok {
			status = a.Status
		}
		actors[id] = Actor{Count: n, Status: status}
	}
	return actors
}

// heartbeatProviders returns the providers of a host that was running cur
// and sends the list refs: cur itself when it holds exactly those
// providers.
func heartbeatProviders(cur map[string]Provider, refs []ProviderRef) map[string]Provider {
	var buf [128]byte
	same := len(cur) == len(refs)
	for i := 0; same && i < len(refs); i++ {
		_, same = cur[string(appendProviderKey(buf[:0], refs[i]))]
		// A provider listed twice would leave another one of cur out.
		for j := 0; same && j < i; j++ {
			same = refs[j].PublicKey != refs[i].PublicKey || refs[j].LinkName != refs[i].LinkName
		}
	}
	if same && cur != nil {
		return cur
	}
	providers := make(map[string]Provider, len(refs))
	for _, p := range refs {
		key := p.Key()
		if c, ok := cur[key]; ok {
			providers[key] = c
		} else if _, dup := providers[key]; !dup {
			providers[key] = newProvider(p)
		}
	}
	return providers
}

// eventTime is the event's time as a host document's last_seen: nil when
// the event has none.
func eventTime(ev *Event) *string {
	if ev.Time == "" {
		return nil
	}
	t := ev.Time
	return &t
}

func applyHostInfo(h *Host, d *HostInfo) {
	h.FriendlyName = d.FriendlyName
	h.Version = d.Version
	h.UptimeSeconds = d.UptimeSeconds
	h.UptimeHuman = d.UptimeHuman
	if d.Labels != nil {
		h.Labels = d.Labels
	}
}

// Clone returns a deep copy of h, for callers that want to mutate a document.
func (h *Host) Clone() *Host {
	if h == nil {
		return nil
	}
	c := *h
	c.Labels = maps.Clone(h.Labels)
	c.Actors = maps.Clone(h.Actors)
	c.Providers = maps.Clone(h.Providers)
	if h.LastSeen != nil {
		t := *h.LastSeen
		c.LastSeen = &t
	}
	return &c
}
