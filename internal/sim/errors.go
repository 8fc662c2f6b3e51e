package sim

import "errors"

// Errors returned by a Lattice; match them with errors.Is.
var (
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("invalid simulation config")
	// ErrAlreadyStarted: Run was called a second time.
	ErrAlreadyStarted = errors.New("simulation already started")
	// ErrNotRunning: the call needs Run to be running (after Ready, before
	// shutdown).
	ErrNotRunning = errors.New("simulation not running")
	// ErrUnknownHost: no running host has that id.
	ErrUnknownHost = errors.New("unknown host")
	// ErrHostPaused: the host is paused and publishes nothing.
	ErrHostPaused = errors.New("host is paused")
	// ErrNotOnHost: the actor or provider is not running on the host.
	ErrNotOnHost = errors.New("not running on host")
	// ErrAlreadyOnHost: the provider already runs on the host.
	ErrAlreadyOnHost = errors.New("already running on host")
)
