package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/streams"
)

// recordedData is the data of an event latticestate recorded itself.
type recordedData struct {
	HostID  string `json:"host_id"`
	Outcome string `json:"outcome"`
}

// mustRecorded reads every event of kind that latticestate recorded for
// lattice, in stream order.
func mustRecorded(tb testing.TB, js jetstream.JetStream, lattice, kind string) []recordedData {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, streams.EventsStream)
	require.NoError(tb, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.RecordedEventSubject(lattice, kind)}})
	require.NoError(tb, err)
	info, err := cons.Info(ctx)
	require.NoError(tb, err)
	var out []recordedData
	for range info.NumPending {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(tb, err)
		var ev struct {
			Data recordedData `json:"data"`
		}
		require.NoError(tb, json.Unmarshal(m.Data(), &ev))
		out = append(out, ev.Data)
	}
	return out
}

// TestServe_EnrichmentNeverBlocks: 300 new hosts that never answer their
// inventory request and 30 that do (under soak 1,000 and 100, more than the
// requests in flight at once) all appear in the bucket within seconds of
// their first heartbeat; the answering ones get their labels, and the
// outcome of every request is recorded in the stream. Replaying the stream
// into an empty bucket with every responder gone then gives byte-identical
// documents and sends no request.
func TestServe_EnrichmentNeverBlocks(t *testing.T) {
	t.Parallel() // waits on timeouts and expiry more than it computes
	silent, answering := soakSize(300, 1000), soakSize(30, 100)
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	hosts := nc // the simulated hosts' connection
	var subs []*nats.Subscription
	for i := range silent + answering {
		id := eventtest.HostID(i)
		labels := map[string]string{"zone": fmt.Sprintf("z%d", i%7), "answered": "yes"}
		var sub *nats.Subscription
		var err error
		switch {
		case i < silent:
			// Subscribed, never replying: the request has to time out.
			sub, err = hosts.Subscribe(streams.OTPInventorySubject("default", id), func(*nats.Msg) {})
		case i%2 == 0:
			sub, err = hosts.Subscribe(streams.OTPInventorySubject("default", id), func(m *nats.Msg) {
				b, _ := json.Marshal(map[string]any{"host_id": id, "labels": labels, "actors": []any{}, "providers": []any{}})
				_ = m.Respond(b)
			})
		default:
			sub, err = hosts.Subscribe(streams.V1InventorySubject("default", id), func(m *nats.Msg) {
				b, _ := json.Marshal(map[string]any{"success": true, "message": "", "response": map[string]any{"host_id": id, "labels": labels}})
				_ = m.Respond(b)
			})
		}
		require.NoError(t, err)
		subs = append(subs, sub)
	}
	require.NoError(t, hosts.Flush())

	p := mustStartProjector(t, s.ClientURL())
	var beats [][]byte
	for i := range silent + answering {
		beats = append(beats, eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%d", i), Version: "0.56.0"}}))
	}
	start := time.Now()
	mustPublish(t, nc, streams.HostEventSubject("default"), beats)
	kv, err := js.KeyValue(context.Background(), streams.StateBucket)
	require.NoError(t, err)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		keys, err := kv.ListKeysFiltered(context.Background(), streams.HostKeys("default"))
		if err != nil {
			return err
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		if n < silent+answering {
			return fmt.Errorf("%d of %d hosts in the bucket", n, silent+answering)
		}
		return nil
	})
	appeared := time.Since(start)
	t.Logf("all %d hosts in the bucket %v after their first heartbeat", silent+answering, appeared)
	require.Less(t, appeared, 5*time.Second)

	waitCaughtUp(t, p, 60*time.Second)
	t.Logf("every label request resolved %v after the first heartbeat", time.Since(start))
	live := mustKVHosts(t, js, "default")
	require.Len(t, live, silent+answering)
	for i := range silent + answering {
		var h struct {
			Labels map[string]string `json:"labels"`
		}
		require.NoError(t, json.Unmarshal([]byte(live[eventtest.HostID(i)]), &h))
		if i < silent {
			require.Empty(t, h.Labels, "silent host %d", i)
		} else {
			require.Equal(t, "yes", h.Labels["answered"], "answering host %d", i)
		}
	}
	resolved := mustRecorded(t, js, "default", "host_labels_resolved")
	require.Len(t, resolved, silent+answering, "one outcome per host")
	outcomes := map[string]string{}
	for _, r := range resolved {
		outcomes[r.HostID] = r.Outcome
	}
	for i := range silent + answering {
		want := "timeout"
		if i >= silent {
			want = "ok"
		}
		require.Equal(t, want, outcomes[eventtest.HostID(i)], "host %d", i)
	}
	requireKVEqualsFold(t, js, "default")
	p.stop(t)

	// Replay with every responder gone.
	for _, sub := range subs {
		require.NoError(t, sub.Unsubscribe())
	}
	var requests atomic.Int64
	spy, err := nc.Subscribe("wasmbus.ctl.>", func(*nats.Msg) { requests.Add(1) })
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, js.DeleteKeyValue(ctx, streams.StateBucket))
	events, err := js.Stream(ctx, streams.EventsStream)
	require.NoError(t, err)
	require.NoError(t, events.DeleteConsumer(ctx, streams.ProjectorConsumer))

	replay := mustStartProjector(t, s.ClientURL())
	waitCaughtUp(t, replay, 60*time.Second)
	replayed := mustKVHosts(t, js, "default")
	require.Equal(t, len(live), len(replayed))
	for id, doc := range live {
		require.Equal(t, doc, replayed[id], "host %s", id)
	}
	require.NoError(t, nc.Flush())
	require.Zero(t, requests.Load(), "replay sent inventory requests")
	require.Len(t, mustRecorded(t, js, "default", "host_labels_resolved"), len(resolved), "replay recorded outcomes again")
	require.NoError(t, spy.Unsubscribe())
	replay.stop(t)
}

