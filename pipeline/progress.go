package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Status is what the projector knows of its progress, measured on the
// event stream itself: the consumer's own counts (pending, ack pending)
// are not used, because whoever may update the consumer could make them
// say anything (a filter that matches nothing has nothing pending).
type Status struct {
	// Lag is how far the projection is behind the stream, in stream
	// sequences: from Checkpoint to Last; 0 once every event captured on
	// the projector's subjects is applied and written.
	Lag uint64
	// Last is the stream sequence of the last event in the stream on the
	// projector's subjects (of its lattice, or of all); 0 when there is
	// none.
	Last uint64
	// Checkpoint is the last stream sequence applied and written: this
	// projector's own while it is active (its documents written, its
	// checkpoint saved or about to be), the one the active projector
	// saved in the bucket while this one stands by.
	Checkpoint uint64
	// Active tells whether this projector holds the consumer's lease and
	// pulls from it; false while it is on standby behind another.
	Active bool
}

// CaughtUp reports whether every captured event is applied and written.
func (s Status) CaughtUp() bool { return s.Lag == 0 }

// Status measures the projector's progress: the stream's last sequence on
// its subjects against its checkpoint.
func (p *Projector) Status(ctx context.Context) (Status, error) {
	st := Status{Active: p.leader.active.Load()}
	if st.Active {
		st.Checkpoint = p.applier.written.Load()
	} else {
		cp, err := p.progress.bucket.Checkpoint(ctx)
		if err != nil {
			return Status{}, err
		}
		st.Checkpoint = cp.seq
	}
	last, err := p.progress.last(ctx)
	if err != nil {
		return Status{}, err
	}
	st.Last, st.Lag = last, lagOf(last, st.Checkpoint)
	p.progress.metrics.setLag(p.progress.consumer, st.Lag)
	return st, nil
}

// progress measures how far a projector is behind its stream.
type progress struct {
	// events is the event stream; its name is all that is used, so it
	// stays valid when the stream is created again.
	events jetstream.Stream
	// filters are the projector's subjects; none for every lattice.
	filters []string
	// bucket reads the checkpoint saved by the active projector.
	bucket   docStore
	consumer string
	metrics  *Metrics
}

// last returns the stream sequence of the last event on the projector's
// subjects, 0 when there is none: one lookup per subject filter, each
// answered from the stream's subject index.
func (p *progress) last(ctx context.Context) (uint64, error) {
	filters := p.filters
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var last uint64
	for _, f := range filters {
		m, err := p.events.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("last event on %s: %w", f, err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

// measure records the lag of the active projector, whose checkpoint is
// checkpoint, in the lag metric.
func (p *progress) measure(ctx context.Context, checkpoint uint64) {
	if last, err := p.last(ctx); err == nil {
		p.metrics.setLag(p.consumer, lagOf(last, checkpoint))
	}
}

// lagOf is how far checkpoint is behind last.
func lagOf(last, checkpoint uint64) uint64 {
	if last > checkpoint {
		return last - checkpoint
	}
	return 0
}
