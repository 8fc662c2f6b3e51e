package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// foldLines folds lines as `projector fold` does (line i is sequence i+1)
// and returns the hosts as canonical JSON by id, like mustKVHosts.
func foldLines(tb testing.TB, lines [][]byte) map[string]string {
	tb.Helper()
	f := projections.NewFolder("default")
	for i, l := range lines {
		_ = f.Add(uint64(i+1), l)
	}
	return hostsJSON(tb, f)
}

// streamEvent is an event as captured in the stream.
type streamEvent struct {
	seq     uint64
	subject string
	data    []byte
}

// mustStreamEvents reads the events the stream holds after seq.
func mustStreamEvents(tb testing.TB, js jetstream.JetStream, after uint64) []streamEvent {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []streamEvent
	forEachStreamMsg(tb, ctx, js, func(seq uint64, subject string, data []byte) {
		if seq > after {
			out = append(out, streamEvent{seq, subject, data})
		}
	})
	return out
}

// foldEvents folds the events of lattice "default" up to seq (0: all) as
// fold does, and returns the hosts like mustKVHosts.
func foldEvents(tb testing.TB, events []streamEvent, upTo uint64) map[string]string {
	tb.Helper()
	f := projections.NewFolder("default")
	for _, e := range events {
		if upTo > 0 && e.seq > upTo {
			break
		}
		if l, err := streams.LatticeOf(e.subject); err == nil && l == "default" {
			_ = f.Add(e.seq, e.data)
		}
	}
	return hostsJSON(tb, f)
}

// requireHostsEqual compares host documents as JSON.
func requireHostsEqual(tb testing.TB, want, got map[string]string, msgAndArgs ...any) {
	tb.Helper()
	require.Equal(tb, len(want), len(got), msgAndArgs...)
	for id, w := range want {
		require.JSONEq(tb, w, got[id], append([]any{"host " + id}, msgAndArgs...)...)
	}
}

// hostsAsOf reads ?as_of=n from the API, by host id.
func hostsAsOf(tb testing.TB, p *projectorProc, at string) (int, map[string]string, []byte) {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices/default/hosts?as_of=" + at)
	require.NoError(tb, err)
	if code != http.StatusOK {
		return code, nil, body
	}
	var hosts []json.RawMessage
	require.NoError(tb, json.Unmarshal(body, &hosts))
	out := map[string]string{}
	for _, raw := range hosts {
		h, err := projections.UnmarshalHost(raw)
		require.NoError(tb, err)
		b, err := projections.Marshal(h)
		require.NoError(tb, err)
		out[h.HostID] = string(b)
	}
	return code, out, body
}

// mustPurgeBelow drops every event below seq, as age limits do.
func mustPurgeBelow(tb testing.TB, js jetstream.JetStream, seq uint64) {
	tb.Helper()
	s, err := js.Stream(context.Background(), streams.EventsStream)
	require.NoError(tb, err)
	require.NoError(tb, s.Purge(context.Background(), jetstream.WithPurgeSequence(seq)))
	info, err := s.Info(context.Background())
	require.NoError(tb, err)
	require.Equal(tb, seq, info.State.FirstSeq)
}

