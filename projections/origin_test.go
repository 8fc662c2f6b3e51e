package projections_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// Only latticestate records events of its own types: from a host they are
// forged, whatever their kind, and change nothing.
func TestDecodeFrom(t *testing.T) {
	host := eventtest.HostID(1)
	hb := eventtest.HostHeartbeat(host, eventtest.Heartbeat{})
	for _, tc := range []struct {
		name     string
		line     []byte
		fromHost error // nil: decoded alike from both origins
	}{
		{"host_stale", eventtest.HostStale(host), projections.ErrForged},
		{"host_labels_resolved", eventtest.HostLabelsResolved(host, map[string]string{"forged": "yes"}, projections.OutcomeOK), projections.ErrForged},
		{"own kind unknown here", eventtest.Line(eventtest.RecordedType+"host_renamed", eventtest.ProjectorSource, map[string]any{"host_id": host}), projections.ErrForged},
		{"own kind with a host's source", eventtest.HostStale(host, eventtest.Set("source", host)), projections.ErrForged},
		{"heartbeat", hb, nil},
		{"unknown host kind", eventtest.Line(eventtest.WasmcloudType+"config_set", host, nil), nil},
		{"type differing in case", eventtest.HostStale(host, eventtest.Set("type", "DEV.latticestate.host_stale")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own, err := projections.DecodeFrom(projections.FromLatticestate, tc.line)
			require.NoError(t, err)
			plain, err := projections.Decode(tc.line)
			require.NoError(t, err)
			require.Equal(t, plain, own)

			ev, err := projections.DecodeFrom(projections.FromHost, tc.line)
			if tc.fromHost == nil {
				require.NoError(t, err)
				require.Equal(t, plain, ev)
				return
			}
			requireDecodeError(t, err, tc.fromHost)
			require.Contains(t, err.Error(), "recorded by latticestate only")
			require.Equal(t, projections.Event{}, ev)
		})
	}

	t.Run("an undecodable own event keeps its reason", func(t *testing.T) {
		bad := eventtest.Line(eventtest.RecordedType+"host_stale", eventtest.ProjectorSource, map[string]any{"host_id": 5})
		_, err := projections.DecodeFrom(projections.FromHost, bad)
		requireDecodeError(t, err, projections.ErrData)
	})
}

func TestFolder_AddFrom(t *testing.T) {
	host := eventtest.HostID(1)
	f := projections.NewFolder(testLattice)
	require.NoError(t, f.AddFrom(projections.FromHost, 1, eventtest.HostHeartbeat(host, eventtest.Heartbeat{})))
	before, err := projections.Marshal(f.Lattice)
	require.NoError(t, err)

	for seq, line := range [][]byte{
		eventtest.HostStale(host),
		eventtest.HostLabelsResolved(host, map[string]string{"forged": "yes"}, projections.OutcomeOK),
	} {
		err := f.AddFrom(projections.FromHost, uint64(seq+2), line)
		require.True(t, errors.Is(err, projections.ErrForged), "%v", err)
	}
	after, err := projections.Marshal(f.Lattice)
	require.NoError(t, err)
	require.JSONEq(t, string(before), string(after), "forged events change nothing")

	require.NoError(t, f.AddFrom(projections.FromLatticestate, 4, eventtest.HostStale(host)))
	require.Equal(t, projections.StatusStale, mustHost(t, f, host).Status)
}
