package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/ssetest"
	"latticestate/internal/view"
	"latticestate/projections"
	"latticestate/streams"
)

type sseEvent struct {
	id, event, data string
	hasID           bool
}

// sseReader reads one event stream into a channel, closed at its end.
type sseReader struct {
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

func mustWatch(t *testing.T, url, lastEventID string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := &sseReader{events: make(chan sseEvent, 10000), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer close(r.events)
		defer resp.Body.Close()
		ssetest.Scan(resp.Body, func(e ssetest.Event) {
			r.events <- sseEvent{id: e.ID, hasID: e.HasID, event: e.Type, data: e.Data}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// next waits for the next event; ok is false at the end of the stream.
func (r *sseReader) next(t *testing.T) (sseEvent, bool) {
	t.Helper()
	select {
	case e, ok := <-r.events:
		return e, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return sseEvent{}, false
	}
}

func (r *sseReader) mustNext(t *testing.T, event string) sseEvent {
	t.Helper()
	e, ok := r.next(t)
	require.True(t, ok, "stream ended, waiting for %s", event)
	require.Equal(t, event, e.event, "%+v", e)
	return e
}

func putHost(t *testing.T, f apiFixture, i int, status string, labels map[string]string) uint64 {
	t.Helper()
	h := &projections.Host{HostID: eventtest.HostID(i), Lattice: "default", Labels: labels, Status: status,
		Actors: map[string]projections.Actor{}, Providers: map[string]projections.Provider{}, Seq: 1}
	b, err := projections.AppendHost(nil, h)
	require.NoError(t, err)
	rev, err := f.res.State.Put(context.Background(), streams.HostKey("default", h.HostID), b)
	require.NoError(t, err)
	return rev
}

// mustWatchers waits until the server has n watchers.
func mustWatchers(t *testing.T, f apiFixture, n int) {
	t.Helper()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if got := f.v.Watchers(); got != n {
			return fmt.Errorf("%d watchers, want %d", got, n)
		}
		return nil
	})
}

func hostOf(t *testing.T, e sseEvent) *projections.Host {
	t.Helper()
	h, err := projections.UnmarshalHost([]byte(e.data))
	require.NoError(t, err, "%s", e.data)
	return h
}

// Watch filters by host and status, sends a delete when a host leaves
// the filter, summaries in summary mode, refuses watchers beyond the
// maximum, and drops a watcher that falls behind with a resync it can
// resume from.
func TestServer_Watch(t *testing.T) {
	f := mustFixture(t, 0, view.WithMaxWatchers(3), view.WithWatchBuffer(4))
	base := f.srv.URL + "/api/v1/lattices/default/watch"
	for i := range 3 {
		putHost(t, f, i, projections.StatusUp, map[string]string{"zone": "a"})
	}

	one := mustWatch(t, base+"?status=up&host="+eventtest.HostID(1), "")
	require.Equal(t, eventtest.HostID(1), hostOf(t, one.mustNext(t, "host")).HostID)
	one.mustNext(t, "ready")

	sum := mustWatch(t, base+"?mode=summary", "")
	var s view.Summary
	require.NoError(t, json.Unmarshal([]byte(sum.mustNext(t, "summary").data), &s))
	require.Equal(t, 3, s.Hosts.Total)
	sum.mustNext(t, "ready")

	all := mustWatch(t, base, "")
	for range 3 {
		all.mustNext(t, "host")
	}
	all.mustNext(t, "ready")

	// A fourth watcher is one too many.
	code, body := mustGet(t, base)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, string(body), "too many watchers")

	rev := putHost(t, f, 2, projections.StatusStale, nil)
	e := all.mustNext(t, "host")
	require.Equal(t, strconv.FormatUint(rev, 10), e.id)
	rev = putHost(t, f, 1, projections.StatusStale, nil)
	e = one.mustNext(t, "delete")
	require.Equal(t, strconv.FormatUint(rev, 10), e.id)
	require.JSONEq(t, fmt.Sprintf(`{"host_id":%q}`, eventtest.HostID(1)), e.data)
	require.NoError(t, json.Unmarshal([]byte(sum.mustNext(t, "summary").data), &s))
	for s.Hosts.ByStatus["stale"] != 2 {
		require.NoError(t, json.Unmarshal([]byte(sum.mustNext(t, "summary").data), &s))
	}
	last := all.mustNext(t, "host") // host 1 stale, before the burst

	// A burst of 200 new hosts, faster than one write: more than 4 wait,
	// the watcher is dropped and told it can resume. (Distinct hosts: a
	// bucket keeps only the latest value of a key, so a burst on one key
	// may reach a watcher as fewer changes.)
	for i := range 200 {
		h := &projections.Host{HostID: eventtest.HostID(1000 + i), Lattice: "default", Labels: map[string]string{},
			Status: projections.StatusUp, Actors: map[string]projections.Actor{}, Providers: map[string]projections.Provider{}, Seq: 1}
		b, err := projections.AppendHost(nil, h)
		require.NoError(t, err)
		_, err = f.js.PublishAsync(streams.BucketSubject(streams.StateBucket, streams.HostKey("default", h.HostID)), b)
		require.NoError(t, err)
	}
	<-f.js.PublishAsyncComplete()
	seen, got := last.id, map[string]bool{}
	for {
		e, ok := all.next(t)
		require.True(t, ok, "stream ended without resync")
		if e.event == "resync" {
			require.JSONEq(t, `{"reason":"watcher too slow: its buffer is full","resume":true}`, e.data)
			require.False(t, e.hasID)
			break
		}
		require.Equal(t, "host", e.event)
		seen = e.id
		got[hostOf(t, e).HostID] = true
	}
	_, ok := all.next(t)
	require.False(t, ok, "the stream ends after resync")
	require.Less(t, len(got), 200)

	// Resuming from the last event seen: the hosts not seen yet, then
	// ready.
	resumed := mustWatch(t, base, seen)
	for {
		e, ok := resumed.next(t)
		require.True(t, ok)
		if e.event == "ready" {
			break
		}
		require.Equal(t, "host", e.event)
		got[hostOf(t, e).HostID] = true
	}
	require.Len(t, got, 200, "every new host, before the resync or after it")

	// A page's revision, then a change: a watch of its hosts since that
	// revision starts with the change alone.
	resp, err := http.Get(f.srv.URL + "/api/v1/lattices/default/hosts?limit=2")
	require.NoError(t, err)
	resp.Body.Close()
	since := resp.Header.Get("Latticestate-Revision")
	require.NotEmpty(t, since)
	rev = putHost(t, f, 2, projections.StatusUp, map[string]string{"after": "page"})
	resumed.cancel()
	<-resumed.done
	mustWatchers(t, f, 2)
	fromPage := mustWatch(t, base+"?since="+since+"&host="+eventtest.HostID(2)+"&host="+eventtest.HostID(0), "")
	e = fromPage.mustNext(t, "host")
	require.Equal(t, strconv.FormatUint(rev, 10), e.id)
	fromPage.mustNext(t, "ready")
	fromPage.cancel()
	<-fromPage.done
	mustWatchers(t, f, 2)

	// A revision the server cannot continue from: start over.
	unknown := mustWatch(t, base, "999999999")
	e = unknown.mustNext(t, "resync")
	require.True(t, e.hasID)
	require.Empty(t, e.id, "an empty id clears the client's last event id")
	require.Contains(t, e.data, `"resume":false`)
}
