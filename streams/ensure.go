package streams

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Resources are the handles Ensure returns.
type Resources struct {
	Events jetstream.Stream
	DLQ    jetstream.Stream
	State  jetstream.KeyValue
	// StateStream is the stream behind the State bucket.
	StateStream jetstream.Stream
}

// Ensure creates the event and dead-letter streams and the state bucket, or
// updates them to the configuration in o. It is idempotent and safe to run
// from many processes at once.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) (*Resources, error) {
	var r Resources
	var err error
	if r.Events, err = js.CreateOrUpdateStream(ctx, EventsStreamConfig(o)); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", EventsStream, err)
	}
	if r.DLQ, err = js.CreateOrUpdateStream(ctx, DLQStreamConfig(o)); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", DLQStream, err)
	}
	if r.State, err = js.CreateOrUpdateKeyValue(ctx, StateBucketConfig(o)); err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", StateBucket, err)
	}
	if r.StateStream, err = js.Stream(ctx, BucketStream(StateBucket)); err != nil {
		return nil, fmt.Errorf("open stream of bucket %s: %w", StateBucket, err)
	}
	return &r, nil
}

// EnsureConsumer creates or updates the projector's durable consumer for
// lattice (every lattice when "").
func EnsureConsumer(ctx context.Context, s jetstream.Stream, lattice string, o Options) (jetstream.Consumer, error) {
	cfg := ProjectorConsumerConfig(lattice, o)
	c, err := s.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}
