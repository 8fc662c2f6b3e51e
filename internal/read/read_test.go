package read_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/projectortest"
	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

// fixture is a projected lattice over a real JetStream server, read by a
// Reader of the bucket and a Reader of the view.
type fixture struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	res        *streams.Resources
	bucket     *read.Bucket
	fromBucket *read.Reader
	fromView   *read.Reader
	// last is the stream's last sequence once projected.
	last uint64
}

// mustFixture publishes events to lattice "default" (and one host to
// "other"), projects them and returns the readers.
func mustFixture(t *testing.T, events ...[]byte) fixture {
	t.Helper()
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	// Published through JetStream: once the PubAck is back the stream
	// holds the event, and a projector that has caught up has it (a plain
	// publish is stored a moment after the server has it).
	for _, e := range events {
		_, err := js.Publish(ctx, streams.HostEventSubject("default"), e)
		require.NoError(t, err)
	}
	other := eventtest.HostHeartbeat(eventtest.HostID(99), eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{}}})
	_, err = js.Publish(ctx, streams.HostEventSubject("other"), other)
	require.NoError(t, err)
	projectortest.Run(t, js, res)

	_, vjs := natstest.MustConnect(t, s)
	v, err := view.New(vjs)
	require.NoError(t, err)
	v.Start(context.Background())
	t.Cleanup(v.Stop)

	bucket := read.NewBucket(js, "")
	history := pipeline.NewHistory(js)
	info, err := res.Events.Info(context.Background())
	require.NoError(t, err)
	return fixture{nc: nc, js: js, res: res, bucket: bucket, last: info.State.LastSeq,
		fromBucket: read.New(bucket, history),
		fromView:   read.New(read.NewViewSource(v, bucket), history)}
}

func heartbeat(i int, labels map[string]string) []byte {
	return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%d", i), Version: "1.0.0", Labels: labels},
		Actors:   map[string]uint64{"MB1": uint64(i)},
	})
}

func mustHosts(t *testing.T, src read.Source, f view.Filter, p view.PageRequest) ([]*projections.Host, view.HostsPage) {
	t.Helper()
	page, err := src.Hosts(context.Background(), "default", f, p)
	require.NoError(t, err)
	hosts := make([]*projections.Host, 0, len(page.Docs))
	for _, b := range page.Docs {
		h, err := projections.UnmarshalHost(b)
		require.NoError(t, err)
		hosts = append(hosts, h)
	}
	return hosts, page
}

// The live bucket, the live view and the past at the stream's last
// sequence are three sources of one state: they answer alike.
func TestReader_SourcesAgree(t *testing.T) {
	link := eventtest.Link{ActorID: "MB2", ProviderID: "VP1", ContractID: "wasmcloud:httpserver", LinkName: "default"}
	f := mustFixture(t,
		heartbeat(1, map[string]string{"zone": "eu"}),
		heartbeat(2, map[string]string{"zone": "us"}),
		heartbeat(3, map[string]string{"zone": "eu"}),
		eventtest.LinkdefSet(eventtest.HostID(1), link),
		eventtest.RefmapSet(eventtest.HostID(1), "ghcr.io/a/kv:0.1", "VP9"),
	)
	ctx := context.Background()
	sources := map[string]read.Source{
		"bucket": f.fromBucket.At(read.AsOf{}),
		"view":   f.fromView.At(read.AsOf{}),
		"past":   f.fromView.At(read.AsOf{Seq: f.last}),
	}
	eu, err := projections.ParseHostFilter("", []string{"zone=eu"})
	require.NoError(t, err)
	id := []string{"", eventtest.HostID(1), eventtest.HostID(2), eventtest.HostID(3)}
	all := slices.Sorted(slices.Values(id[1:]))
	euIDs := slices.Sorted(slices.Values([]string{id[1], id[3]}))
	for _, tt := range []struct {
		name string
		f    view.Filter
		p    view.PageRequest
		want []string
		next string
	}{
		{"all", view.Filter{}, view.PageRequest{}, all, ""},
		{"label", view.Filter{HostFilter: eu}, view.PageRequest{}, euIDs, ""},
		{"first page", view.Filter{}, view.PageRequest{Limit: 2}, all[:2], all[1]},
		{"last page", view.Filter{}, view.PageRequest{Limit: 2, After: all[1]}, all[2:], ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for name, src := range sources {
				hosts, page := mustHosts(t, src, tt.f, tt.p)
				ids := []string{}
				for _, h := range hosts {
					ids = append(ids, h.HostID)
				}
				require.Equal(t, tt.want, ids, name)
				require.Equal(t, tt.next, page.Next, name)
			}
		})
	}

	want := map[string]any{}
	summaries := map[string]view.Summary{}
	for name, src := range sources {
		b, err := src.Host(ctx, "default", eventtest.HostID(2))
		require.NoError(t, err, name)
		h, err := projections.UnmarshalHost(b)
		require.NoError(t, err, name)
		require.Equal(t, "host-2", h.FriendlyName, name)

		_, err = src.Host(ctx, "default", eventtest.HostID(4))
		require.ErrorIs(t, err, read.ErrHostNotFound, name)

		sum, err := src.Summary(ctx, "default")
		require.NoError(t, err, name)
		var s view.Summary
		require.NoError(t, json.Unmarshal(sum, &s), name)
		require.Equal(t, 3, s.Hosts.Total, name)
		require.Equal(t, 1, s.Links, name)
		require.Equal(t, 1, s.Refmaps, name)
		summaries[name] = s

		links, err := src.Links(ctx, "default")
		require.NoError(t, err, name)
		require.Len(t, links, 1, name)
		require.Equal(t, "MB2/wasmcloud:httpserver/default", links[0].Key, name)
		refmaps, err := src.Refmaps(ctx, "default")
		require.NoError(t, err, name)
		require.Len(t, refmaps, 1, name)
		want[name] = refmaps[0].PublicKey
	}
	require.Equal(t, map[string]any{"bucket": "VP9", "view": "VP9", "past": "VP9"}, want)
	require.Equal(t, summaries["view"], summaries["bucket"])
	pastSum := summaries["past"]
	pastSum.Seq = summaries["view"].Seq // a fold keeps no seq of links and ref maps
	require.Equal(t, summaries["view"], pastSum)

	for _, r := range []*read.Reader{f.fromBucket, f.fromView} {
		lattices, err := r.Lattices(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"default", "other"}, lattices)
	}
}

