package view

import (
	"cmp"
	"maps"
	"slices"

	"latticestate/projections"
)

// SummaryTop is how many values a summary lists by name for versions,
// contracts, label keys and the values of each label key: the most common
// ones. Distinct counts always cover them all.
const SummaryTop = 100

// Summary counts what a lattice holds, for a dashboard's header and
// filters without downloading its hosts.
type Summary struct {
	Lattice string `json:"lattice"`
	// Seq is the highest stream sequence applied to a document of the
	// lattice: the newest point its state can be asked as of.
	Seq       uint64      `json:"seq"`
	Hosts     StatusCount `json:"hosts"`
	Actors    ActorCount  `json:"actors"`
	Providers StatusCount `json:"providers"`
	// Versions counts hosts by version.
	Versions Top `json:"versions"`
	// Contracts counts provider entries by contract id.
	Contracts Top `json:"contracts"`
	// Labels counts hosts by label key, and each key's hosts by value.
	Labels LabelTop `json:"labels"`
	// Links and Refmaps count link definitions and ref map entries.
	Links   int `json:"links"`
	Refmaps int `json:"refmaps"`
}

// StatusCount is a total and its split by status.
type StatusCount struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"by_status"`
}

// ActorCount counts actor (component) instances, by the status of their
// entry, and the distinct actors running.
type ActorCount struct {
	Instances uint64            `json:"instances"`
	Distinct  int               `json:"distinct"`
	ByStatus  map[string]uint64 `json:"by_status"`
}

// Top is a count by value: the SummaryTop most common values and how many
// distinct values there are.
type Top struct {
	Distinct int            `json:"distinct"`
	Top      map[string]int `json:"top"`
}

// LabelTop counts label keys: the SummaryTop keys most hosts carry, each
// with its values.
type LabelTop struct {
	Distinct int                 `json:"distinct"`
	Top      map[string]LabelKey `json:"top"`
}

// LabelKey is one label key: how many hosts carry it and with which values.
type LabelKey struct {
	Hosts int `json:"hosts"`
	Top
}

// tally keeps a lattice's counts up to date as hosts come, change and go.
type tally struct {
	hosts      map[string]int
	nhosts     int
	instances  map[string]uint64 // actor instances by entry status
	actors     map[string]int    // actor id → hosts running it
	providers  map[string]int    // provider entries by status
	nproviders int
	versions   map[string]int
	contracts  map[string]int
	labels     map[string]map[string]int
	seq        uint64
}

func newTally() *tally {
	return &tally{hosts: map[string]int{}, instances: map[string]uint64{}, actors: map[string]int{},
		providers: map[string]int{}, versions: map[string]int{}, contracts: map[string]int{},
		labels: map[string]map[string]int{}}
}

// bump adds d to m[k], removing the entry at 0 so that what disappears
// from the lattice disappears from its counts.
func bump[V int | uint64](m map[string]V, k string, d V, sign int) {
	if sign > 0 {
		m[k] += d
		return
	}
	if m[k] -= d; m[k] == 0 {
		delete(m, k)
	}
}

// add counts e in (sign 1) or out (sign -1).
func (t *tally) add(e *hostEntry, sign int) {
	t.nhosts += sign
	bump(t.hosts, e.head.Status, 1, sign)
	bump(t.versions, e.version, 1, sign)
	for k, v := range e.head.Labels {
		vals := t.labels[k]
		if vals == nil {
			vals = map[string]int{}
			t.labels[k] = vals
		}
		if bump(vals, v, 1, sign); len(vals) == 0 {
			delete(t.labels, k)
		}
	}
	for _, a := range e.actors {
		bump(t.instances, a.status, a.count, sign)
		bump(t.actors, a.id, 1, sign)
	}
	for _, p := range e.providers {
		t.nproviders += sign
		bump(t.providers, p.status, 1, sign)
		bump(t.contracts, p.contract, 1, sign)
	}
	if sign > 0 {
		t.seq = max(t.seq, e.seq)
	}
}

// actorInstances is the number of actor instances of every status.
func (t *tally) actorInstances() uint64 {
	var n uint64
	for _, c := range t.instances {
		n += c
	}
	return n
}

// summary returns the counts as a Summary; links and refmaps are counted
// by the caller.
func (t *tally) summary(lattice string, links, refmaps int) *Summary {
	s := &Summary{
		Lattice:   lattice,
		Seq:       t.seq,
		Hosts:     StatusCount{Total: t.nhosts, ByStatus: maps.Clone(t.hosts)},
		Actors:    ActorCount{Instances: t.actorInstances(), Distinct: len(t.actors), ByStatus: maps.Clone(t.instances)},
		Providers: StatusCount{Total: t.nproviders, ByStatus: maps.Clone(t.providers)},
		Versions:  top(t.versions),
		Contracts: top(t.contracts),
		Labels:    LabelTop{Distinct: len(t.labels), Top: map[string]LabelKey{}},
		Links:     links,
		Refmaps:   refmaps,
	}
	keys := make(map[string]int, len(t.labels))
	for k, vals := range t.labels {
		n := 0
		for _, c := range vals {
			n += c
		}
		keys[k] = n
	}
	for k, n := range top(keys).Top {
		s.Labels.Top[k] = LabelKey{Hosts: n, Top: top(t.labels[k])}
	}
	return s
}

// top keeps the SummaryTop largest counts of m, ties broken by value.
func top(m map[string]int) Top {
	t := Top{Distinct: len(m), Top: make(map[string]int, min(len(m), SummaryTop))}
	if len(m) <= SummaryTop {
		maps.Copy(t.Top, m)
		return t
	}
	type kv struct {
		k string
		n int
	}
	better := func(a, b kv) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.k, b.k)) }
	// best stays sorted, best first; most values are not among the best
	// and cost one comparison.
	best := make([]kv, 0, SummaryTop)
	for k, n := range m {
		c := kv{k, n}
		if len(best) == SummaryTop {
			if better(c, best[SummaryTop-1]) >= 0 {
				continue
			}
			best = best[:SummaryTop-1]
		}
		i, _ := slices.BinarySearchFunc(best, c, better)
		best = slices.Insert(best, i, c)
	}
	for _, c := range best {
		t.Top[c.k] = c.n
	}
	return t
}

// SummarizeLattice counts a lattice folded from the stream, as the view
// counts the live one.
func SummarizeLattice(l *projections.Lattice) *Summary {
	t := newTally()
	for _, h := range l.Hosts {
		t.add(newHostEntry(h, nil, 0), 1)
	}
	return t.summary(l.Name, len(l.Links), len(l.Refmaps))
}
