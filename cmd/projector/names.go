package main

import (
	"fmt"
	"regexp"
)

// latticeNamePattern is what a lattice name may be: one NATS subject token
// that is also valid in a KV key.
var latticeNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func validateLatticeName(name string) error {
	if !latticeNamePattern.MatchString(name) {
		return &exitError{code: 2, err: fmt.Errorf("invalid lattice name %q: use letters, digits, '-' and '_'", name)}
	}
	return nil
}
