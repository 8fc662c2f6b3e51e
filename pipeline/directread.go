package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"latticestate/internal/direct"
	"latticestate/streams"
)

// readLattice calls f with every event of lattice in the stream with a
// sequence in [from, to], in order. It reads with batched direct gets,
// which need no consumer: a reader allowed only to get messages can travel
// in time. A lattice's events are on two subjects that no one wildcard
// covers without the other lattices' (streams.HostEventSubject and
// streams.LatticeKindSubjects), so two cursors are merged by sequence.
func readLattice(ctx context.Context, js jetstream.JetStream, lattice string, from, to uint64, f func(seq uint64, subject string, data []byte)) error {
	a := &directCursor{js: js, subject: streams.HostEventSubject(lattice), next: from, to: to}
	b := &directCursor{js: js, subject: streams.LatticeKindSubjects(lattice), next: from, to: to}
	for {
		ma, err := a.peek(ctx)
		if err != nil {
			return err
		}
		mb, err := b.peek(ctx)
		if err != nil {
			return err
		}
		var m *jetstream.RawStreamMsg
		switch {
		case ma == nil && mb == nil:
			return nil
		case mb == nil || (ma != nil && ma.Sequence < mb.Sequence):
			m = a.take()
		default:
			m = b.take()
		}
		f(m.Sequence, m.Subject, m.Data)
	}
}

// directCursor reads the events of one subject filter in batches.
type directCursor struct {
	js       jetstream.JetStream
	subject  string
	next, to uint64
	buf      []*jetstream.RawStreamMsg
	done     bool
}

// peek returns the next event of the cursor, nil when there is none up
// to its end.
func (c *directCursor) peek(ctx context.Context) (*jetstream.RawStreamMsg, error) {
	if len(c.buf) == 0 && !c.done {
		if err := c.fill(ctx); err != nil {
			return nil, err
		}
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	return c.buf[0], nil
}

func (c *directCursor) take() *jetstream.RawStreamMsg {
	m := c.buf[0]
	c.buf = c.buf[1:]
	return m
}

// fill reads the next batch.
func (c *directCursor) fill(ctx context.Context) error {
	if c.next > c.to {
		c.done = true
		return nil
	}
	// direct.Batch fails on a batch not answered in full, which the client
	// library would end as if it were short.
	n, next, err := direct.Batch(ctx, c.js, streams.EventsStream, c.subject, c.next, func(m *jetstream.RawStreamMsg) error {
		if m.Sequence > c.to {
			c.done = true
		} else {
			c.buf = append(c.buf, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	c.next = next
	if n == 0 {
		c.done = true
	}
	return nil
}

// firstAfter returns the sequence of the first event captured after t, 0
// when there is none.
func firstAfter(ctx context.Context, js jetstream.JetStream, t time.Time) (uint64, error) {
	msgs, err := jetstreamext.GetBatch(ctx, js, streams.EventsStream, 1, jetstreamext.GetBatchStartTime(t.Add(time.Nanosecond)))
	if err != nil {
		return 0, fmt.Errorf("find %s in stream %s: %w", t.Format(time.RFC3339Nano), streams.EventsStream, err)
	}
	var seq uint64
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("find %s in stream %s: %w", t.Format(time.RFC3339Nano), streams.EventsStream, err)
		}
		if seq == 0 {
			seq = m.Sequence
		}
	}
	return seq, nil
}
