package projections

import (
	"maps"
	"slices"
)

// IntentKind names a side effect that a reducer asks its caller to perform.
type IntentKind string

// IntentRequestLabels asks for a host's labels with an inventory request; the
// caller records the outcome as a host_labels_resolved event.
const IntentRequestLabels IntentKind = "request_labels"

// Intent is a side effect a reducer asks for. Reducers never perform them.
type Intent struct {
	Kind    IntentKind
	Lattice string
	HostID  string
	// Seq is the sequence of the event that raised the intent.
	Seq uint64
}

// TargetKind is the kind of document an event changes.
type TargetKind int

// Document kinds.
const (
	TargetNone TargetKind = iota
	TargetHost
	TargetLink
	TargetRefmap
)

// Target names the one document an event changes.
type Target struct {
	Kind TargetKind
	// Key is the host id, the link key or the OCI reference.
	Key string
}

// Target returns the document the event changes; TargetNone for ignored
// events.
func (ev *Event) Target() Target {
	switch d := ev.Data.(type) {
	case *LinkChange:
		return Target{Kind: TargetLink, Key: d.Key}
	case *Refmap:
		return Target{Kind: TargetRefmap, Key: d.OCIURL}
	}
	if ev.Kind == "" {
		return Target{}
	}
	return Target{Kind: TargetHost, Key: ev.HostID}
}

// Lattice is the whole projection of one lattice, as printed by fold.
type Lattice struct {
	Name    string            `json:"lattice"`
	Hosts   map[string]*Host  `json:"hosts"`
	Links   map[string]*Link  `json:"links"`
	Refmaps map[string]string `json:"refmaps"`
}

// SortedHosts returns the lattice's hosts sorted by id.
func (l *Lattice) SortedHosts() []*Host {
	ids := slices.Sorted(maps.Keys(l.Hosts))
	hosts := make([]*Host, len(ids))
	for i, id := range ids {
		hosts[i] = l.Hosts[id]
	}
	return hosts
}

// NewLattice returns an empty lattice.
func NewLattice(name string) *Lattice {
	return &Lattice{Name: name, Hosts: map[string]*Host{}, Links: map[string]*Link{}, Refmaps: map[string]string{}}
}

// Apply folds one event into the lattice and returns the lattice with the
// intents the event raises. Like append, it may reuse l's storage: callers
// use the returned lattice in place of l. Host, link and refmap documents
// already in l are never modified.
func Apply(l *Lattice, ev *Event) (*Lattice, []Intent) {
	t := ev.Target()
	switch t.Kind {
	case TargetHost:
		h, intents := ApplyHost(l.Hosts[t.Key], ev)
		if h == nil {
			delete(l.Hosts, t.Key)
		} else {
			l.Hosts[t.Key] = h
		}
		return l, intents
	case TargetLink:
		if link := ApplyLink(l.Links[t.Key], ev); link == nil {
			delete(l.Links, t.Key)
		} else {
			l.Links[t.Key] = link
		}
	case TargetRefmap:
		l.Refmaps[t.Key] = ApplyRefmap(l.Refmaps[t.Key], ev)
	}
	return l, nil
}
