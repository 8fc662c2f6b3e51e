// Package sim simulates wasmCloud hosts on a NATS lattice, for demos, tests
// and load: each simulated host publishes heartbeats and lifecycle events as
// CloudEvents in the exact shapes of a 0.5x OTP host or a 1.x host, and
// answers inventory requests on the control subjects of both generations.
//
// A Lattice is built from a plain Config with New and runs until its context
// ends (or a configured event count is reached) with Run, which then
// publishes host_stopped for every host and flushes. Tests and embedders
// steer single hosts while it runs: Pause and Resume silence a host without
// it stopping, and StartActor, StopActor, StartProvider and StopProvider
// change a host's inventory with the matching lifecycle event.
//
// The package knows nothing of flags; cmd/emitter and the projector's demo
// mode wire it up.
package sim
