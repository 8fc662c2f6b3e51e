package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/projections"
	"latticestate/streams"
)

// A History with the snapshot cache and one without answer every point,
// asked twice, with the fold of the events up to it; only the first keeps
// the snapshots it read.
func TestHistory_WithoutSnapshotCache(t *testing.T) {
	js, res, want := relabelledHosts(t)
	ctx := context.Background()
	require.GreaterOrEqual(t, len(projectWithSnapshots(t, js, res, "default", 10)), 3)

	cached, uncached := NewHistory(js), NewHistory(js, WithoutSnapshotCache())
	for _, seq := range []uint64{5, 10, 15, 20, 33, 40} {
		for _, h := range []*History{cached, uncached, cached, uncached} {
			l, err := h.Lattice(ctx, "default", AsOf{Seq: seq})
			require.NoError(t, err)
			got, err := projections.MarshalIndent(l)
			require.NoError(t, err)
			require.Equal(t, want[seq-1], string(got), "as of %d", seq)
		}
	}
	require.NotEmpty(t, cached.cache.docs.entries)
	require.Nil(t, uncached.cache)

	// The caching History folds a point once; the other folds it each time.
	a, err := cached.Lattice(ctx, "default", AsOf{Seq: 33})
	require.NoError(t, err)
	b, err := cached.Lattice(ctx, "default", AsOf{Seq: 33})
	require.NoError(t, err)
	require.Same(t, a, b)
	a, err = uncached.Lattice(ctx, "default", AsOf{Seq: 33})
	require.NoError(t, err)
	b, err = uncached.Lattice(ctx, "default", AsOf{Seq: 33})
	require.NoError(t, err)
	require.NotSame(t, a, b)
	require.Nil(t, uncached.folded)
}

// A snapshot pruned after a History read the index is found missing while
// the events after it are being read: the History reads the index again
// and answers from the snapshot before it.
func TestHistory_SnapshotPrunedMeanwhile(t *testing.T) {
	js, res, want := relabelledHosts(t)
	ctx := context.Background()
	snaps := projectWithSnapshots(t, js, res, "default", 10)
	i := slices.IndexFunc(snaps, func(s snapInfo) bool { return s.seq >= 30 && s.seq <= 37 })
	require.GreaterOrEqual(t, i, 1, "a snapshot from 30 to 37 and one before it: %v", snaps)

	h := NewHistory(js)
	_, err := h.Lattice(ctx, "default", AsOf{Seq: 5})
	require.NoError(t, err)
	require.NoError(t, res.Snapshots.Delete(ctx, snaps[i].name))
	l, err := h.Lattice(ctx, "default", AsOf{Seq: 37})
	require.NoError(t, err)
	got, err := projections.MarshalIndent(l)
	require.NoError(t, err)
	require.Equal(t, want[37-1], string(got))
}

// relabelledHosts starts a server with latticestate's streams and
// publishes 40 heartbeats of 5 hosts, each with a label of its own, and
// returns, by sequence - 1, the lattice after each, indented.
func relabelledHosts(t *testing.T) (jetstream.JetStream, *streams.Resources, []string) {
	t.Helper()
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	folder := projections.NewFolder("default")
	var want []string
	for i := range 40 {
		raw := eventtest.HostHeartbeat(eventtest.HostID(i%5),
			eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"n": fmt.Sprint(i)}}})
		ack, err := js.Publish(ctx, streams.HostEventSubject("default"), raw)
		require.NoError(t, err)
		require.NoError(t, folder.Add(ack.Sequence, raw))
		out, err := projections.MarshalIndent(folder.Lattice)
		require.NoError(t, err)
		want = append(want, string(out))
	}
	return js, res, want
}

// projectWithSnapshots runs a projector with snapshots every `every`
// sequences until it has applied the whole stream, stops it, and returns
// the snapshots of lattice it took. Snapshots are stored in the
// background; a stopped projector has stored every one it took.
func projectWithSnapshots(t *testing.T, js jetstream.JetStream, res *streams.Resources, lattice string, every uint64) []snapInfo {
	t.Helper()
	ctx := context.Background()
	p, err := New(ctx, js, res, WithSnapshotEvery(every), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	var stopped bool
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	defer stop()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := p.Status(ctx)
		if err != nil || !st.CaughtUp() {
			return fmt.Errorf("not caught up (%v)", err)
		}
		return nil
	})
	stop()
	idx, err := listSnapshots(ctx, res.Snapshots)
	require.NoError(t, err)
	return idx[lattice]
}

