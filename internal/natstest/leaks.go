package natstest

import "go.uber.org/goleak"

// LibraryLeaks are the goroutines of nats.go that goleak is told to
// ignore. jetstream's ObjectStore.Put publishes through a JetStream of its
// own whose first asynchronous publish starts a goroutine watching the
// connection's status, and removes the channel it watches when Put
// returns; a goroutine scheduled only after that reads a nil channel and
// waits on it forever (nats.go v1.55.0, jetstream/object.go and
// publish.go). It is one small goroutine per Put that loses the race, not
// one of this module's to stop.
var LibraryLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
}
