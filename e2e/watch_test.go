package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/ssetest"
	"latticestate/streams"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event, data string
}

// sseClient reads a server-sent event stream in the background.
type sseClient struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []sseEvent
}

func mustSSE(tb testing.TB, url, lastEventID string) *sseClient {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(tb, err)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	require.Equal(tb, "text/event-stream", resp.Header.Get("Content-Type"))
	c := &sseClient{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		ssetest.Scan(resp.Body, func(e ssetest.Event) {
			c.mu.Lock()
			c.events = append(c.events, sseEvent{id: e.ID, event: e.Type, data: e.Data})
			c.mu.Unlock()
		})
	}()
	tb.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

func (c *sseClient) snapshot() []sseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sseEvent(nil), c.events...)
}

func (c *sseClient) has(event string) bool {
	for _, e := range c.snapshot() {
		if e.event == event {
			return true
		}
	}
	return false
}

// hostChanges are the host events after "ready".
func hostChanges(events []sseEvent) []sseEvent {
	for i, e := range events {
		if e.event == "ready" {
			return events[i+1:]
		}
	}
	return nil
}

// TestServe_WatchSSE: a client connected before 500 changes receives every
// one of them, in order, exactly as a bucket watcher sees them; a client
// that reconnects with Last-Event-ID gets a snapshot covering the changes
// it missed.
func TestServe_WatchSSE(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--batch-size", "1", "--flush-window", "1")
	url := p.addr + "/api/v1/lattices/default/watch"
	// Hosts that start with labels need no enrichment, so every change
	// below comes from one published event.
	var started [][]byte
	for i := range 25 {
		started = append(started, eventtest.HostStarted(eventtest.HostID(i), eventtest.HostInfo{
			FriendlyName: "h" + strconv.Itoa(i), Version: "1.0.0", Labels: map[string]string{"zone": "a"}}))
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), started)
	waitCaughtUp(t, p, 10*time.Second)

	c := mustSSE(t, url, "")
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !c.has("ready") {
			return errNotYet
		}
		return nil
	})
	kv, err := js.KeyValue(context.Background(), streams.StateBucket)
	require.NoError(t, err)
	ref, err := kv.Watch(context.Background(), streams.HostKeys("default"), jetstream.UpdatesOnly())
	require.NoError(t, err)
	defer func() { require.NoError(t, ref.Stop()) }()

	const changes = 500
	var lines [][]byte
	for i := range changes {
		host := eventtest.HostID(i % 25)
		lines = append(lines, eventtest.ActorStarted(host, "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5",
			eventtest.Set("id", "sse-"+strconv.Itoa(i))))
	}
	// The first client disconnects half way; the second resumes from the
	// last event it saw.
	mustPublish(t, nc, streams.HostEventSubject("default"), lines[:changes/2])
	waitCaughtUp(t, p, 30*time.Second)
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if len(hostChanges(c.snapshot())) < changes/2 {
			return errNotYet
		}
		return nil
	})
	resumed := mustSSE(t, url, "")
	c.close()
	first := hostChanges(c.snapshot())
	late := mustSSE(t, url, first[len(first)-1].id)
	mustPublish(t, nc, streams.HostEventSubject("default"), lines[changes/2:])
	waitCaughtUp(t, p, 30*time.Second)

	var want []sseEvent
	for len(want) < changes {
		select {
		case e := <-ref.Updates():
			require.NotNil(t, e)
			want = append(want, sseEvent{id: strconv.FormatUint(e.Revision(), 10), event: "host", data: string(e.Value())})
		case <-time.After(10 * time.Second):
			t.Fatalf("bucket watcher saw %d of %d changes", len(want), changes)
		}
	}
	// Every event is one change: batch size 1 and one event per write.
	require.Equal(t, summarize(want[:changes/2]), summarize(first))

	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if len(hostChanges(resumed.snapshot())) < changes/2 {
			return errNotYet
		}
		return nil
	})
	require.Equal(t, summarize(want[changes/2:]), summarize(hostChanges(resumed.snapshot())))

	// The late client's replay of missed changes plus live ones ends with
	// the same state per host as the bucket.
	final := map[string]string{}
	for _, e := range want {
		var h struct {
			HostID string `json:"host_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(e.data), &h))
		final[h.HostID] = e.data
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		got := map[string]string{}
		lastRev := 0
		for _, e := range late.snapshot() {
			if e.event != "host" {
				continue
			}
			rev, _ := strconv.Atoi(e.id)
			if rev <= lastRev {
				t.Fatalf("late client: revision %d after %d", rev, lastRev)
			}
			lastRev = rev
			var h struct {
				HostID string `json:"host_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(e.data), &h))
			got[h.HostID] = e.data
		}
		for id, d := range final {
			if got[id] != d {
				return errNotYet
			}
		}
		return nil
	})
	p.stop(t)
}

// summarize keeps what identifies each change: revision, kind and data.
func summarize(events []sseEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.id + " " + e.event + " " + e.data
	}
	return out
}
