package view

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"latticestate/projections"
)

// Limits on what one request may ask for, so that a query string cannot
// make the server do unbounded work.
const (
	// MaxFilterHosts bounds the host ids of one filter.
	MaxFilterHosts = 1000
	// MaxFilterText bounds the search text of one filter, in bytes.
	MaxFilterText = 256
	// MaxPageLimit bounds the hosts of one page.
	MaxPageLimit = 1000
)

// Filter selects hosts: by labels and status (the embedded HostFilter),
// by a text search and by id. The zero Filter selects every host.
type Filter struct {
	projections.HostFilter
	// Text, when set, must occur in the host's SearchText; it is lower
	// case.
	Text string
	// IDs, when not nil, are the only hosts selected.
	IDs map[string]bool
}

// ParseFilter reads a filter from query parameters: label=key=value or
// label=key (repeatable, all must match), status=up|stale, q=text (case
// insensitive, in the id, name, version, status, labels, actors and
// providers) and host=<id> (repeatable, any of them). Malformed values are
// errors, never an empty selection.
func ParseFilter(q url.Values) (Filter, error) {
	hf, err := projections.ParseHostFilter(q.Get("status"), q["label"])
	if err != nil {
		return Filter{}, err
	}
	f := Filter{HostFilter: hf}
	text := q.Get("q")
	if len(text) > MaxFilterText {
		return Filter{}, fmt.Errorf("q: %d bytes, at most %d", len(text), MaxFilterText)
	}
	f.Text = strings.ToLower(strings.TrimSpace(text))
	if ids := q["host"]; len(ids) > 0 {
		if len(ids) > MaxFilterHosts {
			return Filter{}, fmt.Errorf("host: %d ids, at most %d", len(ids), MaxFilterHosts)
		}
		f.IDs = make(map[string]bool, len(ids))
		for _, id := range ids {
			if !projections.ValidHostID(id) {
				return Filter{}, fmt.Errorf("host %q is not a host public key", id)
			}
			f.IDs[id] = true
		}
	}
	return f, nil
}

// Empty reports whether the filter selects every host.
func (f Filter) Empty() bool { return f.HostFilter.Empty() && f.Text == "" && f.IDs == nil }

// MatchHost reports whether h is selected.
func (f Filter) MatchHost(h *projections.Host) bool {
	if f.IDs != nil && !f.IDs[h.HostID] {
		return false
	}
	if !f.HostFilter.Match(h) {
		return false
	}
	return f.Text == "" || strings.Contains(SearchText(h), f.Text)
}

// match is MatchHost for a held host, whose search text is computed once.
func (f Filter) match(e *hostEntry) bool {
	if f.IDs != nil && !f.IDs[e.head.HostID] {
		return false
	}
	if !f.HostFilter.Match(&e.head) {
		return false
	}
	return f.Text == "" || strings.Contains(e.search, f.Text)
}

// SearchText is what a text filter searches in a host, lower case: the id,
// friendly name, version and status, every label as key=value, the actor
// ids, and the providers' keys, contracts and link names, one per line so
// that no match spans two of them.
func SearchText(h *projections.Host) string {
	parts := []string{h.HostID, h.FriendlyName, h.Version, h.Status}
	for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
		parts = append(parts, k+"="+h.Labels[k])
	}
	parts = append(parts, slices.Sorted(maps.Keys(h.Actors))...)
	for _, k := range slices.Sorted(maps.Keys(h.Providers)) {
		p := h.Providers[k]
		parts = append(parts, k, p.ContractID, p.LinkName)
	}
	return strings.ToLower(strings.Join(parts, "\n"))
}

// PageRequest asks for part of a sorted host list: at most Limit hosts
// whose id sorts after After. Limit 0 asks for every host, unpaged.
type PageRequest struct {
	Limit int
	After string
}

// Paged reports whether a page was asked for.
func (p PageRequest) Paged() bool { return p.Limit > 0 }

// ParsePage reads limit=N (1 to MaxPageLimit) and after=<host id> (only
// with limit) from query parameters.
func ParsePage(q url.Values) (PageRequest, error) {
	var p PageRequest
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxPageLimit {
			return PageRequest{}, fmt.Errorf("limit %q: want a number from 1 to %d", v[0], MaxPageLimit)
		}
		p.Limit = n
	}
	if v, ok := q["after"]; ok {
		if p.Limit == 0 {
			return PageRequest{}, fmt.Errorf("after needs limit")
		}
		if !projections.ValidHostID(v[0]) {
			return PageRequest{}, fmt.Errorf("after %q is not a host public key (use the next cursor of the previous page)", v[0])
		}
		p.After = v[0]
	}
	return p, nil
}

// PageHosts selects from hosts, sorted by id, the page p of those f
// matches; next is the cursor of the following page ("" when this is the
// last) and total the number of hosts f matches in all pages.
func PageHosts(hosts []*projections.Host, f Filter, p PageRequest) (page []*projections.Host, next string, total int) {
	start := 0
	if p.After != "" {
		start, _ = slices.BinarySearchFunc(hosts, p.After, func(h *projections.Host, id string) int {
			return strings.Compare(h.HostID, id)
		})
		for start < len(hosts) && hosts[start].HostID <= p.After {
			start++
		}
	}
	for i, h := range hosts {
		if !f.MatchHost(h) {
			continue
		}
		total++
		if i < start {
			continue
		}
		if !p.Paged() || len(page) < p.Limit {
			page = append(page, h)
		} else if next == "" {
			next = page[len(page)-1].HostID
		}
	}
	return page, next, total
}
