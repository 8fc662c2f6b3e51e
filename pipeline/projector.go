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
	progress  *progress
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
	pr := &progress{events: r.Events, filters: filters, bucket: newKVStore(js, r.StateStream, r.State.Bucket(), name),
		consumer: name, metrics: o.metrics}
	guard := newConsumerGuard(r.Events, cons, streams.ProjectorConsumerConfig(o.lattice, o.streamOptions), o.metrics.ConsumerDrift, o.logger)
	// A consumer created anew starts after the checkpoint: what is applied
	// is not delivered again.
	guard.restartAt = func() uint64 { return a.checkpoint + 1 }
	b := &batcher{applier: a, follower: rb, js: js, res: &r, filters: filters, opts: o, metrics: o.metrics, log: o.logger,
		cons: cons, spare: make(chan []capturedEvent, spareBatches), guard: guard, progress: pr, consumeErrs: &consumeErrors{log: o.logger}}
	p := &Projector{name: name, applier: a, batcher: b, rebuilder: rb, progress: pr}
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
