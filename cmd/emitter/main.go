// Command emitter runs simulated wasmCloud hosts (0.5x OTP or 1.x) against a
// NATS server: heartbeats, lifecycle events and inventory replies in the
// hosts' exact wire shapes, for demos, tests and load.
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
	code := 1
	var exit *exitError
	if errors.As(err, &exit) {
		code, err = exit.code, exit.err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "emitter:", err)
	}
	os.Exit(code)
}

// exitError carries a specific exit status out of the command; err, when
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

// usageError marks err as a usage error (exit status 2).
func usageError(err error) error { return &exitError{code: 2, err: err} }
