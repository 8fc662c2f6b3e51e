package streams

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishAckTimeout bounds the wait for the acknowledgement of an
// asynchronous publish: a KV write of a flush, a dead letter, a recorded
// event. An acknowledgement lost with a stream leader that went away
// would otherwise leave its publisher waiting forever; after the timeout
// the write counts as failed, and the projector applies its window again
// from the checkpoint.
const PublishAckTimeout = 10 * time.Second

// maxPublishesInFlight is how many asynchronous publishes may await their
// acknowledgement at once; a flush writes up to a few thousand documents.
const maxPublishesInFlight = 16384

// NewJetStream is the JetStream context the projector writes through.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPublishesInFlight),
		jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
}
