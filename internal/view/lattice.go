package view

import (
	"cmp"
	"slices"
	"strings"

	"latticestate/projections"
)

// hostEntry is one host as the view holds it: the stored document as it
// is, and what filters and counts need of it. The document itself is not
// kept decoded.
type hostEntry struct {
	// head has the host's id, status and labels only: what HostFilter
	// reads.
	head      projections.Host
	raw       []byte
	rev       uint64
	seq       uint64
	version   string
	search    string
	actors    []actorCount
	providers []providerCount
}

type actorCount struct {
	id, status string
	count      uint64
}

type providerCount struct {
	status, contract string
}

// newHostEntry takes from h what the view keeps; raw is the stored
// document and rev its bucket revision.
func newHostEntry(h *projections.Host, raw []byte, rev uint64) *hostEntry {
	e := &hostEntry{
		head:    projections.Host{HostID: h.HostID, Status: h.Status, Labels: h.Labels},
		raw:     raw,
		rev:     rev,
		seq:     h.Seq,
		version: h.Version,
	}
	e.actors = make([]actorCount, 0, len(h.Actors))
	for id, a := range h.Actors {
		e.actors = append(e.actors, actorCount{id: id, status: a.Status, count: a.Count})
	}
	e.providers = make([]providerCount, 0, len(h.Providers))
	for _, p := range h.Providers {
		e.providers = append(e.providers, providerCount{status: p.Status, contract: p.ContractID})
	}
	return e
}

// maxGone bounds the deleted hosts a lattice remembers for watchers that
// resume; past it the oldest half is forgotten and resuming from before
// them asks for a full resync.
const maxGone = 100_000

// latticeState is the view of one lattice.
type latticeState struct {
	name  string
	hosts map[string]*hostEntry
	// sorted holds the hosts sorted by id; unsorted while the view loads.
	sorted []*hostEntry
	// gone maps the ids of deleted hosts to the revision of the deletion,
	// down to goneFloor: deletions at or before it are forgotten.
	gone      map[string]uint64
	goneFloor uint64
	links     map[string]bool
	refmaps   map[string]bool
	tally     *tally
	// rev is the last revision that changed the lattice.
	rev     uint64
	subs    watchers
	summary cachedSummary
}

// watchers are the watchers of a lattice, indexed so that a change of one
// host visits only those that may want it.
type watchers struct {
	all map[*Subscription]struct{}
	// hosts watch every host their filter matches; byID watch the hosts
	// they name; summary are woken when the counts may change.
	hosts   map[*Subscription]struct{}
	byID    map[string]map[*Subscription]struct{}
	summary map[*Subscription]struct{}
}

func newWatchers() watchers {
	return watchers{all: map[*Subscription]struct{}{}, hosts: map[*Subscription]struct{}{},
		byID: map[string]map[*Subscription]struct{}{}, summary: map[*Subscription]struct{}{}}
}

func (w *watchers) add(s *Subscription) {
	w.all[s] = struct{}{}
	if s.opts.Summary {
		w.summary[s] = struct{}{}
	}
	switch {
	case !s.opts.Hosts:
	case s.filter.IDs == nil:
		w.hosts[s] = struct{}{}
	default:
		for id := range s.filter.IDs {
			if w.byID[id] == nil {
				w.byID[id] = map[*Subscription]struct{}{}
			}
			w.byID[id][s] = struct{}{}
		}
	}
}

func (w *watchers) remove(s *Subscription) {
	if _, ok := w.all[s]; !ok {
		return
	}
	delete(w.all, s)
	delete(w.summary, s)
	delete(w.hosts, s)
	for id := range s.filter.IDs {
		if m := w.byID[id]; m != nil {
			if delete(m, s); len(m) == 0 {
				delete(w.byID, id)
			}
		}
	}
}

type cachedSummary struct {
	rev  uint64
	json []byte
}

func newLatticeState(name string) *latticeState {
	return &latticeState{name: name, hosts: map[string]*hostEntry{}, gone: map[string]uint64{},
		links: map[string]bool{}, refmaps: map[string]bool{}, tally: newTally(), subs: newWatchers()}
}

// empty reports whether the lattice holds nothing anyone waits for.
func (l *latticeState) empty() bool {
	return len(l.hosts) == 0 && len(l.links) == 0 && len(l.refmaps) == 0 && len(l.subs.all) == 0 && len(l.gone) == 0
}

// putHost holds e in place of the host's previous entry and returns that
// (nil when the host is new). loading leaves ids unsorted.
func (l *latticeState) putHost(e *hostEntry, loading bool) *hostEntry {
	id := e.head.HostID
	old := l.hosts[id]
	if old != nil {
		l.tally.add(old, -1)
		l.replaceSorted(e, loading)
	} else {
		l.insertSorted(e, loading)
		delete(l.gone, id)
	}
	l.hosts[id] = e
	l.tally.add(e, 1)
	l.rev = e.rev
	return old
}

