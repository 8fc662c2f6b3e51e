package read

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// HostChange is one change of a host document.
type HostChange struct {
	// ID is the host's id; Revision the bucket revision of the change.
	ID       string
	Revision uint64
	// Deleted tells that the host was removed; JSON is then nil.
	Deleted bool
	JSON    []byte
}

// HostWatch follows the host documents of one lattice in a Bucket.
type HostWatch struct {
	lattice string
	prefix  int
	w       jetstream.KeyWatcher
}

// WatchHosts follows the host documents of lattice, from now on, or with
// initial from the current documents on. The caller must Stop it.
func (b *Bucket) WatchHosts(ctx context.Context, lattice string, initial bool) (*HostWatch, error) {
	kv, err := b.KeyValue(ctx)
	if err != nil {
		return nil, err
	}
	var opts []jetstream.WatchOpt
	if !initial {
		opts = append(opts, jetstream.UpdatesOnly())
	}
	w, err := kv.Watch(ctx, streams.HostKeys(lattice), opts...)
	if err != nil {
		return nil, fmt.Errorf("watch lattice %s: %w", lattice, err)
	}
	return &HostWatch{lattice: lattice, prefix: len(streams.HostKey(lattice, "")), w: w}, nil
}

// Next waits for the next change. It fails with ctx's error when ctx ends,
// and with ErrWatchEnded when the watch closed.
func (hw *HostWatch) Next(ctx context.Context) (HostChange, error) {
	for {
		select {
		case <-ctx.Done():
			return HostChange{}, ctx.Err()
		case e, ok := <-hw.w.Updates():
			if !ok {
				return HostChange{}, fmt.Errorf("watch of lattice %s: %w", hw.lattice, ErrWatchEnded)
			}
			if e == nil { // the current documents are all delivered
				continue
			}
			c := HostChange{ID: e.Key()[hw.prefix:], Revision: e.Revision()}
			if e.Operation() == jetstream.KeyValuePut {
				c.JSON = e.Value()
			} else {
				c.Deleted = true
			}
			return c, nil
		}
	}
}

// Stop ends the watch.
func (hw *HostWatch) Stop() error { return hw.w.Stop() }
