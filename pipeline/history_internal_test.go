package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// A History with the snapshot cache and one without answer every point,
// asked twice, with the fold of the events up to it; only the first keeps
// the snapshots it read.
func TestHistory_WithoutSnapshotCache(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	folder := projections.NewFolder("default")
	var want []string // by sequence - 1: the lattice after it, indented
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

	p, err := New(ctx, js, res, WithSnapshotEvery(10), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		idx, err := listSnapshots(ctx, res.Snapshots)
		if err != nil {
			return err
		}
		if n := len(idx["default"]); n < 3 {
			return fmt.Errorf("%d snapshots", n)
		}
		return nil
	})

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
