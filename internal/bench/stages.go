package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// progressEvery is how many events pass between progress reports.
const progressEvery = 5000

// Raw reads the first n events of the stream with an ordered consumer and
// does nothing with them: the ceiling of any projector reading this
// stream.
func Raw(ctx context.Context, events jetstream.Stream, n int, progress Progress) (Stage, error) {
	st := Stage{Name: "raw"}
	cons, err := events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return st, fmt.Errorf("ordered consumer: %w", err)
	}
	cpu, start := processCPU(), time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(2000))
	if err != nil {
		return st, fmt.Errorf("ordered consumer: %w", err)
	}
	defer it.Stop()
	for i := range n {
		if _, err := it.Next(jetstream.NextContext(ctx)); err != nil {
			return st, fmt.Errorf("read event %d of %d: %w", i+1, n, err)
		}
		st.Events++
		if st.Events%progressEvery == 0 {
			progress.report(st.Events, uint64(n))
		}
	}
	st.Seconds = since(start)
	st.rate(cpu)
	return st, nil
}

// Naive runs a projector without batching over the first n events of the
// stream, into a fresh bucket: for every event one decode, one get, one
// fold, one put (or delete) and one ack that waits for the server.
func Naive(ctx context.Context, js jetstream.JetStream, events jetstream.Stream, n int, progress Progress) (Stage, error) {
	st := Stage{Name: "naive"}
	kv, _, err := FreshBucket(ctx, js, streams.BenchNaiveBucket)
	if err != nil {
		return st, err
	}
	if err := deleteConsumer(ctx, events, streams.BenchNaiveConsumer); err != nil {
		return st, err
	}
	cons, err := events.CreateOrUpdateConsumer(ctx, streams.BenchNaiveConsumerConfig())
	if err != nil {
		return st, fmt.Errorf("naive consumer: %w", err)
	}
	defer func() { _ = deleteConsumer(context.WithoutCancel(ctx), events, streams.BenchNaiveConsumer) }()
	cpu, start := processCPU(), time.Now()
	it, err := cons.Messages()
	if err != nil {
		return st, fmt.Errorf("naive consumer: %w", err)
	}
	defer it.Stop()
	for i := range n {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return st, fmt.Errorf("read event %d of %d: %w", i+1, n, err)
		}
		if err := NaiveApply(ctx, kv, msg); err != nil {
			return st, fmt.Errorf("naive apply of event %d: %w", i+1, err)
		}
		st.Events++
		if st.Events%1000 == 0 {
			progress.report(st.Events, uint64(n))
		}
	}
	st.Seconds = since(start)
	st.rate(cpu)
	return st, nil
}

// NaiveApply is what a projector without batching does with one event:
// decode, get the document it changes, fold, put (or delete), then ack and
// wait for the server to confirm. Undecodable and ignored events are acked.
func NaiveApply(ctx context.Context, kv jetstream.KeyValue, msg jetstream.Msg) error {
	lattice, err := streams.LatticeOf(msg.Subject())
	if err != nil {
		return msg.DoubleAck(ctx)
	}
	ev, err := projections.Decode(msg.Data())
	if err != nil || ev.Ignored() {
		return msg.DoubleAck(ctx)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return err
	}
	ev.Lattice, ev.Seq = lattice, meta.Sequence.Stream
	var key string
	var doc []byte
	switch t := ev.Target(); t.Kind {
	case projections.TargetHost:
		key = streams.HostKey(lattice, t.Key)
		var cur *projections.Host
		if cur, err = getHost(ctx, kv, key); err != nil {
			return err
		}
		if next, _ := projections.ApplyHost(cur, &ev); next != nil {
			doc, err = projections.Marshal(next)
		}
	case projections.TargetLink:
		key = streams.LinkKey(lattice, t.Key)
		if l := projections.ApplyLink(nil, &ev); l != nil {
			doc, err = projections.Marshal(&projections.LinkDoc{Key: t.Key, Link: l, Seq: ev.Seq})
		}
	case projections.TargetRefmap:
		key = streams.RefmapKey(lattice, t.Key)
		doc, err = projections.Marshal(&projections.RefmapDoc{OCIURL: t.Key, PublicKey: projections.ApplyRefmap("", &ev), Seq: ev.Seq})
	}
	if err != nil {
		return err
	}
	switch {
	case key == "":
	case doc == nil:
		if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	default:
		if _, err := kv.Put(ctx, key, doc); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	return msg.DoubleAck(ctx)
}

// getHost reads a host document; nil when there is none.
func getHost(ctx context.Context, kv jetstream.KeyValue, key string) (*projections.Host, error) {
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return projections.UnmarshalHost(e.Value())
}

// Replay runs latticestate's projector, with opts, through its durable
// consumer over the whole stream into a fresh bucket, as serve catches up,
// and measures until every event of the stream is written and acked. The
// first n events are expected (the length of the stream).
func Replay(ctx context.Context, js jetstream.JetStream, res *streams.Resources, n int, progress Progress, opts ...pipeline.Option) (Stage, error) {
	st := Stage{Name: "replay"}
	target, err := replayTarget(ctx, js, res)
	if err != nil {
		return st, err
	}
	metrics := pipeline.NewMetrics(nil)
	opts = append([]pipeline.Option{pipeline.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	p, err := pipeline.New(ctx, js, target, append(opts, pipeline.WithMetrics(metrics))...)
	if err != nil {
		return st, err
	}
	elapsed, cpu, err := runToHead(ctx, p, uint64(n), progress)
	if err != nil {
		return st, err
	}
	st.Events, st.Seconds = uint64(n), elapsed
	st.rate(cpu)
	st.KVWrites = uint64(counterValue(metrics.Writes))
	st.KVWritesPerSec = float64(st.KVWrites) / elapsed
	return st, nil
}

// replayTarget is res with the state bucket replaced by a fresh
// BenchReplayBucket and the projector's consumer deleted, so that it
// starts from the beginning of the stream. The projector takes the
// consumer's lease in the meta bucket, as serve's does.
func replayTarget(ctx context.Context, js jetstream.JetStream, res *streams.Resources) (*streams.Resources, error) {
	if err := deleteConsumer(ctx, res.Events, streams.ProjectorConsumer); err != nil {
		return nil, err
	}
	target := *res
	var err error
	if target.State, target.StateStream, err = FreshBucket(ctx, js, streams.BenchReplayBucket); err != nil {
		return nil, err
	}
	return &target, nil
}

// caughtUpPoll is how often the projector's consumer is asked whether it
// has caught up.
const caughtUpPoll = 10 * time.Millisecond

// waitCaughtUp polls until the projector has written and acked every event
// of the stream.
func waitCaughtUp(ctx context.Context, p *pipeline.Projector, total uint64, progress Progress) error {
	t := time.NewTicker(caughtUpPoll)
	defer t.Stop()
	for {
		st, err := p.Status(ctx)
		if err != nil {
			return err
		}
		if st.CaughtUp() {
			progress.report(total, total)
			return nil
		}
		progress.report(st.Checkpoint, total)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// runToHead runs p until it has written and acked the first n events of
// its stream, and returns how long that took and the process CPU time at
// its start.
func runToHead(ctx context.Context, p *pipeline.Projector, n uint64, progress Progress) (float64, time.Duration, error) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	cpu, start := processCPU(), time.Now()
	go func() { done <- p.Run(runCtx) }()
	err := waitCaughtUp(ctx, p, n, progress)
	elapsed := since(start)
	cancel()
	if runErr := <-done; err == nil {
		err = runErr
	}
	return elapsed, cpu, err
}
