// Package pipeline runs the live projection: it consumes lattice events from
// the JetStream stream with a durable pull consumer, folds them with the pure
// reducers of package projections, and writes one document per key to the
// KV bucket with revision-checked (compare-and-set) writes before acking.
//
// Every document records seq, the stream sequence of the last event applied
// to it, and events are applied to each document strictly in stream order,
// so redelivery after a crash or a server restart applies nothing twice and
// loses nothing. Events that cannot be decoded go to the dead-letter stream
// with the reason; they never block the consumer.
package pipeline
