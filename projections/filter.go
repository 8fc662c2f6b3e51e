package projections

import (
	"fmt"
	"strings"
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

// ParseLabelSelectors reads "key=value" (or "key", for presence) selectors
// into the filter's labels.
func (f *HostFilter) ParseLabelSelectors(selectors []string) error {
	for _, sel := range selectors {
		k, v, _ := strings.Cut(sel, "=")
		if k == "" {
			return fmt.Errorf("label selector %q: want key=value or key", sel)
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
