package view_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/view"
	"latticestate/projections"
	"latticestate/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

// fixture is a view of a real state bucket that the test writes directly.
type fixture struct {
	js  jetstream.JetStream
	res *streams.Resources
	v   *view.View
}

func mustView(t *testing.T, opts ...view.Option) fixture {
	t.Helper()
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	// The view has a connection of its own, as serve gives it.
	_, vjs := natstest.MustConnect(t, s)
	v, err := view.New(vjs, opts...)
	require.NoError(t, err)
	v.Start(context.Background())
	t.Cleanup(v.Stop)
	return fixture{js: js, res: res, v: v}
}

// host is a host document of the test lattice.
func host(i int, status string, labels map[string]string, actors map[string]projections.Actor, providers map[string]projections.Provider) *projections.Host {
	if actors == nil {
		actors = map[string]projections.Actor{}
	}
	if providers == nil {
		providers = map[string]projections.Provider{}
	}
	if labels == nil {
		labels = map[string]string{}
	}
	return &projections.Host{HostID: eventtest.HostID(i), Lattice: "default", FriendlyName: fmt.Sprintf("host-%03d", i),
		Version: "1.0.0", Labels: labels, Status: status, Actors: actors, Providers: providers, Seq: uint64(i + 1)}
}

func mustPut(t *testing.T, kv jetstream.KeyValue, h *projections.Host) uint64 {
	t.Helper()
	b, err := projections.AppendHost(nil, h)
	require.NoError(t, err)
	rev, err := kv.Put(context.Background(), streams.HostKey(h.Lattice, h.HostID), b)
	require.NoError(t, err)
	return rev
}

func mustSync(t *testing.T, v *view.View) {
	t.Helper()
	require.NoError(t, v.Sync(context.Background()))
}

func ids(t *testing.T, docs [][]byte) []string {
	t.Helper()
	out := []string{}
	for _, d := range docs {
		h, err := projections.UnmarshalHost(d)
		require.NoError(t, err)
		out = append(out, h.HostID)
	}
	return out
}

