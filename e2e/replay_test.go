package e2e

import (
	"context"
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

var switchedLine = regexp.MustCompile(`readers switched from (\S+) to (\S+);`)

// TestReplay_EqualsLive: replaying a 100k-event stream into a new bucket
// while the live projector keeps serving gives the live bucket key by key;
// readers and the live projector then move to it, and later events land
// there. A replay --to-seq builds the state as it was, as fold of that
// prefix.
func TestReplay_EqualsLive(t *testing.T) {
	events := 100_000
	if testing.Short() {
		events = 20_000
	}
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	t0 := time.Now()
	lines := workload(5, 2000, events, 50)
	t.Logf("generated in %v", time.Since(t0))
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(events))
	t.Logf("published in %v", time.Since(t0))
	waitCaughtUp(t, p, 2*time.Minute)
	t.Logf("caught up in %v", time.Since(t0))
	ctx := context.Background()
	old, err := js.KeyValue(ctx, streams.StateBucket)
	require.NoError(t, err)
	live := mustDocuments(t, old)

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
	m := switchedLine.FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	require.Equal(t, streams.StateBucket, m[1])
	require.Positive(t, served.Load())
	require.Zero(t, failed.Load())

	rebuilt, err := js.KeyValue(ctx, m[2])
	require.NoError(t, err)
	got := mustDocuments(t, rebuilt)
	for k, v := range live {
		require.Equal(t, v, got[k], "key %s", k)
	}
	for k := range got {
		require.Contains(t, live, k)
	}

	t.Logf("compared in %v", time.Since(t0))
	// Later events land in the new bucket, which readers now use.
	more := workload(6, 2000, 2000, 50)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	requireStreamHas(t, js, uint64(events+len(more)))
	waitCaughtUp(t, p, time.Minute)
	require.Equal(t, m[2], mustActiveBucket(t, js).Bucket())
	f := requireKVEqualsFold(t, js, "default")
	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, len(f.Lattice.Hosts), strings.Count(string(body), `"host_id"`))

	t.Logf("folded in %v", time.Since(t0))
	// The state as it was at seq 5000.
	out, err = exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL(), "--to-seq", "5000", "--bucket", "AT_5000").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "readers stay on "+m[2])
	at, err := js.KeyValue(ctx, "AT_5000")
	require.NoError(t, err)
	prefix := projections.NewFolder("default")
	for i, l := range lines[:5000] {
		_ = prefix.Add(uint64(i+1), l)
	}
	gotAt := map[string]string{}
	for k, v := range mustDocuments(t, at) {
		if strings.HasPrefix(k, "default.hosts.") {
			gotAt[strings.TrimPrefix(k, "default.hosts.")] = v
		}
	}
	want := hostsJSON(t, prefix)
	require.Equal(t, len(want), len(gotAt))
	for id, w := range want {
		require.JSONEq(t, w, gotAt[id], "host %s as of 5000", id)
	}
	p.stop(t)
}
