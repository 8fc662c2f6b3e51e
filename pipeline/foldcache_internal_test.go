package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"latticestate/projections"
)

// Callers asking for one point at once share one fold; the lattice is kept
// for later callers, the two most recently used at most; a failed fold is
// not kept.
func TestFoldCache_OneFoldPerPoint(t *testing.T) {
	c := newFoldCache()
	ctx := context.Background()
	key := foldKey{stream: "s", lattice: "default", point: 7}
	var folds atomic.Int32
	release := make(chan struct{})
	want := projections.NewLattice("default")
	fold := func() (*projections.Lattice, error) {
		folds.Add(1)
		<-release
		return want, nil
	}
	var wg sync.WaitGroup
	got := make([]*projections.Lattice, 8)
	for i := range got {
		wg.Go(func() {
			l, err := c.get(ctx, key, fold)
			assert.NoError(t, err)
			got[i] = l
		})
	}
	require.Eventually(t, func() bool { return folds.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, int32(1), folds.Load())
	for _, l := range got {
		require.Same(t, want, l)
	}
	l, err := c.get(ctx, key, func() (*projections.Lattice, error) { return nil, errors.New("folded again") })
	require.NoError(t, err)
	require.Same(t, want, l)

	broken := errors.New("stream unavailable")
	other := foldKey{stream: "s", lattice: "default", point: 8}
	_, err = c.get(ctx, other, func() (*projections.Lattice, error) { return nil, broken })
	require.ErrorIs(t, err, broken)
	again := projections.NewLattice("default")
	l, err = c.get(ctx, other, func() (*projections.Lattice, error) { return again, nil })
	require.NoError(t, err)
	require.Same(t, again, l, "a failed fold is not kept")

	// Two more points: the least recently used (7, before 8 was read) goes.
	_, err = c.get(ctx, key, fold)
	require.NoError(t, err)
	_, err = c.get(ctx, foldKey{stream: "s", lattice: "default", point: 9}, func() (*projections.Lattice, error) { return projections.NewLattice("default"), nil })
	require.NoError(t, err)
	require.Len(t, c.kept.entries, foldCacheSize)
	_, ok := c.kept.get(other)
	require.False(t, ok)
	l, ok = c.kept.get(key)
	require.True(t, ok)
	require.Same(t, want, l)
}

// A caller that goes away stops waiting at once; when it was the one
// folding, a caller still waiting folds in its place.
func TestFoldCache_CallerGoesAway(t *testing.T) {
	c := newFoldCache()
	key := foldKey{stream: "s", lattice: "default", point: 7}
	leaderCtx, leave := context.WithCancel(context.Background())
	started := make(chan struct{})
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.get(leaderCtx, key, func() (*projections.Lattice, error) {
			close(started)
			<-leaderCtx.Done()
			return nil, leaderCtx.Err()
		})
		leaderErr <- err
	}()
	<-started

	impatient, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.get(impatient, key, nil)
	require.ErrorIs(t, err, context.Canceled)

	want := projections.NewLattice("default")
	waiter := make(chan *projections.Lattice, 1)
	go func() {
		l, err := c.get(context.Background(), key, func() (*projections.Lattice, error) { return want, nil })
		assert.NoError(t, err)
		waiter <- l
	}()
	leave()
	require.ErrorIs(t, <-leaderErr, context.Canceled)
	select {
	case l := <-waiter:
		require.Same(t, want, l)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting caller did not fold in place of the one that went away")
	}
}
