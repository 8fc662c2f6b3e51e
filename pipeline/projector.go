package pipeline

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// Projector consumes the event stream and keeps the state bucket current.
// It is made of parts with one job each:
//   - the leader takes turns at the consumer with the other projectors of
//     it, through a lease, and runs the loop;
//   - the batcher gathers deliveries into batches, fills gaps from the
//     stream and has windows flushed when due;
//   - the applier folds events into documents and writes them to its
//     store exactly once, with compare-and-set writes and a checkpoint;
//   - the rebuilder rebuilds the state from the stream when the stream
//     was replaced or the bucket deleted, and for a replay;
//   - the snapshotter records snapshots of the state at its boundaries.
type Projector struct {
	name      string
	lease     *lease
	applier   *applier
	batcher   *batcher
	rebuilder *rebuilder
	leader    *leader
}

// New returns a Projector that feeds the events of res.Events into
// res.State through its durable consumer, which it creates or updates, and
// records snapshots in res.Snapshots (none when nil). Projectors of one
// consumer take turns through a lease in res.Meta; one made without
// res.Meta takes no lease: it always pulls.
// Options: WithLattice, WithBatchSize, WithFlushWindow, WithWorkers,
// WithLogger, WithMetrics, WithIntentHandler, WithObserver, WithTracer,
// WithStreamOptions, WithSnapshotEvery; an invalid option fails New.
func New(ctx context.Context, js jetstream.JetStream, res *streams.Resources, opts ...Option) (*Projector, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("pipeline option: %w", err)
		}
	}
	if o.metrics == nil {
		o.metrics = NewMetrics(nil)
	}
	cons, err := streams.EnsureConsumer(ctx, res.Events, o.lattice, o.streamOptions)
	if err != nil {
		return nil, err
	}
	name := streams.ConsumerName(o.lattice)
	o.logger = o.logger.With("consumer", name)
	r := *res
	var filters []string
	if o.lattice != "" {
		filters = streams.LatticeFilters(o.lattice)
	}
	snaps := newSnapshotter(js, r.Snapshots, func() jetstream.Stream { return r.Events }, o.snapshotEvery, o.logger, o.metrics)
	a := newApplier(newKVStore(js, r.StateStream, r.State.Bucket(), name), o, snaps)
	rb := &rebuilder{js: js, res: &r, applier: a, consumer: name, filters: filters, opts: o, metrics: o.metrics, log: o.logger}
	b := &batcher{applier: a, follower: rb, js: js, res: &r, filters: filters, opts: o, metrics: o.metrics, log: o.logger,
		cons: cons, spare: make(chan []capturedEvent, 2)}
	p := &Projector{name: name, applier: a, batcher: b, rebuilder: rb}
	if r.Meta != nil {
		p.lease = newLease(r.Meta, name, o.logger)
	}
	p.leader = &leader{lease: p.lease, applier: a, batcher: b, rebuilder: rb, res: &r, metrics: o.metrics, log: o.logger}
	return p, nil
}

// Run consumes until ctx is cancelled, then finishes the batch in flight
// (written and acked) and returns nil. It pulls only while it holds the
// consumer's lease, and stands by while another projector does. It
// returns an error only when it cannot start.
func (p *Projector) Run(ctx context.Context) error { return p.leader.run(ctx) }

// Status is what the projector knows of its progress.
type Status struct {
	// Pending is the number of events not yet delivered to the projector.
	Pending uint64
	// AckPending is the number delivered but not yet written and acked.
	AckPending int
	// Checkpoint is the last stream sequence applied completely.
	Checkpoint uint64
	// Active tells whether this projector holds the consumer's lease and
	// pulls from it; false while it is on standby behind another.
	Active bool
}

// CaughtUp reports whether every captured event is applied and acked.
func (s Status) CaughtUp() bool { return s.Pending == 0 && s.AckPending == 0 }

// Status asks the server for the consumer's progress.
func (p *Projector) Status(ctx context.Context) (Status, error) {
	info, err := p.batcher.consumer().Info(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("consumer info: %w", err)
	}
	return Status{Pending: info.NumPending, AckPending: info.NumAckPending, Checkpoint: info.AckFloor.Stream,
		Active: p.leader.active.Load()}, nil
}