// A point before an event answers without it; points the history cannot
// answer fail with the errors the API maps to 400 and 410.
func TestReader_At(t *testing.T) {
	f := mustFixture(t, heartbeat(1, map[string]string{}), heartbeat(2, map[string]string{}))
	ctx := context.Background()

	hosts, _ := mustHosts(t, f.fromView.At(read.AsOf{Seq: 1}), view.Filter{}, view.PageRequest{})
	require.Len(t, hosts, 1)
	_, err := f.fromView.At(read.AsOf{Seq: 1}).Host(ctx, "default", eventtest.HostID(2))
	require.ErrorIs(t, err, read.ErrHostNotFound)
	require.ErrorContains(t, err, "as of seq 1")

	_, err = f.fromView.At(read.AsOf{Seq: f.last + 10}).Hosts(ctx, "default", view.Filter{}, view.PageRequest{})
	var past *pipeline.PastEndError
	require.ErrorAs(t, err, &past)
	require.Equal(t, f.last, past.Last)

	hosts, _ = mustHosts(t, f.fromView.At(read.AsOf{Time: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}), view.Filter{}, view.PageRequest{})
	require.Empty(t, hosts, "nothing was captured in 2001")

	win, err := f.fromView.Window(ctx, "default")
	require.NoError(t, err)
	require.Equal(t, f.last, win.Last)
}

// A Reader without a live source or a history says so; so does a nil one.
func TestReader_Unavailable(t *testing.T) {
	ctx := context.Background()
	for name, r := range map[string]*read.Reader{"nil": nil, "empty": read.New(nil, nil)} {
		_, err := r.At(read.AsOf{}).Hosts(ctx, "default", view.Filter{}, view.PageRequest{})
		require.ErrorIs(t, err, read.ErrNoLive, name)
		_, err = r.At(read.AsOf{Seq: 1}).Summary(ctx, "default")
		require.ErrorIs(t, err, read.ErrNoHistory, name)
		_, err = r.Lattices(ctx)
		require.ErrorIs(t, err, read.ErrNoLive, name)
		_, err = r.Window(ctx, "default")
		require.ErrorIs(t, err, read.ErrNoHistory, name)
	}
}

func TestParseAsOf(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 2, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want read.AsOf
		err  bool
	}{
		{"42", read.AsOf{Seq: 42}, false},
		{"2026-11-25T14:02:00Z", read.AsOf{Time: at}, false},
		{"0", read.AsOf{}, true},
		{"-1", read.AsOf{}, true},
		{"soon", read.AsOf{}, true},
		{"2026-11-25", read.AsOf{}, true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := read.ParseAsOf(tt.in)
			if tt.err {
				require.ErrorIs(t, err, read.ErrBadAsOf)
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.Time.Equal(got.Time))
			require.Equal(t, tt.want.Seq, got.Seq)
			require.False(t, read.IsLive(got))
		})
	}
	require.True(t, read.IsLive(read.AsOf{}))
}

// A host watch sees puts and deletes of the lattice's hosts only, with
// the current hosts first when asked.
func TestBucket_WatchHosts(t *testing.T) {
	f := mustFixture(t, heartbeat(1, map[string]string{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	w, err := f.bucket.WatchHosts(ctx, "default", true, 10*time.Millisecond)
	require.NoError(t, err)
	defer func() { require.NoError(t, w.Stop()) }()
	c, err := w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, eventtest.HostID(1), c.ID)
	require.False(t, c.Deleted)

	require.NoError(t, f.nc.Publish(streams.HostEventSubject("other"), heartbeat(5, map[string]string{})))
	require.NoError(t, f.nc.Publish(streams.HostEventSubject("default"), eventtest.HostStopped(eventtest.HostID(1), nil)))
	c, err = w.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, eventtest.HostID(1), c.ID)
	require.True(t, c.Deleted)
	require.Nil(t, c.JSON)

	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	_, err = w.Next(short)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "no other change of lattice default: %v", err)
}
