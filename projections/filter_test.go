package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/projections"
)

func TestHostFilter_Match(t *testing.T) {
	h := &projections.Host{Status: projections.StatusUp, Labels: map[string]string{"zone": "a", "os": "linux"}}
	cases := []struct {
		name      string
		selectors []string
		status    string
		want      bool
	}{
		{"empty selects all", nil, "", true},
		{"label equal", []string{"zone=a"}, "", true},
		{"label differs", []string{"zone=b"}, "", false},
		{"label presence", []string{"os"}, "", true},
		{"label absent", []string{"gpu"}, "", false},
		{"all labels must match", []string{"zone=a", "os=mac"}, "", false},
		{"status equal", nil, projections.StatusUp, true},
		{"status differs", nil, projections.StatusStale, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := projections.HostFilter{Status: c.status}
			require.NoError(t, f.ParseLabelSelectors(c.selectors))
			require.Equal(t, c.want, f.Match(h))
		})
	}
	var f projections.HostFilter
	require.Error(t, f.ParseLabelSelectors([]string{"=v"}))
}

// A misspelt filter is an error, never an empty answer.
func TestParseHostFilter(t *testing.T) {
	f, err := projections.ParseHostFilter(projections.StatusStale, []string{"zone=a", "gpu", "zone=a", "os=linux=6"})
	require.NoError(t, err)
	require.Equal(t, projections.HostFilter{Status: projections.StatusStale,
		Labels: map[string]string{"zone": "a", "gpu": "", "os": "linux=6"}}, f)
	f, err = projections.ParseHostFilter("", nil)
	require.NoError(t, err)
	require.True(t, f.Empty())

	for _, tc := range []struct {
		name, status string
		selectors    []string
		err          string
	}{
		{"unknown status", "bogus", nil, `status "bogus": want one of up, stale`},
		{"status in another case", "UP", nil, `status "UP"`},
		{"empty selector", "", []string{""}, `label selector "": want key=value or key`},
		{"no key", "", []string{"=v"}, "want key=value or key"},
		{"space in the key", "", []string{"zone =a"}, "white space in the key"},
		{"control character", "", []string{"zone=a\x00"}, "not UTF-8 text"},
		{"invalid UTF-8", "", []string{"zone=\xff"}, "not UTF-8 text"},
		{"two values for a key", "", []string{"zone=a", "zone=b"}, `label "zone" is already selected with value "a"`},
		{"value and presence", "", []string{"zone=a", "zone"}, "already selected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := projections.ParseHostFilter(tc.status, tc.selectors)
			require.ErrorContains(t, err, tc.err)
		})
	}
}
