package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// latticeGauge is one sample of a lattice gauge in /metrics.
var latticeGauge = regexp.MustCompile(`^(latticestate_lattice_\w+)\{([^}]*)\} (\S+)$`)

// mustLatticeGauges scrapes the lattice gauges: "name{labels}" → value.
func mustLatticeGauges(tb testing.TB, p *projectorProc) map[string]float64 {
	tb.Helper()
	code, body, err := p.get("/metrics")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		m := latticeGauge.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(tb, err, line)
		out[m[1]+"{"+m[2]+"}"] = v
	}
	return out
}

// gaugesFromAPI computes the lattice gauges from what the API serves: every
// lattice's hosts, by status, their actor instances and providers by
// status.
func gaugesFromAPI(tb testing.TB, p *projectorProc) map[string]float64 {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	var lattices []string
	require.NoError(tb, json.Unmarshal(body, &lattices))
	out := map[string]float64{}
	for _, l := range lattices {
		code, body, err := p.get("/api/v1/lattices/" + l + "/hosts")
		require.NoError(tb, err)
		require.Equal(tb, 200, code)
		var hosts []*projections.Host
		require.NoError(tb, json.Unmarshal(body, &hosts))
		if len(hosts) == 0 {
			continue
		}
		instances := 0.0
		for _, h := range hosts {
			out[fmt.Sprintf(`latticestate_lattice_hosts{lattice=%q,status=%q}`, l, h.Status)]++
			for _, a := range h.Actors {
				instances += float64(a.Count)
			}
			for _, pr := range h.Providers {
				out[fmt.Sprintf(`latticestate_lattice_providers{lattice=%q,status=%q}`, l, pr.Status)]++
			}
		}
		out[fmt.Sprintf(`latticestate_lattice_actor_instances{lattice=%q}`, l)] = instances
	}
	return out
}

// TestServe_LatticeGauges: after a known sequence of events, every lattice
// gauge in /metrics equals the state the API serves; the series of a
// lattice whose hosts all stopped, and of a status no host has any more,
// are gone.
func TestServe_LatticeGauges(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, _ := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	httpP := eventtest.Provider{ID: "VHTTPSERVER", LinkName: "default", ContractID: "wasmcloud:httpserver"}
	kvP := eventtest.Provider{ID: "VKEYVALUE", LinkName: "cache", ContractID: "wasmcloud:keyvalue"}
	hb := func(i int, actors map[string]uint64, providers ...eventtest.Provider) []byte {
		return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprint("h", i), Version: "1.0.0", Labels: map[string]string{"zone": "a"}},
			Actors:   actors, Providers: providers})
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), [][]byte{
		hb(1, map[string]uint64{"MECHO": 3, "MKV": 1}, httpP, kvP),
		hb(2, map[string]uint64{"MECHO": 2}, httpP),
		hb(3, nil),
		eventtest.HealthCheck(eventtest.HostID(1), false, kvP),
		eventtest.HealthCheck(eventtest.HostID(2), true, httpP),
		eventtest.ActorStarted(eventtest.HostID(3), "MECHO"),
	})
	mustPublish(t, nc, streams.RecordedEventSubject("default", "host_stale"), [][]byte{eventtest.HostStale(eventtest.HostID(3))})
	mustPublish(t, nc, streams.HostEventSubject("edge"), [][]byte{hb(10, map[string]uint64{"MECHO": 1}, httpP)})
	waitCaughtUp(t, p, 30*time.Second)

	want := map[string]float64{
		`latticestate_lattice_hosts{lattice="default",status="stale"}`:         1,
		`latticestate_lattice_hosts{lattice="default",status="up"}`:            2,
		`latticestate_lattice_actor_instances{lattice="default"}`:              7,
		`latticestate_lattice_providers{lattice="default",status="Awaiting"}`:  1,
		`latticestate_lattice_providers{lattice="default",status="Healthy"}`:   1,
		`latticestate_lattice_providers{lattice="default",status="Unhealthy"}`: 1,
		`latticestate_lattice_hosts{lattice="edge",status="up"}`:               1,
		`latticestate_lattice_actor_instances{lattice="edge"}`:                 1,
		`latticestate_lattice_providers{lattice="edge",status="Awaiting"}`:     1,
	}
	require.Equal(t, want, gaugesFromAPI(t, p), "the sequence gives the state expected")
	require.Equal(t, want, mustLatticeGauges(t, p))

	// The edge lattice empties, the stale host comes back, the unhealthy
	// provider stops.
	mustPublish(t, nc, streams.HostEventSubject("edge"), [][]byte{eventtest.HostStopped(eventtest.HostID(10), nil)})
	mustPublish(t, nc, streams.HostEventSubject("default"), [][]byte{
		hb(3, map[string]uint64{"MECHO": 1}),
		eventtest.ProviderStopped(eventtest.HostID(1), kvP),
	})
	waitCaughtUp(t, p, 30*time.Second)
	want = map[string]float64{
		`latticestate_lattice_hosts{lattice="default",status="up"}`:           3,
		`latticestate_lattice_actor_instances{lattice="default"}`:             7,
		`latticestate_lattice_providers{lattice="default",status="Awaiting"}`: 1,
		`latticestate_lattice_providers{lattice="default",status="Healthy"}`:  1,
	}
	require.Equal(t, want, gaugesFromAPI(t, p))
	require.Equal(t, want, mustLatticeGauges(t, p))
	p.stop(t)
}
