package server

import "errors"

var (
	// ErrInvalidConfig is what New wraps when it refuses the Config or an
	// option: a usage error, found before anything starts.
	ErrInvalidConfig = errors.New("invalid serve configuration")
	// ErrPartStopped is the cause when a part of the server (a projector,
	// the HTTP server, the demo hosts) ends on its own while the server
	// runs: nothing would be behind what is left, so the server stops.
	ErrPartStopped = errors.New("stopped on its own")
	// ErrAlreadyRun is returned by a second call to Run.
	ErrAlreadyRun = errors.New("server already ran")
)
