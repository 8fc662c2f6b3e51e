// Command projector projects wasmCloud lattice events into lattice state:
// offline from files (fold), or live from NATS JetStream into a KV bucket
// (serve), with queries over the result.
package main

import "latticestate/internal/cli"

func main() { cli.Main("projector", newRootCmd(), 2) }