// The view answers pages, filters and counts equal to what the bucket
// holds, after every write that completed before Sync.
func TestView_Hosts(t *testing.T) {
	f := mustView(t)
	kv := f.res.State
	zone := func(z string) map[string]string { return map[string]string{"zone": z} }
	var all []string
	for i := range 10 {
		status := projections.StatusUp
		if i%3 == 0 {
			status = projections.StatusStale
		}
		mustPut(t, kv, host(i, status, zone(fmt.Sprint("z", i%2)), nil, nil))
		all = append(all, eventtest.HostID(i))
	}
	mustSync(t, f.v)
	sorted := slices.Sorted(slices.Values(all))

	page, err := f.v.Hosts("default", view.Filter{}, view.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, sorted, ids(t, page.Docs))
	require.Equal(t, 10, page.Total)
	require.Empty(t, page.Next)

	// Pages of 4 cover every host once.
	var paged []string
	p := view.PageRequest{Limit: 4}
	for {
		page, err := f.v.Hosts("default", view.Filter{}, p)
		require.NoError(t, err)
		paged = append(paged, ids(t, page.Docs)...)
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	require.Equal(t, sorted, paged)

	stale, err := view.ParseFilter(map[string][]string{"status": {"stale"}, "label": {"zone=z1"}})
	require.NoError(t, err)
	page, err = f.v.Hosts("default", stale, view.PageRequest{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 2, page.Total, "hosts 3 and 9") // i%3==0 and odd
	require.Len(t, page.Docs, 1)
	require.NotEmpty(t, page.Next)

	text, err := view.ParseFilter(map[string][]string{"q": {"HOST-007"}})
	require.NoError(t, err)
	page, err = f.v.Hosts("default", text, view.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{eventtest.HostID(7)}, ids(t, page.Docs))

	// A delete and a change are seen by the next read after Sync.
	require.NoError(t, kv.Delete(context.Background(), streams.HostKey("default", eventtest.HostID(0))))
	mustPut(t, kv, host(1, projections.StatusStale, zone("z1"), nil, nil))
	mustSync(t, f.v)
	page, err = f.v.Hosts("default", view.Filter{}, view.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, 9, page.Total)
	require.NotContains(t, ids(t, page.Docs), eventtest.HostID(0))
	page, err = f.v.Hosts("default", stale, view.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, 3, page.Total)

	page, err = f.v.Hosts("nowhere", view.Filter{}, view.PageRequest{})
	require.NoError(t, err)
	require.Zero(t, page.Total)
}

// The summary and the lattice gauges count what the documents hold, and a
// lattice whose hosts are gone has no series left.
func TestView_SummaryAndGauges(t *testing.T) {
	f := mustView(t)
	kv := f.res.State
	web := map[string]projections.Actor{"MWEB": {Count: 2, Status: projections.StatusHealthy}, "MKV": {Count: 1, Status: projections.StatusAwaiting}}
	http := map[string]projections.Provider{"VHTTP/default": {PublicKey: "VHTTP", LinkName: "default", ContractID: "wasmcloud:httpserver", Status: projections.StatusUnhealthy}}
	mustPut(t, kv, host(1, projections.StatusUp, map[string]string{"zone": "a", "os": "linux"}, web, http))
	mustPut(t, kv, host(2, projections.StatusStale, map[string]string{"zone": "b"}, map[string]projections.Actor{"MWEB": {Count: 1, Status: projections.StatusAwaiting}}, nil))
	other := host(3, projections.StatusUp, nil, nil, nil)
	other.Lattice = "other"
	mustPut(t, kv, other)
	_, err := kv.Put(context.Background(), streams.LinkKey("default", "MWEB/wasmcloud:httpserver/default"), []byte(`{"key":"MWEB/wasmcloud:httpserver/default","link":{},"seq":40}`))
	require.NoError(t, err)
	mustSync(t, f.v)

	b, err := f.v.SummaryJSON("default")
	require.NoError(t, err)
	require.JSONEq(t, `{"lattice":"default","seq":40,
		"hosts":{"total":2,"by_status":{"up":1,"stale":1}},
		"actors":{"instances":4,"distinct":2,"by_status":{"Healthy":2,"Awaiting":2}},
		"providers":{"total":1,"by_status":{"Unhealthy":1}},
		"versions":{"distinct":1,"top":{"1.0.0":2}},
		"contracts":{"distinct":1,"top":{"wasmcloud:httpserver":1}},
		"labels":{"distinct":2,"top":{"zone":{"hosts":2,"distinct":2,"top":{"a":1,"b":1}},"os":{"hosts":1,"distinct":1,"top":{"linux":1}}}},
		"links":1,"refmaps":0}`, string(b))

	want := `
# HELP latticestate_lattice_actor_instances Actor (component) instances running in a lattice, as projected.
# TYPE latticestate_lattice_actor_instances gauge
latticestate_lattice_actor_instances{lattice="default"} 4
latticestate_lattice_actor_instances{lattice="other"} 0
# HELP latticestate_lattice_hosts Hosts of a lattice by status, as projected.
# TYPE latticestate_lattice_hosts gauge
latticestate_lattice_hosts{lattice="default",status="stale"} 1
latticestate_lattice_hosts{lattice="default",status="up"} 1
latticestate_lattice_hosts{lattice="other",status="up"} 1
# HELP latticestate_lattice_providers Provider entries of a lattice's hosts by status, as projected.
# TYPE latticestate_lattice_providers gauge
latticestate_lattice_providers{lattice="default",status="Unhealthy"} 1
`
	names := []string{"latticestate_lattice_hosts", "latticestate_lattice_actor_instances", "latticestate_lattice_providers"}
	require.NoError(t, testutil.CollectAndCompare(f.v.Metrics(), strings.NewReader(want), names...))

	// The stale host goes, the other lattice empties, the provider heals.
	require.NoError(t, kv.Delete(context.Background(), streams.HostKey("default", eventtest.HostID(2))))
	require.NoError(t, kv.Delete(context.Background(), streams.HostKey("other", eventtest.HostID(3))))
	http["VHTTP/default"] = projections.Provider{PublicKey: "VHTTP", LinkName: "default", ContractID: "wasmcloud:httpserver", Status: projections.StatusHealthy}
	mustPut(t, kv, host(1, projections.StatusUp, map[string]string{"zone": "a", "os": "linux"}, web, http))
	want = `
# HELP latticestate_lattice_actor_instances Actor (component) instances running in a lattice, as projected.
# TYPE latticestate_lattice_actor_instances gauge
latticestate_lattice_actor_instances{lattice="default"} 3
# HELP latticestate_lattice_hosts Hosts of a lattice by status, as projected.
# TYPE latticestate_lattice_hosts gauge
latticestate_lattice_hosts{lattice="default",status="up"} 1
# HELP latticestate_lattice_providers Provider entries of a lattice's hosts by status, as projected.
# TYPE latticestate_lattice_providers gauge
latticestate_lattice_providers{lattice="default",status="Healthy"} 1
`
	// A scrape waits for the view to catch up: no polling needed.
	require.NoError(t, testutil.CollectAndCompare(f.v.Metrics(), strings.NewReader(want), names...))
	var s view.Summary
	b, err = f.v.SummaryJSON("default")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &s))
	require.Equal(t, view.Top{Distinct: 1, Top: map[string]int{"a": 1}}, s.Labels.Top["zone"].Top)
}

