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
	// State is the active state bucket (see ActiveState).
	State jetstream.KeyValue
	// StateStream is the stream behind the State bucket.
	StateStream jetstream.Stream
	// Meta holds which state bucket is active.
	Meta jetstream.KeyValue
}

// Ensure creates the event and dead-letter streams and the state bucket, or
// updates them to the configuration in o. It is idempotent and safe to run
// from many processes at once. While JetStream is unavailable (a cluster
// whose nodes are still starting and electing a meta leader, or with fewer
// peers than o.Replicas) it retries each step with backoff until ctx ends.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (*Resources, error) {
	var r Resources
	err := retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.Events, err = js.CreateOrUpdateStream(ctx, EventsStreamConfig(o)); err != nil {
			return fmt.Errorf("ensure stream %s: %w", EventsStream, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.DLQ, err = js.CreateOrUpdateStream(ctx, DLQStreamConfig(o)); err != nil {
			return fmt.Errorf("ensure stream %s: %w", DLQStream, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var name string
	err = retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) (err error) {
		if r.Meta, err = js.CreateOrUpdateKeyValue(ctx, MetaBucketConfig(o)); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", MetaBucket, err)
		}
		name, _, err = ActiveState(ctx, r.Meta)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.State, r.StateStream, err = EnsureState(ctx, js, name, o); err != nil {
		return nil, err
	}
	return &r, nil
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

// ActiveState returns the name of the state bucket readers and the live
// projector use, and the revision of that choice (0: never switched, the
// default StateBucket).
func ActiveState(ctx context.Context, meta jetstream.KeyValue) (string, uint64, error) {
	e, err := meta.Get(ctx, ActiveStateKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return StateBucket, 0, nil
	case err != nil:
		return "", 0, fmt.Errorf("read active state bucket: %w", err)
	}
	return string(e.Value()), e.Revision(), nil
}

// SwitchState makes name the active state bucket, provided the choice is
// still at revision rev (0: never switched): readers move over atomically.
func SwitchState(ctx context.Context, meta jetstream.KeyValue, name string, rev uint64) error {
	var err error
	if rev == 0 {
		_, err = meta.Create(ctx, ActiveStateKey, []byte(name))
	} else {
		_, err = meta.Update(ctx, ActiveStateKey, []byte(name), rev)
	}
	if err != nil {
		return fmt.Errorf("switch to state bucket %s: %w", name, err)
	}
	return nil
}

// EnsureConsumer creates or updates the projector's durable consumer for
// lattice (every lattice when ""), retrying like Ensure while JetStream is
// unavailable.
func EnsureConsumer(ctx context.Context, s jetstream.Stream, lattice string, o Options) (jetstream.Consumer, error) {
	cfg := ProjectorConsumerConfig(lattice, o)
	var c jetstream.Consumer
	err := retryUnavailable(ctx, o.OnRetry, func(ctx context.Context) error {
		var err error
		c, err = s.CreateOrUpdateConsumer(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}