// TestServe_StaleHost: a simulated host that stops heartbeating without
// host_stopped turns stale after three intervals, and up again when it comes
// back; the others stay up.
func TestServe_StaleHost(t *testing.T) {
	const interval = 300 * time.Millisecond
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--heartbeat-interval", interval.String())
	lattice, err := sim.New(nc, sim.Config{Hosts: 3, Interval: interval, Seed: 42})
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
	status := func(id string) string {
		code, body, err := p.get("/api/v1/lattices/default/hosts/" + id)
		if err != nil || code != 200 {
			return fmt.Sprintf("error %d %v", code, err)
		}
		var h struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(body, &h)
		return h.Status
	}
	waitStatus := func(id, want string, within time.Duration) {
		t.Helper()
		natstest.CheckFor(t, within, 50*time.Millisecond, func() error {
			if got := status(id); got != want {
				return fmt.Errorf("host %s is %q, want %q", id, got, want)
			}
			return nil
		})
	}
	for _, id := range ids {
		waitStatus(id, "up", 5*time.Second)
	}
	require.NoError(t, lattice.Pause(ids[0]))
	paused := time.Now()
	waitStatus(ids[0], "stale", 10*time.Second)
	took := time.Since(paused)
	t.Logf("stale %v after the host went silent (3 intervals = %v)", took, 3*interval)
	require.GreaterOrEqual(t, took, 2*interval, "stale too early")
	for _, id := range ids[1:] {
		require.Equal(t, "up", status(id))
	}
	require.NoError(t, lattice.Resume(ids[0]))
	waitStatus(ids[0], "up", 5*time.Second)

	// The stale mark is an event in the stream, recorded once for this
	// silence and for no other host.
	stale := mustRecorded(t, js, "default", "host_stale")
	require.Equal(t, []recordedData{{HostID: ids[0]}}, stale)
	p.stop(t)
}