// TestHistory_PurgedStream: once the events below K are gone, a point
// before the earliest snapshot the retained events continue answers 410
// naming it, points from there on equal fold of that prefix of the full
// history, and replay rebuilds LATTICE_STATE in place from the snapshot,
// read back with a plain KV client; later events land there too.
func TestHistory_PurgedStream(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "500")
	lines := workload(21, 60, 3000, 40)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, p, time.Minute)

	const k = 1001 // a snapshot is at 1000
	captured := mustStreamEvents(t, js, 0)
	// Asked before its events go, 999 is folded and kept; once they are
	// gone it is refused all the same.
	code, got, body := hostsAsOf(t, p, "999")
	require.Equal(t, http.StatusOK, code, "%s", body)
	requireHostsEqual(t, foldEvents(t, captured, 999), got, "as_of=999 before the purge")
	mustPurgeBelow(t, js, k)

	code, _, body = hostsAsOf(t, p, "999")
	require.Equal(t, http.StatusGone, code, "%s", body)
	var gone struct {
		Error    string `json:"error"`
		Earliest uint64 `json:"earliest_seq"`
		First    uint64 `json:"first_seq"`
	}
	require.NoError(t, json.Unmarshal(body, &gone))
	require.Equal(t, uint64(k-1), gone.Earliest, "%s", body)
	require.Equal(t, uint64(k), gone.First)
	require.Contains(t, gone.Error, "earliest point available is sequence 1000")

	for _, n := range []int{k - 1, k, 1234, 2001, 2999, 3000} {
		code, got, body := hostsAsOf(t, p, strconv.Itoa(n))
		require.Equal(t, http.StatusOK, code, "as_of=%d: %s", n, body)
		requireHostsEqual(t, foldEvents(t, captured, uint64(n)), got, "as_of=%d", n)
	}
	stream, err := js.Stream(context.Background(), streams.EventsStream)
	require.NoError(t, err)
	last := stream.CachedInfo().State.LastSeq // with the recorded outcomes of label requests
	code, _, body = hostsAsOf(t, p, strconv.FormatUint(last+1, 10))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), fmt.Sprintf(`"last_seq":%d`, last))

	code, body, err = p.get("/api/v1/lattices/default/history")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"earliest_seq":1000`)

	out, err := exec.Command(projectorBin, "get", "host", "--nats-url", s.ClientURL(), "--as-of", "999",
		"NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "earliest point available is sequence 1000")

	// A host document lost behind the projector's back comes back.
	kv := mustStateBucket(t, js)
	var lost string
	for id := range mustKVHosts(t, js, "default") {
		lost = id
		break
	}
	require.NoError(t, kv.Delete(context.Background(), streams.HostKey("default", lost)))
	out, err = exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, rebuiltLine, string(out))
	requireHostsEqual(t, foldEvents(t, captured, 0), mustKVHosts(t, js, "default"), "after replay")
	requireNoOtherStateBucket(t, js)

	more := workload(22, 60, 500, 40)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	natstest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		all := append(captured[:len(captured):len(captured)], mustStreamEvents(t, js, captured[len(captured)-1].seq)...)
		return hostsMatch(foldEvents(t, all, 0), mustKVHosts(t, js, "default"))
	})
	p.stop(t)
}

// hostsMatch is requireHostsEqual as an error, for polling.
func hostsMatch(want, got map[string]string) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d hosts, want %d", len(got), len(want))
	}
	for id, w := range want {
		if !jsonEqual(w, got[id]) {
			return fmt.Errorf("host %s differs", id)
		}
	}
	return nil
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestHistory_ReplayRefusesWithoutSnapshot: with the start of the history
// gone and no snapshot, replay refuses and the bucket is unchanged.
func TestHistory_ReplayRefusesWithoutSnapshot(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "0")
	lines := workload(23, 30, 600, 40)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, p, time.Minute)
	captured := mustStreamEvents(t, js, 0)
	mustPurgeBelow(t, js, 200)
	before := mustDocuments(t, mustStateBucket(t, js))

	out, err := exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL()).CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "replay must fail: %v\n%s", err, out)
	require.Contains(t, string(out), "replay refused, LATTICE_STATE is unchanged")
	require.Equal(t, before, mustDocuments(t, mustStateBucket(t, js)))
	code, _, body := hostsAsOf(t, p, "500")
	require.Equal(t, http.StatusGone, code, "%s", body)
	// The live projector got its lease back and goes on.
	more := workload(24, 30, 100, 40)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	natstest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		all := append(captured[:len(captured):len(captured)], mustStreamEvents(t, js, captured[len(captured)-1].seq)...)
		return hostsMatch(foldEvents(t, all, 0), mustKVHosts(t, js, "default"))
	})
	p.stop(t)
}

// TestHistory_ReplacedStream: LATTICE_EVENTS deleted and created again
// while the projector is down, new events numbered from 1: after the
// restart the state is the fold of the new stream, none skipped as
// already applied.
func TestHistory_ReplacedStream(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "300")
	old := workload(25, 50, 2000, 80)
	mustPublish(t, nc, streams.HostEventSubject("default"), old)
	requireStreamHas(t, js, uint64(len(old)))
	waitCaughtUp(t, p, time.Minute)
	p.stop(t)

	ctx := context.Background()
	require.NoError(t, js.DeleteStream(ctx, streams.EventsStream))
	_, err := streams.EnsureEvents(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	fresh := workload(26, 50, 1200, 80)
	mustPublish(t, nc, streams.HostEventSubject("default"), fresh)
	requireStreamHas(t, js, uint64(len(fresh)))

	p = mustStartProjector(t, s.ClientURL(), "--snapshot-every", "300")
	waitCaughtUp(t, p, time.Minute)
	requireKVEqualsFold(t, js, "default")
	requireHostsEqual(t, foldLines(t, fresh), foldEvents(t, mustStreamEvents(t, js, 0), uint64(len(fresh))), "the new stream starts with the new events")
	require.Contains(t, p.logs(), "not the one the state was built from")
	code, body, err := p.get("/metrics")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `latticestate_rebuilds_total{reason="replaced"} 1`)
	// as_of reads the new stream's snapshots only.
	code, got, raw := hostsAsOf(t, p, "900")
	require.Equal(t, http.StatusOK, code, "%s", raw)
	requireHostsEqual(t, foldLines(t, fresh[:900]), got, "as_of=900")
	p.stop(t)
}

// TestHistory_StateBucketDeleted: the state bucket deleted under a running
// projector is created again and rebuilt, without a restart.
func TestHistory_StateBucketDeleted(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "300")
	lines := workload(27, 40, 1500, 60)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, p, time.Minute)
	require.NoError(t, js.DeleteKeyValue(context.Background(), streams.StateBucket))
	more := workload(28, 40, 300, 60)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	all := append(append([][]byte{}, lines...), more...)
	natstest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
		if _, err := js.KeyValue(context.Background(), streams.StateBucket); err != nil {
			return err
		}
		return hostsMatch(foldEvents(t, mustStreamEvents(t, js, 0), 0), mustKVHosts(t, js, "default"))
	})
	require.Contains(t, p.logs(), "state bucket is gone")
	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, len(foldLines(t, all)), strings.Count(string(body), `"host_id"`))
	p.stop(t)
}

// TestDashboard_HistoryGone: the dashboard's as-of control shows how far
// back history goes, starts its slider there, and says so when a point
// asked for by time is gone.
func TestDashboard_HistoryGone(t *testing.T) {
	page := mustBrowser(t, 1280, 900)
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--snapshot-every", "500")
	lines := workload(29, 60, 1200, 40)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, p, time.Minute)
	mustPurgeBelow(t, js, 800)

	page.do(t, chromedp.Navigate(p.addr+"/"))
	page.waitFor(t, "the history range", `document.getElementById('asof-range').textContent.includes('from stream sequence 1000')`, 20*time.Second)
	require.Equal(t, "1000", eval[string](t, page, `document.getElementById('asof-seq').min`))
	eval[bool](t, page, setInput("asof-time", "2020-01-01T00:00:00"))
	eval[bool](t, page, `(document.getElementById('asof-form').requestSubmit(), true)`)
	page.waitFor(t, "the gone message", `document.getElementById('mode').textContent.includes('is gone') && `+
		`document.getElementById('mode').textContent.includes('earliest point available is stream sequence 1000')`, 20*time.Second)
	page.screenshot(t, "history-gone")
	p.stop(t)
}