// mustTake waits for n changes of s.
func mustTake(t *testing.T, s *view.Subscription, n int) []view.Change {
	t.Helper()
	var got []view.Change
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case <-s.Wake():
			got = append(got, s.Take(nil)...)
		case <-s.Done():
			t.Fatalf("watcher dropped: %v", s.Err())
		case <-deadline:
			t.Fatalf("%d of %d changes", len(got), n)
		}
	}
	require.Len(t, got, n)
	return got
}

// Watchers get every host, then every change in order; a filter sends a
// delete when a host stops matching; a watcher that resumes gets what
// changed since; a slow watcher is dropped without holding back another.
func TestView_Subscribe(t *testing.T) {
	f := mustView(t, view.WithWatchBuffer(8))
	kv := f.res.State
	for i := range 3 {
		mustPut(t, kv, host(i, projections.StatusUp, nil, nil, nil))
	}
	mustSync(t, f.v)

	all, initial, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	defer all.Close()
	require.Len(t, initial, 3)
	for i := 1; i < len(initial); i++ {
		require.Less(t, initial[i-1].Rev, initial[i].Rev, "revision order")
	}
	up, err := view.ParseFilter(map[string][]string{"status": {"up"}, "host": {eventtest.HostID(1)}})
	require.NoError(t, err)
	one, initial, err := f.v.Subscribe("default", up, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	defer one.Close()
	require.Len(t, initial, 1)
	slow, _, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	defer slow.Close()
	resumeAt := initialRev(t, f)

	rev := mustPut(t, kv, host(1, projections.StatusStale, nil, nil, nil))
	got := mustTake(t, one, 1)
	require.Equal(t, view.Change{Rev: rev, HostID: eventtest.HostID(1)}, got[0], "host 1 no longer matches: a delete")
	got = mustTake(t, all, 1)
	require.NoError(t, kv.Delete(context.Background(), streams.HostKey("default", eventtest.HostID(0))))
	got = append(got, mustTake(t, all, 1)...)
	for i := range 10 {
		mustPut(t, kv, host(2, projections.StatusUp, map[string]string{"n": fmt.Sprint(i)}, nil, nil))
		got = append(got, mustTake(t, all, 1)...)
	}
	require.NotNil(t, got[0].Doc)
	require.Equal(t, eventtest.HostID(0), got[1].HostID)
	require.Nil(t, got[1].Doc, "deleted")
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1].Rev+1, got[i].Rev, "every change, in order")
	}

	// The slow watcher never took anything: dropped at 8 waiting changes.
	select {
	case <-slow.Done():
		require.ErrorIs(t, slow.Err(), view.ErrSlowWatcher)
		require.True(t, view.Resumable(slow.Err()))
	case <-time.After(5 * time.Second):
		t.Fatal("slow watcher not dropped")
	}
	require.NoError(t, testutil.CollectAndCompare(f.v.Metrics(), strings.NewReader(`
# HELP latticestate_watchers_dropped_total Watchers ended by the server with a resync event: slow (buffer full), reloaded, recreated (bucket) or stopped.
# TYPE latticestate_watchers_dropped_total counter
latticestate_watchers_dropped_total{reason="recreated"} 0
latticestate_watchers_dropped_total{reason="reloaded"} 0
latticestate_watchers_dropped_total{reason="slow"} 1
latticestate_watchers_dropped_total{reason="stopped"} 0
`), "latticestate_watchers_dropped_total"))

	// Resuming from before the changes: the latest of each changed host and
	// the delete, in revision order.
	resumed, initial, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true, After: resumeAt})
	require.NoError(t, err)
	defer resumed.Close()
	require.Len(t, initial, 3)
	require.Equal(t, []string{eventtest.HostID(1), eventtest.HostID(0), eventtest.HostID(2)},
		[]string{initial[0].HostID, initial[1].HostID, initial[2].HostID})
	require.Nil(t, initial[1].Doc)
	require.Equal(t, got[len(got)-1], initial[2])

	// Resuming a watcher of one host: that host only, not the others.
	only, err := view.ParseFilter(map[string][]string{"host": {eventtest.HostID(1)}})
	require.NoError(t, err)
	resumedOne, initial, err := f.v.Subscribe("default", only, view.WatchOptions{Hosts: true, After: resumeAt})
	require.NoError(t, err)
	defer resumedOne.Close()
	require.Len(t, initial, 1)
	require.Equal(t, eventtest.HostID(1), initial[0].HostID)

	_, _, err = f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true, After: 1 << 40})
	require.ErrorIs(t, err, view.ErrUnknownRevision)
}

