package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// fillGap applies, straight from the stream, the consumer's events between
// the applied sequence and upTo (exclusive) that were never applied. They
// exist when a delivery was lost (the process crashed, the connection
// dropped): the server redelivers them only after the ack wait, later than
// newer events. Applying them first keeps every document in stream order;
// their redelivery is then skipped.
func (b *batcher) fillGap(ctx context.Context, upTo uint64) error {
	from := b.applier.applied + 1
	if upTo <= from {
		return nil
	}
	next, err := b.nextStreamSeq(ctx, from)
	if err != nil {
		return err
	}
	if next == 0 || next >= upTo {
		return nil
	}
	b.log.Info("filling gap from the stream", "from", next, "to", upTo-1)
	return b.applyStream(ctx, upTo)
}

// applyStream applies the consumer's events read straight from the stream,
// from the one after the applied sequence up to upTo (exclusive) or the
// end of the stream, in batches, flushing the window when it is due.
func (b *batcher) applyStream(ctx context.Context, upTo uint64) error {
	a := b.applier
	cons, err := b.js.OrderedConsumer(ctx, b.res.Events.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: b.filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    a.applied + 1,
	})
	if err != nil {
		return fmt.Errorf("read stream: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * b.opts.batchSize))
	if err != nil {
		return fmt.Errorf("read stream: %w", err)
	}
	defer it.Stop()
	events := make([]capturedEvent, 0, b.opts.batchSize)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq >= upTo {
			return b.applyRead(ctx, events, meta.NumPending)
		}
		if seq > a.applied {
			events = append(events, capturedEvent{seq: seq, subject: m.Subject(), data: m.Data(), captured: meta.Timestamp})
		}
		if meta.NumPending == 0 {
			return b.applyRead(ctx, events, 0)
		}
		if len(events) == b.opts.batchSize {
			if err := b.applyRead(ctx, events, meta.NumPending); err != nil {
				return err
			}
			events = events[:0]
		}
	}
}

// applyRead applies events read from the stream, with pending events left
// after them, and flushes the window when it is due.
func (b *batcher) applyRead(ctx context.Context, events []capturedEvent, pending uint64) error {
	if len(events) == 0 {
		return nil
	}
	if err := b.applier.apply(ctx, events); err != nil {
		return err
	}
	if b.applier.flushDue(pending) {
		return b.applier.flush(ctx)
	}
	return nil
}

// nextStreamSeq returns the sequence of the first event of the consumer at
// or after seq, 0 when there is none.
func (b *batcher) nextStreamSeq(ctx context.Context, seq uint64) (uint64, error) {
	filters := b.filters
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var next uint64
	for _, f := range filters {
		m, err := b.res.Events.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(f))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("look up stream from %d: %w", seq, err)
		}
		if next == 0 || m.Sequence < next {
			next = m.Sequence
		}
	}
	return next, nil
}
