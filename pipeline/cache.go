package pipeline

import (
	"context"
	"maps"
	"sync"
)

// docCache holds the last version the applier read or wrote of every
// document it met, so the hot path reads nothing from the store. It is
// memory only: after a failed write, or when another process may have
// written, it is reset and documents are loaded again.
type docCache struct {
	store docStore
	// lattices scopes fill: the projector's lattices, all for none.
	lattices []string

	mu   sync.Mutex
	docs map[string]*document
	// complete means the cache holds every document there is, so a key
	// missing from it does not exist. A wrong guess (another process
	// wrote) fails the compare-and-set and resets the cache.
	complete bool
}

func newDocCache(store docStore, lattices []string) *docCache {
	return &docCache{store: store, lattices: lattices, docs: map[string]*document{}}
}

// load returns the current document for key: from the cache, or from the
// store.
func (c *docCache) load(ctx context.Context, key string) (*document, error) {
	c.mu.Lock()
	d, ok := c.docs[key]
	complete := c.complete
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	if complete {
		return &document{key: key}, nil
	}
	d, err := c.store.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	c.remember(d)
	return d, nil
}

// remember caches d as the stored version of its key.
func (c *docCache) remember(d *document) {
	c.mu.Lock()
	c.docs[d.key] = d
	c.mu.Unlock()
}

// documents returns a copy of the cache: every document there is once the
// cache is complete.
func (c *docCache) documents() map[string]*document {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.docs)
}

// isComplete reports whether the cache holds every document.
func (c *docCache) isComplete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.complete
}

// reset drops the whole cache, for when another process may have written.
func (c *docCache) reset() {
	c.mu.Lock()
	c.docs = map[string]*document{}
	c.complete = false
	c.mu.Unlock()
}

// fill reads every document of the cache's lattices from the store and
// marks the cache complete. A replay into an empty bucket then loads
// nothing key by key.
func (c *docCache) fill(ctx context.Context) error {
	docs, err := c.store.LoadAll(ctx, c.lattices)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.docs, c.complete = docs, true
	c.mu.Unlock()
	return nil
}
