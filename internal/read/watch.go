package read

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/direct"
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

// HostWatch follows the host documents of one lattice in a Bucket. It
// reads the bucket with batched direct gets, looking for new revisions
// every poll, and creates no consumer: readers may create none (see
// deploy/nats/nats.conf). With the bucket's history of one, a host
// changed twice within one poll may show only its last change.
type HostWatch struct {
	b       *Bucket
	lattice string
	prefix  int
	poll    time.Duration
	// next is the first revision not read yet; queue what was read and not
	// yet returned.
	next  uint64
	queue []HostChange
}

// DefaultWatchPoll is how often a HostWatch looks for changes by default.
const DefaultWatchPoll = 250 * time.Millisecond

// WatchHosts follows the host documents of lattice, from now on, or with
// initial from the current documents on, looking for changes every poll
// (DefaultWatchPoll when 0). The caller must Stop it.
func (b *Bucket) WatchHosts(ctx context.Context, lattice string, initial bool, poll time.Duration) (*HostWatch, error) {
	if poll <= 0 {
		poll = DefaultWatchPoll
	}
	if _, err := b.KeyValue(ctx); err != nil {
		return nil, err
	}
	hw := &HostWatch{b: b, lattice: lattice, prefix: len(streams.HostKey(lattice, "")), poll: poll}
	var err error
	if initial {
		hw.next, err = direct.Last(ctx, b.js, b.name, []string{streams.HostKeys(lattice)}, func(e direct.Entry) error {
			hw.queue = append(hw.queue, hw.change(e))
			return nil
		})
	} else {
		hw.next, err = direct.LastSeq(ctx, b.js, direct.KVStream(b.name))
		hw.next++
	}
	if err != nil {
		return nil, fmt.Errorf("watch lattice %s: %w", lattice, err)
	}
	return hw, nil
}

func (hw *HostWatch) change(e direct.Entry) HostChange {
	c := HostChange{ID: e.Key[hw.prefix:], Revision: e.Revision}
	if e.Op == jetstream.KeyValuePut {
		c.JSON = e.Value
	} else {
		c.Deleted = true
	}
	return c
}

// Next waits for the next change. It fails with ctx's error when ctx ends,
// and with the read's error when the bucket cannot be read.
func (hw *HostWatch) Next(ctx context.Context) (HostChange, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for len(hw.queue) == 0 {
		select {
		case <-ctx.Done():
			return HostChange{}, ctx.Err()
		case <-t.C:
		}
		next, err := direct.Scan(ctx, hw.b.js, direct.KVStream(hw.b.name), streams.BucketSubject(hw.b.name, streams.HostKeys(hw.lattice)), hw.next,
			func(m *jetstream.RawStreamMsg) error {
				hw.queue = append(hw.queue, hw.change(direct.EntryOf(hw.b.name, m)))
				return nil
			})
		if ctx.Err() != nil {
			return HostChange{}, ctx.Err()
		}
		if err != nil {
			return HostChange{}, fmt.Errorf("watch of lattice %s: %w", hw.lattice, err)
		}
		hw.next = next
		t.Reset(hw.poll)
	}
	c := hw.queue[0]
	hw.queue = hw.queue[1:]
	return c, nil
}

// Stop ends the watch; it holds nothing on the server.
func (hw *HostWatch) Stop() error { return nil }
