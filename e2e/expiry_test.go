package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/streams"
)

// expiredEvent is a recorded host_expired with its stream sequence.
type expiredEvent struct {
	Seq      uint64
	HostID   string  `json:"host_id"`
	LastSeen *string `json:"last_seen"`
	DocSeq   uint64  `json:"seq"`
}

// mustExpired reads every host_expired recorded for lattice, in stream
// order.
func mustExpired(tb testing.TB, js jetstream.JetStream, lattice string) []expiredEvent {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, streams.EventsStream)
	require.NoError(tb, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.RecordedEventSubject(lattice, "host_expired")}})
	require.NoError(tb, err)
	info, err := cons.Info(ctx)
	require.NoError(tb, err)
	var out []expiredEvent
	for range info.NumPending {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(tb, err)
		meta, err := m.Metadata()
		require.NoError(tb, err)
		var ev struct {
			Data expiredEvent `json:"data"`
		}
		require.NoError(tb, json.Unmarshal(m.Data(), &ev))
		ev.Data.Seq = meta.Sequence.Stream
		out = append(out, ev.Data)
	}
	return out
}

// apiHost is what the tests read of a host document.
type apiHost struct {
	HostID   string  `json:"host_id"`
	Status   string  `json:"status"`
	LastSeen *string `json:"last_seen"`
}

// mustAPIHosts lists the status of the hosts the projector serves, with
// query; a host up but not seen by a heartbeat yet is "up, no heartbeat
// yet".
func mustAPIHosts(tb testing.TB, p *projectorProc, query string) map[string]string {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices/default/hosts" + query)
	require.NoError(tb, err)
	require.Equal(tb, 200, code, "%s", body)
	var hosts []apiHost
	require.NoError(tb, json.Unmarshal(body, &hosts))
	out := map[string]string{}
	for _, h := range hosts {
		out[h.HostID] = h.Status
		if h.Status == "up" && h.LastSeen == nil {
			out[h.HostID] = "up, no heartbeat yet"
		}
	}
	return out
}

// TestServe_HostExpiry: hosts that fall silent without host_stopped go
// stale, `list` says how long they have left, and once nothing of them was
// captured for --host-expiry each is removed by exactly one host_expired
// event; the lattice as of just before that still lists them, the host that
// kept heartbeating stays, and a silent host that comes back is projected
// again as a new host.
func TestServe_HostExpiry(t *testing.T) {
	t.Parallel() // waits on timeouts and expiry more than it computes
	const interval, expiry = time.Second, 6 * time.Second
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--heartbeat-interval", interval.String(), "--host-expiry", expiry.String())
	lattice, err := sim.New(nc, sim.Config{Hosts: 3, Interval: interval, Seed: 7})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lattice.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	<-lattice.Ready()
	ids := lattice.HostIDs()
	silent, alive := ids[:2], ids[2]
	waitHosts := func(what string, within time.Duration, want map[string]string) {
		t.Helper()
		natstest.CheckFor(t, within, 50*time.Millisecond, func() error {
			got := mustAPIHosts(t, p, "")
			for id, status := range want {
				if got[id] != status {
					return fmt.Errorf("%s: host %s is %q, want %q (all: %v)", what, id, got[id], status, got)
				}
			}
			return nil
		})
	}
	// Heartbeats give each host a last_seen, from which list tells how
	// long a stale host has left.
	waitHosts("all up", 10*time.Second, map[string]string{ids[0]: "up", ids[1]: "up", alive: "up"})

	for _, id := range silent {
		require.NoError(t, lattice.Pause(id))
	}
	paused := time.Now()
	waitHosts("silent hosts stale", 10*time.Second, map[string]string{silent[0]: "stale", silent[1]: "stale", alive: "up"})
	t.Logf("stale %v after the hosts went silent", time.Since(paused).Round(time.Millisecond))

	// list tells how long they have left; the host that is up has no expiry.
	out := runCLI(t, "list", "hosts", "--nats-url", s.ClientURL())
	for _, id := range silent {
		require.Regexp(t, regexp.MustCompile(id+`\s.*\sstale\s.*\s(in [1-6]s|due)\s`), out)
	}
	require.Regexp(t, regexp.MustCompile(alive+`\s.*\sup\s.*\s-\s`), out)

	// Removed (404) once silent for the expiry, not before.
	natstest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		for _, id := range silent {
			if code, body, err := p.get("/api/v1/lattices/default/hosts/" + id); err != nil || code != 404 {
				return fmt.Errorf("host %s: %d %s %v", id, code, body, err)
			}
		}
		return nil
	})
	took := time.Since(paused)
	t.Logf("removed %v after the hosts went silent (expiry %v)", took.Round(time.Millisecond), expiry)
	// The last heartbeat was captured at most one interval before the pause.
	require.GreaterOrEqual(t, took, expiry-interval, "removed before the expiry")
	require.Equal(t, map[string]string{alive: "up"}, mustAPIHosts(t, p, ""))

	expired := mustExpired(t, js, "default")
	require.Len(t, expired, 2, "one host_expired per silent host: %+v", expired)
	require.ElementsMatch(t, silent, []string{expired[0].HostID, expired[1].HostID})
	for _, e := range expired {
		require.NotNil(t, e.LastSeen, "host_expired carries the last_seen it judged by")
		require.Positive(t, e.DocSeq)
	}

	// As of just before the first host_expired both silent hosts are there,
	// stale; as of the second, neither is.
	before := strconv.FormatUint(expired[0].Seq-1, 10)
	require.Equal(t, map[string]string{silent[0]: "stale", silent[1]: "stale", alive: "up"},
		mustAPIHosts(t, p, "?as_of="+before))
	after := mustAPIHosts(t, p, "?as_of="+strconv.FormatUint(expired[1].Seq, 10))
	require.NotContains(t, after, silent[0])
	require.NotContains(t, after, silent[1])

	// A host that comes back is projected again.
	require.NoError(t, lattice.Resume(silent[0]))
	waitHosts("host back", 5*time.Second, map[string]string{silent[0]: "up", alive: "up"})
	require.Len(t, mustExpired(t, js, "default"), 2, "no host_expired since")
	p.stop(t)
}

