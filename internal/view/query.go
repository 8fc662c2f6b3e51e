package view

import (
	"slices"

	"latticestate/projections"
)

// HostsPage is a page of host documents, sorted by id.
type HostsPage struct {
	// Docs are the documents as stored.
	Docs [][]byte
	// Next is the cursor of the following page: the id of the last host
	// of this one; "" when this is the last page.
	Next string
	// Total counts the hosts the filter matches, in every page.
	Total int
	// Revision is the bucket revision the page was read at: a watcher
	// that resumes from it (WatchOptions.After) misses no later change.
	Revision uint64
}

// Hosts returns the page p of the hosts of lattice that f matches.
func (v *View) Hosts(lattice string, f Filter, p PageRequest) (HostsPage, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.st == nil {
		return HostsPage{}, ErrNotCurrent
	}
	l := v.st.lattices[lattice]
	if l == nil {
		return HostsPage{Revision: v.st.rev}, nil
	}
	page := l.page(f, p)
	page.Revision = v.st.rev
	return page, nil
}

// Lattices returns, sorted, the lattices that have at least one host, link
// or ref map.
func (v *View) Lattices() ([]string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.st == nil {
		return nil, ErrNotCurrent
	}
	out := []string{}
	for name, l := range v.st.lattices {
		if len(l.hosts) > 0 || len(l.links) > 0 || len(l.refmaps) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// SummaryJSON returns the counts of lattice as a JSON Summary.
func (v *View) SummaryJSON(lattice string) ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.st == nil {
		return nil, ErrNotCurrent
	}
	l := v.st.lattices[lattice]
	if l == nil {
		return projections.Marshal(newTally().summary(lattice, 0, 0))
	}
	v.sumMu.Lock()
	defer v.sumMu.Unlock()
	if l.summary.json != nil && l.summary.rev == l.rev {
		return l.summary.json, nil
	}
	b, err := projections.Marshal(l.tally.summary(lattice, len(l.links), len(l.refmaps)))
	if err != nil {
		return nil, err
	}
	l.summary = cachedSummary{rev: l.rev, json: b}
	return b, nil
}
