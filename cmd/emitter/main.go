// Command emitter runs simulated wasmCloud hosts (0.5x OTP or 1.x) against a
// NATS server: heartbeats, lifecycle events and inventory replies in the
// hosts' exact wire shapes, for demos, tests and load.
package main

import "latticestate/internal/cli"

func main() { cli.Main("emitter", newRootCmd(), 1) }

// usageError marks err as a usage error (exit status 2).
func usageError(err error) error { return cli.Exit(2, err) }
