package pipeline

import (
	"context"
	"sync"
)

// foldCache keeps the lattices a History folded last (V: what a fold
// returns). The state of a lattice as of a point of one stream never
// changes, and readers ask for one point several times: a dashboard
// showing a point asks for its counts, a page of hosts, its links and ref
// maps at once, then for every further page. Callers asking for a point
// being folded wait for that fold instead of folding it again. A kept
// lattice is also where a later point of the same stream can be folded
// from (latest).
type foldCache[V any] struct {
	mu      sync.Mutex
	kept    recent[foldKey, V]
	folding map[foldKey]*folding[V]
}

// foldKey names a lattice as of a point of one stream (its identity).
type foldKey struct {
	stream, lattice string
	point           uint64
}

// folding is a fold in progress; done is closed once value or err is set.
// abandoned says that the fold failed after its caller went away.
type folding[V any] struct {
	done      chan struct{}
	value     V
	err       error
	abandoned bool
}

// foldCacheSize is how many folded lattices are kept: for 10,000 hosts,
// each costs up to tens of megabytes beyond the snapshot it started from.
const foldCacheSize = 2

func newFoldCache[V any]() *foldCache[V] {
	return &foldCache[V]{kept: recent[foldKey, V]{size: foldCacheSize}, folding: map[foldKey]*folding[V]{}}
}

// get returns the value of key, kept or folded by fold. A fold that
// failed because its caller went away is taken over by a caller still
// waiting.
func (c *foldCache[V]) get(ctx context.Context, key foldKey, fold func() (V, error)) (V, error) {
	var zero V
	for {
		c.mu.Lock()
		if l, ok := c.kept.get(key); ok {
			c.mu.Unlock()
			return l, nil
		}
		if f, ok := c.folding[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return zero, ctx.Err()
			}
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.value, f.err
		}
		f := &folding[V]{done: make(chan struct{})}
		c.folding[key] = f
		c.mu.Unlock()
		f.value, f.err = fold()
		f.abandoned = f.err != nil && ctx.Err() != nil
		c.mu.Lock()
		delete(c.folding, key)
		if f.err == nil {
			c.kept.put(key, f.value)
		}
		c.mu.Unlock()
		close(f.done)
		return f.value, f.err
	}
}

// latest returns the kept value of the latest point of key's stream and
// lattice that is at or after from and before key's point, without
// counting it as used; false when none is kept.
func (c *foldCache[V]) latest(key foldKey, from uint64) (uint64, V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		point uint64
		value V
		found bool
	)
	for _, e := range c.kept.entries {
		k := e.key
		if k.stream == key.stream && k.lattice == key.lattice && from <= k.point && k.point < key.point && (!found || k.point > point) {
			point, value, found = k.point, e.value, true
		}
	}
	return point, value, found
}
