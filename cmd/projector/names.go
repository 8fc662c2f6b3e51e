package main

import (
	"latticestate/internal/cli"
	"latticestate/streams"
)

// validateLatticeName is a usage error for a name that cannot be a lattice.
func validateLatticeName(name string) error {
	if err := streams.ValidateLattice(name); err != nil {
		return cli.Exit(2, err)
	}
	return nil
}
