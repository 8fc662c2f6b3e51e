package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/projections"
	"latticestate/streams"
)

// testSeed makes every test's hosts and churn choices the same on every run.
const testSeed = 20240306

// traceparentPattern is a W3C traceparent of version 00, sampled.
var traceparentPattern = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)

// mustConnect starts a server and returns two connections to it: one for the
// simulated hosts, one for the test to observe and ask with.
func mustConnect(tb testing.TB) (hosts, observer *nats.Conn) {
	tb.Helper()
	s := natstest.MustRunServer(tb)
	hosts, _ = natstest.MustConnect(tb, s)
	observer, _ = natstest.MustConnect(tb, s)
	return hosts, observer
}

// capture records every message on the host event subjects.
type capture struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func mustCapture(tb testing.TB, nc *nats.Conn) *capture {
	tb.Helper()
	c := &capture{}
	sub, err := nc.Subscribe(streams.HostEventsSubjects, func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	require.NoError(tb, err)
	require.NoError(tb, sub.SetPendingLimits(-1, -1))
	require.NoError(tb, nc.Flush())
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

func (c *capture) all() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

// event is a captured message with its decoded event.
type event struct {
	msg *nats.Msg
	ev  projections.Event
}

// mustDecodeAll decodes every captured message, failing on any rejection.
func (c *capture) mustDecodeAll(tb testing.TB) []event {
	tb.Helper()
	var out []event
	for i, m := range c.all() {
		ev, err := projections.Decode(m.Data)
		require.NoError(tb, err, "message %d on %s: %s", i, m.Subject, m.Data)
		out = append(out, event{msg: m, ev: ev})
	}
	return out
}

// waitFor polls until the capture holds n messages.
func (c *capture) waitFor(tb testing.TB, n uint64) {
	tb.Helper()
	natstest.CheckFor(tb, 10*time.Second, 10*time.Millisecond, func() error {
		if got := uint64(len(c.all())); got != n {
			return fmt.Errorf("captured %d messages, want %d", got, n)
		}
		return nil
	})
}

// of returns the decoded events of kind (any kind for "") from host ("" for
// any host).
func of(evs []event, kind projections.Kind, hostID string) []event {
	var out []event
	for _, e := range evs {
		if (kind == "" || e.ev.Kind == kind) && (hostID == "" || e.ev.HostID == hostID) {
			out = append(out, e)
		}
	}
	return out
}

// dataOf returns an event's data as generic JSON.
func dataOf(tb testing.TB, m *nats.Msg) map[string]any {
	tb.Helper()
	var env struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(tb, json.Unmarshal(m.Data, &env))
	return env.Data
}

// running is a Lattice whose Run goroutine the test owns.
type running struct {
	*sim.Lattice
	// initial describes the hosts as New made them, before Run.
	initial  []sim.HostInfo
	cancel   context.CancelFunc
	finished chan struct{}
	err      error
}

// mustStart runs a new Lattice until the test ends (or stop), and waits
// until its hosts have started.
func mustStart(tb testing.TB, nc *nats.Conn, cfg sim.Config) *running {
	tb.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = testSeed
	}
	l, err := sim.New(nc, cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Lattice: l, initial: l.Hosts(), cancel: cancel, finished: make(chan struct{})}
	go func() {
		r.err = l.Run(ctx)
		close(r.finished)
	}()
	tb.Cleanup(func() { _ = r.stop(tb) })
	select {
	case <-l.Ready():
	case <-r.finished:
		tb.Fatalf("Run returned before its hosts started: %v", r.err)
	case <-time.After(10 * time.Second):
		tb.Fatal("hosts did not start within 10s")
	}
	return r
}

// startUpEvents is how many events Run publishes to start the initial
// hosts: host_started, then one event per actor instance (1.x: per
// component) and per provider.
func (r *running) startUpEvents(schema sim.Schema) int {
	n := 0
	for _, h := range r.initial {
		n += 1 + len(h.Providers)
		for _, instances := range h.Actors {
			if schema == sim.SchemaV1 {
				instances = 1
			}
			n += instances
		}
	}
	return n
}

// stop cancels Run and returns its result.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	return r.wait(tb)
}

// wait waits for Run to return by itself and returns its result.
func (r *running) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case <-r.finished:
		return r.err
	case <-time.After(30 * time.Second):
		tb.Fatal("Run did not return within 30s")
		return nil
	}
}

// mustReadJSONLines reads a JSON-lines file from testdata.
func mustReadJSONLines(tb testing.TB, name string) []map[string]any {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(tb, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for dec.More() {
		var v map[string]any
		require.NoError(tb, dec.Decode(&v))
		out = append(out, v)
	}
	return out
}
