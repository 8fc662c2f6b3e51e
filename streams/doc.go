// Package streams names and configures the JetStream resources latticestate
// uses: the event stream, the dead-letter stream, the projector consumers and
// the state bucket. It is the only place those names and subjects are
// spelled; Ensure creates or updates all of them idempotently.
package streams