// deleteHost forgets the host at revision rev and returns its entry (nil
// when it was not held).
func (l *latticeState) deleteHost(id string, rev uint64, loading bool) *hostEntry {
	old := l.hosts[id]
	if old != nil {
		l.tally.add(old, -1)
		delete(l.hosts, id)
		l.removeSorted(id, loading)
	}
	l.gone[id] = rev
	if len(l.gone) > maxGone {
		l.forgetOldestGone()
	}
	l.rev = rev
	return old
}

func byID(e *hostEntry, id string) int { return strings.Compare(e.head.HostID, id) }

func (l *latticeState) insertSorted(e *hostEntry, loading bool) {
	if loading {
		l.sorted = append(l.sorted, e)
		return
	}
	i, _ := slices.BinarySearchFunc(l.sorted, e.head.HostID, byID)
	l.sorted = slices.Insert(l.sorted, i, e)
}

func (l *latticeState) replaceSorted(e *hostEntry, loading bool) {
	if loading {
		// Rare while loading (a watch delivers the last entry per key):
		// a linear scan is fine.
		for i, o := range l.sorted {
			if o.head.HostID == e.head.HostID {
				l.sorted[i] = e
			}
		}
		return
	}
	if i, ok := slices.BinarySearchFunc(l.sorted, e.head.HostID, byID); ok {
		l.sorted[i] = e
	}
}

func (l *latticeState) removeSorted(id string, loading bool) {
	if loading {
		l.sorted = slices.DeleteFunc(l.sorted, func(e *hostEntry) bool { return e.head.HostID == id })
		return
	}
	if i, ok := slices.BinarySearchFunc(l.sorted, id, byID); ok {
		l.sorted = slices.Delete(l.sorted, i, i+1)
	}
}

// loaded sorts what loading left unsorted.
func (l *latticeState) loaded() {
	slices.SortFunc(l.sorted, func(a, b *hostEntry) int { return strings.Compare(a.head.HostID, b.head.HostID) })
}

func (l *latticeState) forgetOldestGone() {
	revs := make([]uint64, 0, len(l.gone))
	for _, r := range l.gone {
		revs = append(revs, r)
	}
	slices.Sort(revs)
	floor := revs[len(revs)/2]
	for id, r := range l.gone {
		if r <= floor {
			delete(l.gone, id)
		}
	}
	l.goneFloor = max(l.goneFloor, floor)
}

// page selects the page p of the hosts f matches, as stored documents.
func (l *latticeState) page(f Filter, p PageRequest) HostsPage {
	start := 0
	if p.After != "" {
		var found bool
		if start, found = slices.BinarySearchFunc(l.sorted, p.After, byID); found {
			start++
		}
	}
	var out HostsPage
	if f.Empty() {
		out.Total = len(l.sorted)
		end := len(l.sorted)
		if p.Paged() && start+p.Limit < end {
			end = start + p.Limit
			out.Next = l.sorted[end-1].head.HostID
		}
		if start < end {
			out.Docs = make([][]byte, 0, end-start)
			for _, e := range l.sorted[start:end] {
				out.Docs = append(out.Docs, e.raw)
			}
		}
		return out
	}
	var last string
	for i, e := range l.sorted {
		if !f.match(e) {
			continue
		}
		out.Total++
		if i < start {
			continue
		}
		if !p.Paged() || len(out.Docs) < p.Limit {
			out.Docs = append(out.Docs, e.raw)
			last = e.head.HostID
		} else if out.Next == "" {
			out.Next = last
		}
	}
	return out
}

// changesAfter returns what a watcher that saw every change up to rev
// needs to catch up: the hosts changed since that f matches, and deletes
// for the ones gone or no longer matching, in revision order.
func (l *latticeState) changesAfter(f Filter, rev uint64) []Change {
	var out []Change
	changed := func(id string, e *hostEntry) {
		switch {
		case e.rev <= rev:
		case f.match(e):
			out = append(out, Change{Rev: e.rev, HostID: id, Doc: e.raw})
		default:
			out = append(out, Change{Rev: e.rev, HostID: id})
		}
	}
	if f.IDs != nil && len(f.IDs) < len(l.hosts) {
		for id := range f.IDs {
			if e := l.hosts[id]; e != nil {
				changed(id, e)
			} else if r, ok := l.gone[id]; ok && r > rev {
				out = append(out, Change{Rev: r, HostID: id})
			}
		}
		return out
	}
	for id, e := range l.hosts {
		if f.IDs == nil || f.IDs[id] {
			changed(id, e)
		}
	}
	for id, r := range l.gone {
		if r > rev && (f.IDs == nil || f.IDs[id]) {
			out = append(out, Change{Rev: r, HostID: id})
		}
	}
	return out
}

// current returns every host f matches, in revision order.
func (l *latticeState) current(f Filter) []Change {
	var out []Change
	if f.IDs != nil && len(f.IDs) < len(l.hosts) {
		for id := range f.IDs {
			if e := l.hosts[id]; e != nil && f.match(e) {
				out = append(out, Change{Rev: e.rev, HostID: id, Doc: e.raw})
			}
		}
	} else {
		for id, e := range l.hosts {
			if f.match(e) {
				out = append(out, Change{Rev: e.rev, HostID: id, Doc: e.raw})
			}
		}
	}
	return out
}

func sortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Rev, b.Rev), strings.Compare(a.HostID, b.HostID))
	})
}
