package pipeline

import (
	"errors"
	"log/slog"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"

	"latticestate/projections"
	"latticestate/streams"
)

// Option configures a Projector.
type Option func(*options) error

type options struct {
	lattice       string
	batchSize     int
	flushEvents   int
	workers       int
	logger        *slog.Logger
	metrics       *Metrics
	onIntents     func([]projections.Intent)
	observe       func(*projections.Event, time.Time)
	tracer        trace.Tracer
	streamOptions streams.Options
	snapshotEvery uint64
	// checkpointEvery bounds how often a live flush saves the checkpoint
	// (see applier.write).
	checkpointEvery time.Duration
	// decoder decodes the events the projector applies, sharing what
	// recurs; each projector has its own.
	decoder *projections.Decoder
	// now is the clock the applier's flush and checkpoint decisions read:
	// time.Now, or a fixed one in tests that count the steps of a run.
	now func() time.Time
}

// Defaults of WithBatchSize and WithFlushWindow.
const (
	DefaultBatchSize   = 5000
	DefaultFlushWindow = 150_000
)

func defaultOptions() options {
	return options{
		batchSize:       DefaultBatchSize,
		flushEvents:     DefaultFlushWindow,
		workers:         runtime.GOMAXPROCS(0),
		logger:          slog.Default(),
		streamOptions:   streams.DefaultOptions(),
		snapshotEvery:   streams.DefaultSnapshotEvery,
		checkpointEvery: 20 * time.Millisecond,
		decoder:         projections.NewDecoder(),
		now:             time.Now,
	}
}

// WithLattice narrows the projector to one lattice; by default it projects
// every lattice it sees.
func WithLattice(lattice string) Option {
	return func(o *options) error {
		if lattice != "" {
			if err := streams.ValidateLattice(lattice); err != nil {
				return err
			}
		}
		o.lattice = lattice
		return nil
	}
}

// WithBatchSize sets how many events are folded and written per batch
// (DefaultBatchSize). A batch takes what is already delivered, up to n, so
// live batches stay small; catching up, larger ones coalesce more writes
// per key.
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > streams.ConsumerMaxAckPending/2 {
			return errors.New("batch size must be between 1 and half the consumer's max ack pending")
		}
		o.batchSize = n
		return nil
	}
}

// WithFlushWindow bounds how many events are folded, while catching up,
// before the documents they changed are written, each once
// (DefaultFlushWindow; a window is also written 5 s after its first
// event). At the head of the stream a window is written at once, and near
// it within 5 ms. 1 writes every batch.
func WithFlushWindow(events int) Option {
	return func(o *options) error {
		if events < 1 || events > streams.ConsumerMaxAckPending/2 {
			return errors.New("flush window must be between 1 and half the consumer's max ack pending")
		}
		o.flushEvents = events
		return nil
	}
}

// WithWorkers sets how many goroutines decode and encode in parallel
// (default GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("workers must be at least 1")
		}
		o.workers = n
		return nil
	}
}

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithMetrics records the projector's metrics in m.
func WithMetrics(m *Metrics) Option {
	return func(o *options) error {
		o.metrics = m
		return nil
	}
}

// WithIntentHandler receives the intents the reducers raise, once the
// batch that raised them is written and the projector has reached the head
// of the stream, less those that recorded events already answer. It must
// not block.
func WithIntentHandler(fn func([]projections.Intent)) Option {
	return func(o *options) error {
		o.onIntents = fn
		return nil
	}
}

// WithObserver is called, once their documents are written (before the
// checkpoint that counts them is saved), for every event applied, with the
// time the stream captured it; after a failed checkpoint an event can be
// observed again. The event's Data is not kept until then and is nil. It
// must not block.
func WithObserver(fn func(ev *projections.Event, captured time.Time)) Option {
	return func(o *options) error {
		o.observe = fn
		return nil
	}
}

// WithTracer traces every event through decode and KV write, continuing
// the trace of its traceparent header. Off by default.
func WithTracer(t trace.Tracer) Option {
	return func(o *options) error {
		o.tracer = t
		return nil
	}
}

// WithStreamOptions sets the replicas used for the projector's consumer.
func WithStreamOptions(so streams.Options) Option {
	return func(o *options) error {
		o.streamOptions = so
		return nil
	}
}

// WithSnapshotEvery sets the distance in stream sequences between the
// snapshots of a lattice (default streams.DefaultSnapshotEvery; 0: no
// snapshots, so time travel and replay need the whole history).
func WithSnapshotEvery(n uint64) Option {
	return func(o *options) error {
		o.snapshotEvery = n
		return nil
	}
}
