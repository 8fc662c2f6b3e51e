package streams

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ProjectorConsumer is the durable consumer that feeds every lattice to the
// projector; LatticeConsumer names the one for a single lattice.
const ProjectorConsumer = "projector"

// LatticeConsumer is the durable consumer of one lattice's events.
func LatticeConsumer(lattice string) string { return "projector-" + lattice }

// ConsumerAckWait is how long the server waits for an ack before
// redelivering; a flush window is written and acked well within it, and
// deliveries lost to a crash are read back from the stream without waiting
// for it.
const ConsumerAckWait = 30 * time.Second

// ConsumerMaxAckPending bounds the events delivered and not yet acked. A
// projector catching up acks once per flush window, so this bounds the
// window, and a larger window writes each changed document less often.
const ConsumerMaxAckPending = 400_000

// LeaseTTL is how long the projector holding a consumer's lease may go
// without renewing it before a standby takes it over: the standby takeover
// time. One projector pulls from a consumer at a time, the one holding the
// key LeaseKey of the meta bucket; the others wait on standby.
const LeaseTTL = 5 * time.Second

// LeaseKey is the key of the meta bucket that the projectors of consumer
// compete for.
func LeaseKey(consumer string) string { return "lease." + consumer }

// YieldKey is the key of the meta bucket through which `projector replay`
// asks the holder of consumer's lease to hand it over: the holder writes
// what it has applied, releases the lease and waits while the key is
// fresh (YieldTTL).
func YieldKey(consumer string) string { return "yield." + consumer }

// YieldTTL is how long a hand-over request holds the live projector back
// from taking the lease again; replay takes the lease well within it.
const YieldTTL = 4 * LeaseTTL

// ConsumerName is the durable consumer that projects lattice, or every
// lattice when lattice is "".
func ConsumerName(lattice string) string {
	if lattice == "" {
		return ProjectorConsumer
	}
	return LatticeConsumer(lattice)
}

// ProjectorConsumerConfig is the durable pull consumer of one lattice's
// events, or of every lattice's when lattice is "".
func ProjectorConsumerConfig(lattice string, o Options) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(lattice),
		Description:   "latticestate projector: events into " + StateBucket,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Batches are applied in stream order, so one ack of the last event
		// of a batch acknowledges the whole batch.
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       ConsumerAckWait,
		MaxAckPending: ConsumerMaxAckPending,
		MaxDeliver:    -1,
		Replicas:      max(o.Replicas, 1),
	}
	if lattice != "" {
		cfg.FilterSubjects = LatticeFilters(lattice)
	}
	return cfg
}