// TestDashboard_HostExpiry: the dashboard says when a stale host will be
// removed, from its last_seen and the expiry serve runs with, and says
// nothing of it for hosts that are up or for the lattice as it was.
func TestDashboard_HostExpiry(t *testing.T) {
	page := mustBrowser(t, 1280, 900)
	s := natstest.MustRunServer(t)
	p := mustStartProjector(t, s.ClientURL(), "--heartbeat-interval", "300ms", "--host-expiry", "1h")
	host := func(i int, name string) *fakeHost {
		return &fakeHost{id: eventtest.HostID(i), actors: map[string]uint64{},
			info: eventtest.HostInfo{FriendlyName: name, Version: "1.0.0", Labels: map[string]string{"zone": "a"}}}
	}
	alpha, bravo := host(301, "alpha"), host(302, "bravo")
	startFakeLattice(t, s.ClientURL(), 100*time.Millisecond, alpha, bravo)

	page.do(t, chromedp.Navigate(p.addr+"/"))
	page.waitFor(t, "two hosts, connected", jsHostIDs+`.length === 2 && `+jsConn+` === 'connected'`, 20*time.Second)
	bravo.mu.Lock()
	bravo.silent = true
	bravo.mu.Unlock()
	page.waitFor(t, "bravo stale, expiring in about an hour", jsCard(bravo.id)+`?.dataset.status === 'stale' && `+
		jsCardHas(bravo.id, "Expires")+` && `+jsCardHas(bravo.id, "in 59 min"), 10*time.Second)
	require.False(t, eval[bool](t, page, jsCardHas(alpha.id, "Expires")), "a host that is up does not expire")
	page.screenshot(t, "stale-expires")

	past := mustMaxSeq(t, p)
	eval[bool](t, page, setInput("asof-seq", strconv.FormatUint(past, 10)))
	page.waitFor(t, "as of now: bravo stale, no expiry", jsConn+` === 'paused' && `+jsCard(bravo.id)+`?.dataset.status === 'stale' && !`+
		jsCardHas(bravo.id, "Expires"), 10*time.Second)
	page.do(t, chromedp.Click(chromedp.ID("live")))
	page.waitFor(t, "live again, with the expiry", jsConn+` === 'connected' && `+jsCardHas(bravo.id, "in 59 min"), 10*time.Second)
	p.stop(t)
}
