package pipeline

import (
	"sync"

	"latticestate/projections"
)

// grouping is a run's events grouped by document key, in stream order
// within each key. An applier keeps one and reuses its map and slices
// from run to run.
type grouping struct {
	index map[string]int
	// keys in order of first appearance; events[i] are those of keys[i].
	// events may be longer than keys: the slices past len(keys) are kept
	// for later runs.
	keys   []string
	events [][]*projections.Event
}

// keptPerKey bounds the events a reused slice of a grouping holds.
const keptPerKey = 64

func (g *grouping) add(key string, ev *projections.Event) {
	i, ok := g.index[key]
	if !ok {
		if g.index == nil {
			g.index = map[string]int{}
		}
		i = len(g.keys)
		g.index[key] = i
		g.keys = append(g.keys, key)
		if i == len(g.events) {
			g.events = append(g.events, nil)
		}
	}
	g.events[i] = append(g.events[i], ev)
}

// reset empties g, keeping its memory, and lets go of the events. Slices
// grown past keptPerKey are dropped, so that what g keeps stays within a
// run's worth of keys times keptPerKey, whatever runs came before.
func (g *grouping) reset() {
	clear(g.index)
	for i := range g.keys {
		if cap(g.events[i]) > keptPerKey {
			g.events[i] = nil
			continue
		}
		clear(g.events[i])
		g.events[i] = g.events[i][:0]
	}
	clear(g.keys)
	g.keys = g.keys[:0]
}

// foldResult is what folding one key's events gave: the new version next
// of the document, folded from the version whose revision its write
// expects (base), and the intents raised.
type foldResult struct {
	base, next *document
	intents    []projections.Intent
	changed    bool
	err        error
}

// foldDocument applies events to a copy of prev.
func foldDocument(prev *document, events []*projections.Event) (*document, []projections.Intent, bool) {
	next := *prev
	next.enc = nil
	var intents []projections.Intent
	changed := false
	for _, ev := range events {
		in, applied := next.Apply(ev)
		if applied {
			changed = true
			intents = append(intents, in...)
		}
	}
	return &next, intents, changed
}

// parallel calls f(0) … f(n-1), on 2×workers goroutines when n is large
// enough for that to pay.
func parallel(n, workers int, f func(i int)) {
	if n < 64 || workers == 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range workers * 2 {
		wg.Go(func() {
			for i := range work {
				f(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
