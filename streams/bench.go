package streams

import "github.com/nats-io/nats.go/jetstream"

// Names the benchmark (projector bench) uses beside the projector's own.
const (
	// BenchNaiveBucket holds the documents of the benchmark's naive
	// projector.
	BenchNaiveBucket = "BENCH_NAIVE"
	// BenchNaiveConsumer feeds the naive projector, one event at a time.
	BenchNaiveConsumer = "bench-naive"
	// BenchReplayBucket is the empty bucket the benchmark's replay and live
	// stages write into.
	BenchReplayBucket = "BENCH_REPLAY"
	// BenchFloorBucket and BenchFloorConsumer are the bucket and consumer
	// of the live stage's messages written without a projector.
	BenchFloorBucket   = "BENCH_FLOOR"
	BenchFloorConsumer = "bench-floor"
)

// BenchNaiveConsumerConfig acks every event on its own, as a projector
// without batching does.
func BenchNaiveConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       BenchNaiveConsumer,
		Description:   "latticestate bench: naive get-merge-put-ack projector",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
	}
}