func initialRev(t *testing.T, f fixture) uint64 {
	t.Helper()
	st, err := f.res.StateStream.Info(context.Background())
	require.NoError(t, err)
	return st.State.LastSeq
}

// At the maximum, Subscribe refuses; a closed watcher frees its place.
func TestView_MaxWatchers(t *testing.T) {
	f := mustView(t, view.WithMaxWatchers(2))
	mustSync(t, f.v)
	a, _, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	b, _, err := f.v.Subscribe("x", view.Filter{}, view.WatchOptions{Summary: true})
	require.NoError(t, err)
	_, _, err = f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.ErrorIs(t, err, view.ErrTooManyWatchers)
	a.Close()
	a.Close()
	c, _, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	require.Equal(t, 2, f.v.Watchers())
	b.Close()
	c.Close()
	require.Zero(t, f.v.Watchers())
}

// When the bucket is deleted and created anew, Sync loads it again and
// its watchers are told to start over.
func TestView_Recreated(t *testing.T) {
	f := mustView(t)
	mustPut(t, f.res.State, host(1, projections.StatusUp, nil, nil, nil))
	mustPut(t, f.res.State, host(3, projections.StatusUp, nil, nil, nil))
	mustSync(t, f.v)
	s, _, err := f.v.Subscribe("default", view.Filter{}, view.WatchOptions{Hosts: true})
	require.NoError(t, err)
	defer s.Close()

	require.NoError(t, f.js.DeleteKeyValue(context.Background(), streams.StateBucket))
	kv, _, err := streams.EnsureState(context.Background(), f.js, streams.StateBucket, streams.DefaultOptions())
	require.NoError(t, err)
	mustPut(t, kv, host(2, projections.StatusUp, nil, nil, nil))

	mustSync(t, f.v)
	page, err := f.v.Hosts("default", view.Filter{}, view.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{eventtest.HostID(2)}, ids(t, page.Docs))
	select {
	case <-s.Done():
		require.ErrorIs(t, s.Err(), view.ErrRecreated)
		require.False(t, view.Resumable(s.Err()))
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not ended by the new bucket")
	}
}

// Sync gives up with ErrNotCurrent when the bucket cannot be read, rather
// than answering from nothing.
func TestView_SyncWithoutBucket(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	v, err := view.New(js, view.WithSyncTimeout(300*time.Millisecond))
	require.NoError(t, err)
	v.Start(context.Background())
	defer v.Stop()
	err = v.Sync(context.Background())
	require.True(t, errors.Is(err, view.ErrNotCurrent), "%v", err)
	_, err = v.Hosts("default", view.Filter{}, view.PageRequest{})
	require.ErrorIs(t, err, view.ErrNotCurrent)
}
