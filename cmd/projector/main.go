// Command projector projects wasmCloud lattice events into lattice state:
// offline from files (fold), or live from NATS JetStream into a KV bucket
// (serve), with queries over the result.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintln(os.Stderr, "projector:", exit.err)
		}
		os.Exit(exit.code)
	}
	fmt.Fprintln(os.Stderr, "projector:", err)
	os.Exit(2)
}

// exitError carries a specific exit status out of a subcommand; err, when
// set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