// A History asked for points further and further on folds each from the
// lattice it kept for a point before it, when no snapshot lies between
// them, and answers exactly what a fold from the snapshot gives: over a
// history with hosts joining and leaving, actors, providers, links and
// health checks, at points a few events to a few snapshots apart.
func TestHistory_FoldForward(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	hist, err := sim.NewHistory(sim.Config{Hosts: 12, Seed: 5}, 0.4)
	require.NoError(t, err)
	const n, every = 400, 25
	for range n {
		m, err := hist.Next()
		require.NoError(t, err)
		_, err = js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	snaps := projectWithSnapshots(t, js, res, sim.DefaultLattice, every)
	require.GreaterOrEqual(t, len(snaps), n/every-1)

	forward, cold := NewHistory(js), NewHistory(js, WithoutSnapshotCache())
	for _, walk := range []struct{ from, to, step uint64 }{{100, 160, 1}, {1, n, 7}, {3, n, every + 1}} {
		for seq := walk.from; seq <= walk.to; seq += walk.step {
			a, err := forward.Lattice(ctx, sim.DefaultLattice, AsOf{Seq: seq})
			require.NoError(t, err)
			b, err := cold.Lattice(ctx, sim.DefaultLattice, AsOf{Seq: seq})
			require.NoError(t, err)
			got, err := projections.MarshalIndent(a)
			require.NoError(t, err)
			want, err := projections.MarshalIndent(b)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "as of %d, by %d", seq, walk.step)
		}
	}
}

// Folded forward, the hosts that no event between two points changed are
// the very hosts of the point before; folded from the snapshot, those that
// changed after the snapshot would be folded again.
func TestHistory_FoldForwardShares(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	// Five hosts heartbeating in turn: the event at seq is host (seq-1)%5's.
	const n, hosts = 60, 5
	for i := range n {
		raw := eventtest.HostHeartbeat(eventtest.HostID(i%hosts),
			eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"n": fmt.Sprint(i)}}})
		_, err := js.Publish(ctx, streams.HostEventSubject("default"), raw)
		require.NoError(t, err)
	}
	snaps := projectWithSnapshots(t, js, res, "default", 10)
	// A snapshot at S with no other in (S, S+5]: hosts S%5, (S+1)%5 and
	// (S+2)%5 change up to S+3, the other two up to S+5.
	var at uint64
	for _, sn := range snaps {
		if sn.seq+5 <= n && !slices.ContainsFunc(snaps, func(o snapInfo) bool { return o.seq > sn.seq && o.seq <= sn.seq+5 }) {
			at = sn.seq
			break
		}
	}
	require.NotZero(t, at, "no snapshot with five events after it before the next: %v", snaps)

	h := NewHistory(js)
	before, err := h.Lattice(ctx, "default", AsOf{Seq: at + 3})
	require.NoError(t, err)
	after, err := h.Lattice(ctx, "default", AsOf{Seq: at + 5})
	require.NoError(t, err)
	require.Len(t, after.Hosts, hosts)
	var shared []string
	for id, host := range before.Hosts {
		if after.Hosts[id] == host {
			shared = append(shared, id)
		}
	}
	slices.Sort(shared)
	want := []string{eventtest.HostID(int(at % hosts)), eventtest.HostID(int((at + 1) % hosts)), eventtest.HostID(int((at + 2) % hosts))}
	slices.Sort(want)
	require.Equal(t, want, shared)
}

// The host pages of a point are kept with its folded lattice: every host
// in id order, each encoded as AppendHost encodes it, once, however often
// a page asks for it; a History that keeps nothing makes them anew.
func TestHistory_HostPages(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	_, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	const hosts = 7
	for i := range 3 * hosts {
		raw := eventtest.HostHeartbeat(eventtest.HostID(i%hosts),
			eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"n": fmt.Sprint(i)}}})
		_, err := js.Publish(ctx, streams.HostEventSubject("default"), raw)
		require.NoError(t, err)
	}
	at := AsOf{Seq: 2 * hosts}

	h := NewHistory(js)
	pages, err := h.HostPages(ctx, "default", at)
	require.NoError(t, err)
	l, err := h.Lattice(ctx, "default", at)
	require.NoError(t, err)
	require.Equal(t, l.SortedHosts(), pages.Hosts(), "the folded lattice's hosts, by id")
	for _, host := range pages.Hosts() {
		want, err := projections.AppendHost(nil, host)
		require.NoError(t, err)
		got, err := pages.Encoding(host)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		again, err := pages.Encoding(host)
		require.NoError(t, err)
		require.Same(t, &got[0], &again[0], "a host is encoded once")
	}
	kept, err := h.HostPages(ctx, "default", at)
	require.NoError(t, err)
	require.Same(t, pages, kept, "asked again, the point's pages are the kept ones")

	other, err := h.HostPages(ctx, "default", AsOf{Seq: 3 * hosts})
	require.NoError(t, err)
	_, err = pages.Encoding(other.Hosts()[0])
	require.Error(t, err, "a host of another point is not on these pages")

	fresh := NewHistory(js, WithoutSnapshotCache())
	p1, err := fresh.HostPages(ctx, "default", at)
	require.NoError(t, err)
	p2, err := fresh.HostPages(ctx, "default", at)
	require.NoError(t, err)
	require.NotSame(t, p1, p2)
	require.Equal(t, p1.Hosts(), p2.Hosts())
}
