package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Resources are the handles Ensure returns.
type Resources struct {
	Events jetstream.Stream
	DLQ    jetstream.Stream
	// State is the state bucket, StateStream the stream behind it.
	State       jetstream.KeyValue
	StateStream jetstream.Stream
	// Meta holds the projectors' leases.
	Meta jetstream.KeyValue
	// Snapshots holds the snapshots of every lattice.
	Snapshots jetstream.ObjectStore
}

// Ensure creates the event and dead-letter streams, the state and meta
// buckets and the snapshot store, or updates them to the configuration in
// o. It is idempotent and safe to run from many processes at once. The
// event stream's limits an operator set are kept unless o.LimitsSet (see
// EventsStreamConfig). While JetStream is unavailable (a cluster whose
// nodes are still starting and electing a meta leader, or with fewer peers
// than o.Replicas) it retries each step with backoff until ctx ends.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (*Resources, error) {
	var r Resources
	var err error
	if r.Events, err = EnsureEvents(ctx, js, o); err != nil {
		return nil, err
	}
	// One retry each: an attempt that timed out on one resource does not
	// lengthen the first attempt at the next.
	err = retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.DLQ, err = js.CreateOrUpdateStream(ctx, DLQStreamConfig(o)); err != nil {
			return fmt.Errorf("ensure stream %s: %w", DLQStream, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.Meta, err = js.CreateOrUpdateKeyValue(ctx, MetaBucketConfig(o)); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", MetaBucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.Snapshots, err = js.CreateOrUpdateObjectStore(ctx, SnapshotStoreConfig(o)); err != nil {
			return fmt.Errorf("ensure object store %s: %w", SnapshotStore, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.State, r.StateStream, err = EnsureState(ctx, js, StateBucket, o); err != nil {
		return nil, err
	}
	return &r, nil
}

// EnsureEvents creates or updates the event stream alone, like Ensure.
func EnsureEvents(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Stream, error) {
	var s jetstream.Stream
	err := retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		s, err = ensureEvents(ctx, js, o)
		return err
	})
	return s, err
}

// ensureEvents creates the event stream, or updates it keeping the limits
// an operator set on it unless o.LimitsSet asks for others.
func ensureEvents(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Stream, error) {
	cfg := EventsStreamConfig(o)
	s, err := js.Stream(ctx, EventsStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if s, err = js.CreateStream(ctx, cfg); err == nil {
			return s, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("ensure stream %s: %w", EventsStream, err)
		}
		if s, err = js.Stream(ctx, EventsStream); err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", EventsStream, err)
		}
	case err != nil:
		return nil, fmt.Errorf("ensure stream %s: %w", EventsStream, err)
	}
	cur := s.CachedInfo().Config
	cfg = KeepLimits(cfg, cur, o)
	if cfg.MaxAge != cur.MaxAge || cfg.MaxBytes != cur.MaxBytes {
		o.logger().Info("changing the event stream's retention", "stream", EventsStream,
			"max_age", cfg.MaxAge.String(), "was_max_age", cur.MaxAge.String(),
			"max_bytes", cfg.MaxBytes, "was_max_bytes", cur.MaxBytes)
	}
	if s, err = js.UpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", EventsStream, err)
	}
	return s, nil
}

// KeepLimits returns cfg with the limits of the existing stream configuration
// cur wherever the operator's choice prevails: every limit latticestate has
// no flag for, and the age and size limits unless o.LimitsSet.
func KeepLimits(cfg, cur jetstream.StreamConfig, o Options) jetstream.StreamConfig {
	cfg.MaxMsgs, cfg.MaxMsgsPerSubject, cfg.MaxMsgSize = cur.MaxMsgs, cur.MaxMsgsPerSubject, cur.MaxMsgSize
	cfg.Discard = cur.Discard
	if !o.LimitsSet {
		cfg.MaxAge, cfg.MaxBytes = cur.MaxAge, cur.MaxBytes
	}
	return cfg
}

// EnsureState creates or updates the state bucket name and opens its
// stream, retrying like Ensure while JetStream is unavailable.
func EnsureState(ctx context.Context, js jetstream.JetStream, name string, o Options) (jetstream.KeyValue, jetstream.Stream, error) {
	cfg := StateBucketConfig(o)
	cfg.Bucket = name
	var kv jetstream.KeyValue
	var s jetstream.Stream
	err := retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if kv, err = js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", name, err)
		}
		if s, err = js.Stream(ctx, BucketStream(name)); err != nil {
			return fmt.Errorf("open stream of bucket %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return kv, s, nil
}

// EnsureConsumer creates or updates the projector's durable consumer for
// lattice (every lattice when ""), retrying like Ensure while JetStream is
// unavailable.
func EnsureConsumer(ctx context.Context, s jetstream.Stream, lattice string, o Options) (jetstream.Consumer, error) {
	cfg := ProjectorConsumerConfig(lattice, o)
	var c jetstream.Consumer
	err := retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) error {
		// Where an existing consumer starts is kept: it cannot be
		// updated, and the projector chose it (see StartConsumerAt).
		if cur, err := s.Consumer(ctx, cfg.Durable); err == nil {
			cc := cur.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime
		}
		var err error
		c, err = s.CreateOrUpdateConsumer(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// StartConsumerAt replaces the projector's durable consumer for lattice
// with one that delivers from stream sequence seq: after the state was
// rebuilt from a stream that replaced the one the consumer had followed.
func StartConsumerAt(ctx context.Context, s jetstream.Stream, lattice string, seq uint64, o Options) (jetstream.Consumer, error) {
	cfg := ProjectorConsumerConfig(lattice, o)
	if err := s.DeleteConsumer(ctx, cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("replace consumer %s: %w", cfg.Durable, err)
	}
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, max(seq, 1)
	c, err := s.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replace consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}
