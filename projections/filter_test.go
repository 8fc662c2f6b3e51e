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
