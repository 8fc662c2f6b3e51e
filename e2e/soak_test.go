package e2e

import (
	"os"
	"testing"
)

// soak reports whether the long versions of the e2e tests run: their full
// event counts, durations and clients, with LATTICESTATE_SOAK=1 (the
// README's second test command, which .ci/run runs too). By default, and
// with -short, each proves the same with fewer events, so the README's test
// command stays within minutes on two cores.
func soak() bool { return os.Getenv("LATTICESTATE_SOAK") == "1" && !testing.Short() }

// soakSize is full under soak and short otherwise.
func soakSize(short, full int) int {
	if soak() {
		return full
	}
	return short
}
