package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fillGap applies, straight from the stream, the consumer's events between
// the checkpoint and upTo (exclusive) that were never applied. They exist
// when a delivery was lost (the process crashed, the connection dropped):
// the server redelivers them only after the ack wait, later than newer
// events. Applying them first keeps every document in stream order; their
// redelivery is then skipped.
func (p *Projector) fillGap(ctx context.Context, upTo uint64) error {
	if upTo <= p.high+1 {
		return nil
	}
	next, err := p.nextStreamSeq(ctx, p.high+1)
	if err != nil {
		return err
	}
	if next == 0 || next >= upTo {
		return nil
	}
	p.log.Info("filling gap from the stream", "from", next, "to", upTo-1)
	return p.applyStream(ctx, func(seq uint64, _ time.Time) bool { return seq >= upTo }, nil)
}

// applyStream applies the consumer's events read straight from the stream,
// from the one after p.high, in batches, until past(seq, captured) holds for
// the next event or the stream has no more. progress, when set, is told the
// last sequence applied after every batch.
func (p *Projector) applyStream(ctx context.Context, past func(seq uint64, captured time.Time) bool, progress func(uint64)) error {
	cons, err := p.js.OrderedConsumer(ctx, p.res.Events.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: p.filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    p.high + 1,
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
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * p.opts.batchSize))
	if err != nil {
		return fmt.Errorf("read stream: %w", err)
	}
	defer it.Stop()
	items := make([]item, 0, p.opts.batchSize)
	var pending uint64
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		if err := p.applyItems(ctx, items); err != nil {
			return err
		}
		if p.due(pending) {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
		if progress != nil {
			progress(p.high)
		}
		items = items[:0]
		return nil
	}
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
		pending = meta.NumPending
		if past(seq, meta.Timestamp) {
			return flush()
		}
		if seq > p.high {
			items = append(items, item{seq: seq, subject: m.Subject(), data: m.Data(), captured: meta.Timestamp})
		}
		if meta.NumPending == 0 {
			return flush()
		}
		if len(items) == p.opts.batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// nextStreamSeq returns the sequence of the first event of the consumer at
// or after seq, 0 when there is none.
func (p *Projector) nextStreamSeq(ctx context.Context, seq uint64) (uint64, error) {
	filters := p.filters
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var next uint64
	for _, f := range filters {
		m, err := p.res.Events.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(f))
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
