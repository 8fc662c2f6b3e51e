package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// mustDocuments reads every document of a bucket (hosts, links, ref maps;
// not the checkpoints) as stored.
func mustDocuments(tb testing.TB, kv jetstream.KeyValue) map[string]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	require.NoError(tb, err)
	defer func() { require.NoError(tb, w.Stop()) }()
	out := map[string]string{}
	for e := range w.Updates() {
		if e == nil {
			return out
		}
		if !strings.HasPrefix(e.Key(), "_meta.") {
			out[e.Key()] = string(e.Value())
		}
	}
	tb.Fatal("watch closed")
	return nil
}

var rebuiltLine = regexp.MustCompile(`rebuilt LATTICE_STATE up to stream sequence (\d+) in`)

// requireNoOtherStateBucket asserts that LATTICE_STATE is the only state
// bucket: replay leaves none behind.
func requireNoOtherStateBucket(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	names := js.KeyValueStoreNames(context.Background())
	for n := range names.Name() {
		require.False(tb, strings.HasPrefix(n, streams.StateBucket+"_"), "bucket %s left behind", n)
	}
	require.NoError(tb, names.Error())
}

// TestReplay_RebuildsInPlace: a replay of a 10k-event stream (100k under
// soak) while the live projector keeps serving rebuilds LATTICE_STATE in
// place: a document damaged behind the projector's back is corrected,
// every other document is unchanged, no other bucket is made, and the live
// projector goes on writing there. replay --to-seq prints the state as it
// was, as fold of that prefix.
func TestReplay_RebuildsInPlace(t *testing.T) {
	events := soakSize(10_000, 100_000)
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "5000")
	t0 := time.Now()
	lines := workload(5, 2000, events, 50)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(events))
	waitCaughtUp(t, p, 2*time.Minute)
	t.Logf("published and caught up in %v", time.Since(t0))
	ctx := context.Background()
	kv := mustStateBucket(t, js)
	live := mustDocuments(t, kv)

	// A document damaged behind the projector's back, as a bad restore or
	// a stray write would.
	var damaged string
	for k := range live {
		if strings.HasPrefix(k, "default.hosts.") {
			damaged = k
			break
		}
	}
	_, err := kv.Put(ctx, damaged, []byte(`{"host_id":"damaged"}`))
	require.NoError(t, err)

	// The live projector keeps answering while the replay runs.
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, _, err := p.get("/api/v1/lattices/default/hosts"); err == nil && code == http.StatusOK {
				served.Add(1)
			} else {
				failed.Add(1)
			}
		}
	})
	start := time.Now()
	out, err := exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL()).CombinedOutput()
	close(stop)
	wg.Wait()
	require.NoError(t, err, "%s", out)
	t.Logf("replay of %d events: %v; %s", events, time.Since(start), strings.TrimSpace(string(out)))
	require.NotContains(t, string(out), "\r", "no progress bar without a terminal")
	require.Regexp(t, rebuiltLine, string(out))
	require.Positive(t, served.Load())
	require.Zero(t, failed.Load())
	requireNoOtherStateBucket(t, js)

	got := mustDocuments(t, kv)
	require.Equal(t, len(live), len(got))
	for k, v := range live {
		require.Equal(t, v, got[k], "key %s", k)
	}

	// Later events land in LATTICE_STATE, which the live projector
	// follows again.
	more := workload(6, 2000, 2000, 50)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	requireStreamHas(t, js, uint64(events+len(more)))
	waitCaughtUp(t, p, time.Minute)
	f := requireKVEqualsFold(t, js, "default")
	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, len(f.Lattice.Hosts), strings.Count(string(body), `"host_id"`))
	require.Contains(t, p.logs(), "handing the lease over on request")

	// The state as it was at seq 5003, printed, the bucket untouched.
	cmd := exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL(), "--to-seq", "5003", "--lattice", "default")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s", stderr.String())
	var doc struct {
		Hosts map[string]json.RawMessage `json:"hosts"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &doc))
	prefix := projections.NewFolder("default")
	for i, l := range lines[:5003] {
		_ = prefix.Add(uint64(i+1), l)
	}
	want := hostsJSON(t, prefix)
	require.Equal(t, len(want), len(doc.Hosts))
	for id, w := range want {
		require.JSONEq(t, w, string(doc.Hosts[id]), "host %s as of 5003", id)
	}
	p.stop(t)
}
