package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// mustFoldStream folds every event of lattice captured in the event stream,
// with its stream sequence, exactly as `projector fold` folds lines: the state the
// live projection must equal.
func mustFoldStream(tb testing.TB, js jetstream.JetStream, lattice string) *projections.Folder {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	folder := projections.NewFolder(lattice)
	forEachStreamMsg(tb, ctx, js, func(seq uint64, subject string, data []byte) {
		if l, err := streams.LatticeOf(subject); err == nil && l == lattice {
			_ = folder.AddFrom(pipeline.OriginOf(subject), seq, data)
		}
	})
	return folder
}

// mustKVHosts reads every host document of lattice from the bucket, as
// canonical JSON by host id.
func mustKVHosts(tb testing.TB, js jetstream.JetStream, lattice string) map[string]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv := mustStateBucket(tb, js)
	w, err := kv.Watch(ctx, streams.HostKeys(lattice), jetstream.IgnoreDeletes())
	require.NoError(tb, err)
	defer func() { require.NoError(tb, w.Stop()) }()
	out := map[string]string{}
	for e := range w.Updates() {
		if e == nil {
			return out
		}
		h, err := projections.UnmarshalHost(e.Value())
		require.NoError(tb, err)
		b, err := projections.Marshal(h)
		require.NoError(tb, err)
		out[h.HostID] = string(b)
	}
	tb.Fatal("watch closed before the initial values")
	return nil
}

// hostsJSON encodes a fold's hosts like mustKVHosts.
func hostsJSON(tb testing.TB, f *projections.Folder) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for id, h := range f.Lattice.Hosts {
		b, err := projections.Marshal(h)
		require.NoError(tb, err)
		out[id] = string(b)
	}
	return out
}

// requireKVEqualsFold asserts the bucket holds exactly the hosts that
// folding the whole stream gives, document for document.
func requireKVEqualsFold(tb testing.TB, js jetstream.JetStream, lattice string) *projections.Folder {
	tb.Helper()
	f := mustFoldStream(tb, js, lattice)
	want := hostsJSON(tb, f)
	got := mustKVHosts(tb, js, lattice)
	require.Equal(tb, len(want), len(got), "host count")
	for id, w := range want {
		require.JSONEq(tb, w, got[id], "host %s", id)
	}
	return f
}

// waitCaughtUp waits until the projector has no label request in flight
// (their outcomes are events too) and is ready: every captured event is
// applied.
func waitCaughtUp(tb testing.TB, p *projectorProc, total time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	// Twice in a row: a label request handed to the enricher is counted
	// in flight a moment after it stops being held.
	quiet := 0
	for time.Now().Before(deadline) {
		if err = p.settled(); err == nil {
			err = p.ready()
		}
		if quiet = quiet + 1; err != nil {
			quiet = 0
		}
		if quiet == 2 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	tb.Fatalf("projector not caught up after %v: %v\n%s", total, err, p.logs())
}

// workload generates n valid lattice events over hosts hosts: heartbeats
// (heartbeatPct percent of them) and lifecycle churn, with the inventory
// each host's heartbeats report kept consistent with its lifecycle events.
// Few heartbeats make a lost or doubled lifecycle event visible in the
// final state, since a heartbeat resets the inventory.
func workload(seed uint64, hosts, n, heartbeatPct int) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type host struct {
		actors    map[string]uint64
		providers map[string]eventtest.Provider
	}
	state := make([]host, hosts)
	for i := range state {
		state[i] = host{actors: map[string]uint64{}, providers: map[string]eventtest.Provider{}}
	}
	actorIDs := []string{
		"MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5",
		"MB2ZQB6ROOMAYBO4ZCTFYWN7YIVBWA3MTKZYAQKJMTIHE2ELLRW2E3ZW",
		"MCUCZ7KMLELG5ZMEFDD5PIA4OVPKKLVBMXHFJKMQE7ZFVV5FXDRHV3RM",
	}
	providers := []eventtest.Provider{
		{ID: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", LinkName: "default", ContractID: "wasmcloud:httpserver"},
		{ID: "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB", LinkName: "default", ContractID: "wasmcloud:keyvalue"},
		{ID: "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB", LinkName: "cache", ContractID: "wasmcloud:keyvalue"},
	}
	out := make([][]byte, 0, n)
	for len(out) < n {
		i := r.IntN(hosts)
		id := eventtest.HostID(i)
		h := &state[i]
		// Each event has its own id, as a real host's would: a publisher
		// that retries with Nats-Msg-Id = id must not lose a look-alike.
		n := len(out)
		when := eventtest.Option(func(env map[string]any) {
			env["time"] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano)
			env["id"] = fmt.Sprintf("workload-%d-%d", seed, n)
		})
		k := r.IntN(100)
		if k >= heartbeatPct {
			k = 70 + (k-heartbeatPct)*30/(100-heartbeatPct)
		}
		switch {
		case k < heartbeatPct:
			var ps []eventtest.Provider
			for _, p := range providers {
				if _, ok := h.providers[p.ID+"/"+p.LinkName]; ok {
					ps = append(ps, p)
				}
			}
			out = append(out, eventtest.HostHeartbeat(id, eventtest.Heartbeat{
				HostInfo: eventtest.HostInfo{
					FriendlyName: fmt.Sprintf("host-%d", i), Version: "0.56.0",
					UptimeSeconds: uint64(len(out)), UptimeHuman: "a while",
					Labels: map[string]string{"hostcore.os": "linux", "zone": fmt.Sprintf("z%d", i%3)},
				},
				Actors: h.actors, Providers: ps,
			}, when))
		case k < 80:
			a := actorIDs[r.IntN(len(actorIDs))]
			h.actors[a]++
			out = append(out, eventtest.ActorStarted(id, a, when))
		case k < 87:
			a := actorIDs[r.IntN(len(actorIDs))]
			if h.actors[a] > 0 {
				h.actors[a]--
				if h.actors[a] == 0 {
					delete(h.actors, a)
				}
			}
			out = append(out, eventtest.ActorStopped(id, a, when))
		case k < 92:
			p := providers[r.IntN(len(providers))]
			h.providers[p.ID+"/"+p.LinkName] = p
			out = append(out, eventtest.ProviderStarted(id, p, when))
		case k < 95:
			p := providers[r.IntN(len(providers))]
			delete(h.providers, p.ID+"/"+p.LinkName)
			out = append(out, eventtest.ProviderStopped(id, p, when))
		case k < 99:
			p := providers[r.IntN(len(providers))]
			out = append(out, eventtest.HealthCheck(id, r.IntN(2) == 0, p, when))
		default:
			*h = host{actors: map[string]uint64{}, providers: map[string]eventtest.Provider{}}
			out = append(out, eventtest.HostStopped(id, nil, when))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func writeFile(name string, b []byte) error { return os.WriteFile(name, b, 0o644) }

// errNotYet is what a CheckFor poll returns while waiting.
var errNotYet = errors.New("not yet")

// mustStateBucket opens the state bucket with a plain KV client.
func mustStateBucket(tb testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	tb.Helper()
	kv, err := js.KeyValue(context.Background(), streams.StateBucket)
	require.NoError(tb, err)
	return kv
}
