package pipeline

import (
	"context"
	"sync"

	"latticestate/projections"
)

// foldCache keeps the lattices a History folded last. The state of a
// lattice as of a point of one stream never changes, and readers ask for
// one point several times: a dashboard showing a point asks for its
// counts, a page of hosts, its links and ref maps at once, then for every
// further page. Callers asking for a point being folded wait for that
// fold instead of folding it again.
type foldCache struct {
	mu      sync.Mutex
	kept    recent[foldKey, *projections.Lattice]
	folding map[foldKey]*folding
}

// foldKey names a lattice as of a point of one stream (its identity).
type foldKey struct {
	stream, lattice string
	point           uint64
}

// folding is a fold in progress; done is closed once lattice or err is
// set. abandoned says that the fold failed after its caller went away.
type folding struct {
	done      chan struct{}
	lattice   *projections.Lattice
	err       error
	abandoned bool
}

// foldCacheSize is how many folded lattices are kept: for 10,000 hosts,
// each costs up to tens of megabytes beyond the snapshot it started from.
const foldCacheSize = 2

func newFoldCache() *foldCache {
	return &foldCache{kept: recent[foldKey, *projections.Lattice]{size: foldCacheSize}, folding: map[foldKey]*folding{}}
}

// get returns the lattice of key, kept or folded by fold. A fold that
// failed because its caller went away is taken over by a caller still
// waiting.
func (c *foldCache) get(ctx context.Context, key foldKey, fold func() (*projections.Lattice, error)) (*projections.Lattice, error) {
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
				return nil, ctx.Err()
			}
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.lattice, f.err
		}
		f := &folding{done: make(chan struct{})}
		c.folding[key] = f
		c.mu.Unlock()
		f.lattice, f.err = fold()
		f.abandoned = f.err != nil && ctx.Err() != nil
		c.mu.Lock()
		delete(c.folding, key)
		if f.err == nil {
			c.kept.put(key, f.lattice)
		}
		c.mu.Unlock()
		close(f.done)
		return f.lattice, f.err
	}
}
