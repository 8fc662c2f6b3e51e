package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// AsOf is a point in the event stream: a stream sequence, or a capture
// time. The zero AsOf is the end of the stream.
type AsOf struct {
	Seq  uint64
	Time time.Time
}

// ErrBadAsOf is returned by ParseAsOf for anything but a sequence number or
// an RFC 3339 time.
var ErrBadAsOf = errors.New("as of must be a stream sequence or an RFC 3339 time")

// ParseAsOf reads "<stream sequence>" or "<RFC 3339 time>".
func ParseAsOf(s string) (AsOf, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return AsOf{}, fmt.Errorf("%w: sequences start at 1", ErrBadAsOf)
		}
		return AsOf{Seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return AsOf{}, fmt.Errorf("%w: %q", ErrBadAsOf, s)
	}
	return AsOf{Time: t}, nil
}

func (a AsOf) String() string {
	if a.Seq > 0 {
		return "seq " + strconv.FormatUint(a.Seq, 10)
	}
	if !a.Time.IsZero() {
		return a.Time.Format(time.RFC3339Nano)
	}
	return "now"
}

// includes reports whether an event at seq captured at t is in the state as
// of a.
func (a AsOf) includes(seq uint64, t time.Time) bool {
	switch {
	case a.Seq > 0:
		return seq <= a.Seq
	case !a.Time.IsZero():
		return !t.After(a.Time)
	}
	return true
}

// FoldStream folds the events of lattice captured in the event stream up to
// asOf, reading the stream only (never the bucket): the state as `fold`
// would print it for that prefix of the stream. Memory grows with the number
// of hosts, not with the length of the stream.
func FoldStream(ctx context.Context, js jetstream.JetStream, lattice string, asOf AsOf) (*projections.Lattice, error) {
	stream, err := js.Stream(ctx, streams.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", streams.EventsStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streams.EventsStream, err)
	}
	folder := projections.NewFolder(lattice)
	last := info.State.LastSeq
	if asOf.Seq > 0 {
		last = min(last, asOf.Seq)
	}
	if info.State.Msgs == 0 || last < info.State.FirstSeq {
		return folder.Lattice, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: streams.LatticeFilters(lattice)})
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	if ci.NumPending == 0 {
		return folder.Lattice, nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		seq := meta.Sequence.Stream
		if seq > last || !asOf.includes(seq, meta.Timestamp) {
			return folder.Lattice, nil
		}
		_ = folder.AddFrom(OriginOf(m.Subject()), seq, m.Data())
		// NumPending counts the lattice's events after this one.
		if seq == last || meta.NumPending == 0 {
			return folder.Lattice, nil
		}
	}
}
