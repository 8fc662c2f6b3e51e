package streams

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	EventsStream = "LATTICE_EVENTS"
	DLQStream    = "LATTICE_DLQ"
)

// Options are the deployment settings of the resources.
type Options struct {
	// Replicas for streams and the bucket: 1 for a single server, 3 in a
	// cluster.
	Replicas int
	// MaxAge and MaxBytes limit the event stream (0: unlimited). They
	// apply to a stream Ensure creates; an existing stream keeps the limits
	// it has unless LimitsSet (an operator's choice is not undone by a
	// default).
	MaxAge    time.Duration
	MaxBytes  int64
	LimitsSet bool
	// Storage is file storage unless set to memory (for tests and benches).
	Storage jetstream.StorageType
	// OnRetry, when set, is told of each error Ensure, EnsureState or
	// EnsureConsumer retries while JetStream is unavailable, and of the
	// wait before the next attempt.
	OnRetry func(err error, wait time.Duration)
	// Logger is told when Ensure changes the event stream's limits.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// DefaultMaxAge is how long the event stream keeps events by default.
const DefaultMaxAge = 7 * 24 * time.Hour

// DefaultOptions: one replica, file storage, events kept 7 days.
func DefaultOptions() Options {
	return Options{Replicas: 1, MaxAge: DefaultMaxAge, Storage: jetstream.FileStorage}
}

// EventsStreamConfig captures host events and latticestate's own recorded
// events. The duplicate window lets publishers that set Nats-Msg-Id (the
// CloudEvent id) retry safely.
func EventsStreamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "wasmCloud lattice events captured for latticestate",
		Subjects:    []string{HostEventsSubjects, RecordedEventsSubjects},
		Storage:     o.Storage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    orUnlimited(o.MaxBytes),
		MaxMsgs:     -1,
		Duplicates:  2 * time.Minute,
		Replicas:    max(o.Replicas, 1),
		AllowDirect: true,
	}
}

// DLQStreamConfig keeps events that could not be decoded, with the reason.
func DLQStreamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "lattice events latticestate rejected, with the reason in headers",
		Subjects:    []string{DLQSubjects},
		Storage:     o.Storage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      30 * 24 * time.Hour,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Replicas:    max(o.Replicas, 1),
		AllowDirect: true,
	}
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}
