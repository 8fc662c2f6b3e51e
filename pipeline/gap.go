package pipeline

import (
	"context"
	"errors"
	"fmt"

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
	cons, err := p.js.OrderedConsumer(ctx, p.res.Events.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: p.filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    next,
	})
	if err != nil {
		return fmt.Errorf("gap fill consumer: %w", err)
	}
	for p.high+1 < upTo {
		batch, err := cons.Fetch(p.opts.batchSize, jetstream.FetchMaxWait(2e9))
		if err != nil {
			return fmt.Errorf("gap fill fetch: %w", err)
		}
		var items []item
		reached := false
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("gap fill metadata: %w", err)
			}
			seq := meta.Sequence.Stream
			if seq >= upTo {
				reached = true
				continue
			}
			if seq > p.high {
				items = append(items, item{seq: seq, subject: m.Subject(), data: m.Data(), captured: meta.Timestamp})
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("gap fill fetch: %w", err)
		}
		if len(items) > 0 {
			if err := p.applyItems(ctx, items); err != nil {
				return err
			}
		}
		if reached || len(items) == 0 {
			return nil
		}
	}
	return nil
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
