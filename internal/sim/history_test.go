package sim_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/sim"
	"latticestate/projections"
)

// TestHistory_Next: a history of both generations decodes with no
// rejection, on the generation's subjects with a host's headers; it begins
// with one heartbeat per host (the hosts are already up), heartbeats carry
// uptimes of hosts that have run a while, about the churn share of events
// are lifecycle events of every kind, and a history without churn is
// heartbeats only.
func TestHistory_Next(t *testing.T) {
	const hosts, n = 20, 4000
	for _, schema := range []sim.Schema{sim.SchemaOTP, sim.SchemaV1} {
		t.Run(string(schema), func(t *testing.T) {
			h, err := sim.NewHistory(sim.Config{Hosts: hosts, Schema: schema, Seed: testSeed, Lattice: "hist"}, 0.25)
			require.NoError(t, err)
			evs := make([]event, 0, n)
			for i := range n {
				m, err := h.Next()
				require.NoError(t, err)
				ev, err := projections.Decode(m.Data)
				require.NoError(t, err, "event %d: %s", i, m.Data)
				require.False(t, ev.Ignored(), "%s is a kind the projection knows", ev.Type)
				require.Equal(t, wantSubject(schema, "hist", ev.Kind), m.Subject)
				require.Equal(t, ev.ID, m.Header.Get(nats.MsgIdHdr))
				require.Regexp(t, traceparentPattern, m.Header.Get(sim.HeaderTraceparent))
				evs = append(evs, event{msg: m, ev: ev})
			}
			requireKinds(t, schema, evs)
			heartbeats := of(evs, projections.KindHostHeartbeat, "")
			share := 1 - float64(len(heartbeats))/n
			require.InDelta(t, 0.25, share, 0.08, "share of lifecycle events")
			first := map[string]bool{}
			for _, e := range heartbeats[:hosts/2] {
				first[e.ev.HostID] = true
				hb := e.ev.Data.(*projections.Heartbeat)
				require.Positive(t, hb.UptimeSeconds, "hosts have been up before the history began")
			}
			require.Len(t, first, hosts/2, "heartbeats go round-robin across hosts")
		})
	}
	t.Run("without message ids", func(t *testing.T) {
		h, err := sim.NewHistory(sim.Config{Hosts: 3, Seed: testSeed}, 0.5)
		require.NoError(t, err)
		h.OmitMsgIDs()
		for range 50 {
			m, err := h.Next()
			require.NoError(t, err)
			require.Empty(t, m.Header.Values(nats.MsgIdHdr))
			require.Regexp(t, traceparentPattern, m.Header.Get(sim.HeaderTraceparent), "the trace context stays")
		}
	})
	t.Run("without churn only heartbeats", func(t *testing.T) {
		h, err := sim.NewHistory(sim.Config{Hosts: 3, Seed: testSeed}, 0)
		require.NoError(t, err)
		for range 50 {
			m, err := h.Next()
			require.NoError(t, err)
			ev, err := projections.Decode(m.Data)
			require.NoError(t, err)
			require.Equal(t, projections.KindHostHeartbeat, ev.Kind)
		}
	})
	for _, churn := range []float64{-0.1, 1.5} {
		t.Run(fmt.Sprintf("churn %v is rejected", churn), func(t *testing.T) {
			_, err := sim.NewHistory(sim.Config{}, churn)
			require.ErrorIs(t, err, sim.ErrInvalidConfig)
		})
	}
}
