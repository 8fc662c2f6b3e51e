package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

func mustReadLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	require.NoError(tb, err)
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	require.NoError(tb, sc.Err())
	return lines
}

func mustPublish(tb testing.TB, nc *nats.Conn, subject string, lines [][]byte) {
	tb.Helper()
	for _, l := range lines {
		require.NoError(tb, nc.Publish(subject, l))
	}
	require.NoError(tb, nc.Flush())
}

// TestServe_FixtureEqualsFold: the fixture published by a host connection
// gives, over HTTP and in the bucket, the lattice document fold prints.
func TestServe_FixtureEqualsFold(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	mustPublish(t, nc, streams.HostEventSubject("default"), mustReadLines(t, "testdata/otp_sequence.jsonl"))
	waitCaughtUp(t, p, 10*time.Second)

	out, err := exec.Command(projectorBin, "fold", "testdata/otp_sequence.jsonl").Output()
	require.NoError(t, err)
	expected, err := os.ReadFile("testdata/otp_sequence.expected.json")
	require.NoError(t, err)
	require.JSONEq(t, string(expected), string(out))
	var doc struct {
		Hosts map[string]json.RawMessage `json:"hosts"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.NotEmpty(t, doc.Hosts)

	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var list []json.RawMessage
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list, len(doc.Hosts))
	kv := mustKVHosts(t, js, "default")
	for id, want := range doc.Hosts {
		code, body, err := p.get("/api/v1/lattices/default/hosts/" + id)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		require.JSONEq(t, string(want), string(body))
		require.JSONEq(t, string(want), kv[id])
	}
	require.JSONEq(t, string(doc.Hosts["NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I"]), string(list[0]))

	code, body, err = p.get("/api/v1/lattices/default/hosts/" + eventtest.HostID(1))
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, string(body), `"error"`)
	p.stop(t)
}

// publisher streams lines to subject at about rate per second, in order, on
// its own connection, and reports how many it published.
func publisher(tb testing.TB, url, subject string, lines [][]byte, perSecond int) (wait func() int) {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(64<<20))
	require.NoError(tb, err)
	var wg sync.WaitGroup
	sent := 0
	wg.Go(func() {
		defer nc.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(perSecond/100, 1)
		for sent < len(lines) {
			<-tick.C
			for range per {
				if sent == len(lines) {
					break
				}
				if err := nc.Publish(subject, lines[sent]); err != nil {
					tb.Errorf("publish %d: %v", sent, err)
					return
				}
				sent++
			}
		}
		if err := nc.FlushTimeout(30 * time.Second); err != nil {
			tb.Errorf("flush: %v", err)
		}
	})
	return func() int {
		wg.Wait()
		return sent
	}
}

// requireStreamHas waits until the event stream holds n messages.
func requireStreamHas(tb testing.TB, js jetstream.JetStream, n uint64) {
	tb.Helper()
	natstest.CheckFor(tb, 30*time.Second, 50*time.Millisecond, func() error {
		s, err := js.Stream(context.Background(), streams.EventsStream)
		if err != nil {
			return err
		}
		info, err := s.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs < n {
			return fmt.Errorf("stream has %d of %d events", info.State.Msgs, n)
		}
		return nil
	})
}

// TestServe_CrashSafety kills the projector with SIGKILL at random points
// (3 times, 5 under soak) while 5k events (20k under soak) stream in,
// restarts it each time, and requires the bucket to equal the fold of
// everything captured: nothing lost, nothing doubled.
func TestServe_CrashSafety(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	events, kills := soakSize(5_000, 20_000), soakSize(3, 5)
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	lines := workload(7, 200, events, 0)
	r := rand.New(rand.NewPCG(1, 2))

	// Snapshots every 100 to 600 sequences: kills land while they are
	// written too.
	snapshotEvery := func() string { return strconv.Itoa(100 + r.IntN(500)) }
	p := mustStartProjector(t, s.ClientURL(), "--batch-size", "200", "--snapshot-every", snapshotEvery())
	wait := publisher(t, s.ClientURL(), streams.HostEventSubject("default"), lines, events/8)
	gapFills := 0
	for i := range kills {
		time.Sleep(time.Duration(300+r.IntN(900)) * time.Millisecond)
		p.kill(t)
		gapFills += strings.Count(p.logs(), "filling gap")
		t.Logf("kill %d: projector killed", i+1)
		p = mustStartProjector(t, s.ClientURL(), "--batch-size", strconv.Itoa(50+r.IntN(400)), "--flush-window", strconv.Itoa(1+r.IntN(5000)),
			"--snapshot-every", snapshotEvery())
	}
	require.Equal(t, len(lines), wait())
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, p, 60*time.Second)
	f := requireKVEqualsFold(t, js, "default")
	require.NotEmpty(t, f.Lattice.Hosts)
	gapFills += strings.Count(p.logs(), "filling gap")
	t.Logf("%d kills, %d gap fills from the stream, %d hosts", kills, gapFills, len(f.Lattice.Hosts))

	// Time travel from the snapshots written across the kills equals fold.
	captured := mustStreamEvents(t, js, 0)
	for _, n := range []uint64{uint64(events) / 3, uint64(events) / 2, uint64(events) - 1} {
		code, got, body := hostsAsOf(t, p, strconv.FormatUint(n, 10))
		require.Equal(t, http.StatusOK, code, "%s", body)
		requireHostsEqual(t, foldEvents(t, captured, n), got, "as_of=%d", n)
	}

	// A replay killed half way leaves the state to the live projector,
	// which gets its lease back and ends equal to fold.
	replay := exec.Command(projectorBin, "replay", "--nats-url", s.ClientURL())
	require.NoError(t, replay.Start())
	time.Sleep(time.Duration(200+r.IntN(2000)) * time.Millisecond)
	require.NoError(t, replay.Process.Kill())
	_ = replay.Wait()
	more := workload(8, 200, 500, 0)
	mustPublish(t, nc, streams.HostEventSubject("default"), more)
	requireStreamHas(t, js, uint64(len(lines)+len(more)))
	waitCaughtUp(t, p, 90*time.Second)
	requireKVEqualsFold(t, js, "default")
	p.stop(t)
}

// TestServe_NATSRestart restarts the NATS server itself while events stream
// in (3k events, 10k under soak); the projector reconnects and the bucket
// equals the fold of the stream.
func TestServe_NATSRestart(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	events := soakSize(3_000, 10_000)
	dir := t.TempDir()
	s := natstest.MustRunServerIn(t, dir, -1)
	port := s.Addr().(*net.TCPAddr).Port
	url := s.ClientURL()
	p := mustStartProjector(t, url, "--batch-size", "100")
	lines := workload(11, 100, events, 0)
	wait := publisher(t, url, streams.HostEventSubject("default"), lines, events/5)

	time.Sleep(1500 * time.Millisecond)
	s.Shutdown()
	s.WaitForShutdown()
	t.Log("nats-server stopped")
	time.Sleep(500 * time.Millisecond)
	s = natstest.MustRunServerIn(t, dir, port)
	t.Log("nats-server restarted")
	_, js := natstest.MustConnect(t, s)

	require.Equal(t, len(lines), wait())
	// Events in flight at the moment the server stopped may not have been
	// captured; the projection must equal whatever the stream holds.
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if err := p.ready(); err != nil {
			return err
		}
		stream, err := js.Stream(context.Background(), streams.EventsStream)
		if err != nil {
			return err
		}
		info, err := stream.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs == 0 {
			return fmt.Errorf("empty stream")
		}
		return nil
	})
	waitCaughtUp(t, p, 60*time.Second)
	requireKVEqualsFold(t, js, "default")
	p.stop(t)
}
