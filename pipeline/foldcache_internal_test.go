package pipeline

import (
	"context"
	"errors"
	"fmt"
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
	c := newFoldCache[*projections.Lattice]()
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
	c := newFoldCache[*projections.Lattice]()
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

// latest finds the kept point of the same stream and lattice closest below
// a point, at or after a given one, without counting it as used.
func TestFoldCache_Latest(t *testing.T) {
	c := newFoldCache[string]()
	ctx := context.Background()
	put := func(k foldKey) {
		_, err := c.get(ctx, k, func() (string, error) { return fmt.Sprint(k.point), nil })
		require.NoError(t, err)
	}
	at := func(point uint64) foldKey { return foldKey{stream: "s", lattice: "default", point: point} }
	put(at(5))
	put(at(9))
	for _, c2 := range []struct {
		point, from uint64
		want        string
	}{{12, 0, "9"}, {9, 0, "5"}, {12, 6, "9"}, {9, 6, ""}, {5, 0, ""}, {12, 10, ""}, {6, 5, "5"}} {
		point, v, ok := c.latest(at(c2.point), c2.from)
		require.Equal(t, c2.want != "", ok, "below %d from %d", c2.point, c2.from)
		require.Equal(t, c2.want, v, "below %d from %d", c2.point, c2.from)
		if ok {
			require.Equal(t, c2.want, fmt.Sprint(point))
		}
	}
	for _, other := range []foldKey{{stream: "t", lattice: "default", point: 12}, {stream: "s", lattice: "other", point: 12}} {
		_, _, ok := c.latest(other, 0)
		require.False(t, ok, "%+v", other)
	}
	// Not counted as used: 5 is still the least recently used, and goes.
	_, _, ok := c.latest(at(6), 0)
	require.True(t, ok)
	put(at(20))
	_, ok = c.kept.get(at(5))
	require.False(t, ok)
}
