package projections

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HostFilter selects hosts by labels and status; the zero filter selects
// every host.
type HostFilter struct {
	// Labels must all be present with these values; an empty value only
	// requires the label to be present.
	Labels map[string]string
	// Status, when set, must equal the host's status.
	Status string
}

// Statuses are the statuses a host document can have.
var Statuses = []string{StatusUp, StatusStale}

// ParseHostFilter reads a status ("" for any) and label selectors (see
// ParseLabelSelectors) into a filter, or says what is wrong with them: a
// filter that can select nothing because it is misspelt is an error, not an
// empty answer.
func ParseHostFilter(status string, selectors []string) (HostFilter, error) {
	var f HostFilter
	if status != "" && !slices.Contains(Statuses, status) {
		return HostFilter{}, fmt.Errorf("status %q: want one of %s", truncate(status), strings.Join(Statuses, ", "))
	}
	f.Status = status
	if err := f.ParseLabelSelectors(selectors); err != nil {
		return HostFilter{}, err
	}
	return f, nil
}

// ParseLabelSelectors reads "key=value" (or "key", for presence) selectors
// into the filter's labels. A key is required and has no white space; key
// and value are valid UTF-8 without control characters; a key selected
// twice must be selected with the same value.
func (f *HostFilter) ParseLabelSelectors(selectors []string) error {
	for _, sel := range selectors {
		k, v, _ := strings.Cut(sel, "=")
		switch {
		case k == "":
			return fmt.Errorf("label selector %q: want key=value or key", truncate(sel))
		case !utf8.ValidString(sel) || strings.ContainsFunc(sel, unicode.IsControl):
			return fmt.Errorf("label selector %q: not UTF-8 text", truncate(sel))
		case strings.ContainsFunc(k, unicode.IsSpace):
			return fmt.Errorf("label selector %q: white space in the key", truncate(sel))
		}
		if old, ok := f.Labels[k]; ok && old != v {
			return fmt.Errorf("label selector %q: label %q is already selected with value %q", truncate(sel), truncate(k), truncate(old))
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	return nil
}

// Match reports whether h is selected.
func (f HostFilter) Match(h *Host) bool {
	if f.Status != "" && h.Status != f.Status {
		return false
	}
	for k, want := range f.Labels {
		got, ok := h.Labels[k]
		if !ok || (want != "" && got != want) {
			return false
		}
	}
	return true
}

// Empty reports whether the filter selects every host.
func (f HostFilter) Empty() bool { return f.Status == "" && len(f.Labels) == 0 }
