package sim_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/sim"
	"latticestate/streams"
)

// TestLattice_Inventory checks that hosts answer inventory requests on their
// generation's control subject with their labels, that the other
// generation's subject has no responders (as with real hosts, so a client
// can fall back at once), that silent and paused hosts let requests time
// out, and that nobody answers once the hosts have stopped.
func TestLattice_Inventory(t *testing.T) {
	for _, tt := range []struct {
		schema        sim.Schema
		subject, none func(lattice, hostID string) string
	}{
		{sim.SchemaOTP, streams.OTPInventorySubject, streams.V1InventorySubject},
		{sim.SchemaV1, streams.V1InventorySubject, streams.OTPInventorySubject},
	} {
		t.Run(string(tt.schema), func(t *testing.T) {
			nc, obs := mustConnect(t)
			const lattice = "inv-test"
			l := mustStart(t, nc, sim.Config{Hosts: 4, Schema: tt.schema, SilentRatio: 0.5, Interval: time.Hour, Lattice: lattice})
			paused := l.Hosts()[0].ID
			require.NoError(t, l.Pause(paused))
			for _, h := range l.Hosts() {
				_, err := obs.Request(tt.none(lattice, h.ID), nil, 5*time.Second)
				require.ErrorIs(t, err, nats.ErrNoResponders, "other generation's subject")
				if h.Silent || h.ID == paused {
					// Waiting for a reply that must not come.
					_, err := obs.Request(tt.subject(lattice, h.ID), nil, 200*time.Millisecond)
					require.ErrorIs(t, err, nats.ErrTimeout, "silent or paused host answered")
					continue
				}
				reply, err := obs.Request(tt.subject(lattice, h.ID), nil, 5*time.Second)
				require.NoError(t, err)
				inv := inventoryOf(t, tt.schema, reply.Data)
				require.Equal(t, h.ID, inv["host_id"])
				require.Equal(t, h.Labels, toStringMap(t, inv["labels"]))
				require.Equal(t, h.FriendlyName, inv["friendly_name"])
				require.Contains(t, inv, "uptime_seconds")
				require.Contains(t, inv, "providers")
			}

			require.NoError(t, l.stop(t))
			for _, h := range l.Hosts() {
				_, err := obs.Request(tt.subject(lattice, h.ID), nil, 5*time.Second)
				require.ErrorIs(t, err, nats.ErrNoResponders, "stopped host")
			}
		})
	}
}

// inventoryOf returns the inventory in a reply: the whole OTP reply, or the
// response of a successful 1.x reply.
func inventoryOf(t *testing.T, schema sim.Schema, data []byte) map[string]any {
	t.Helper()
	if schema == sim.SchemaOTP {
		var inv map[string]any
		require.NoError(t, json.Unmarshal(data, &inv))
		require.Contains(t, inv, "actors")
		return inv
	}
	var reply struct {
		Success  *bool          `json:"success"`
		Message  *string        `json:"message"`
		Response map[string]any `json:"response"`
	}
	require.NoError(t, json.Unmarshal(data, &reply))
	require.NotNil(t, reply.Success)
	require.True(t, *reply.Success)
	require.NotNil(t, reply.Message)
	require.Empty(t, *reply.Message)
	require.Contains(t, reply.Response, "components")
	return reply.Response
}
