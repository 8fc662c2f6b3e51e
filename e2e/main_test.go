// Package e2e tests latticestate end to end against real embedded
// nats-server instances, with the projector run as a real child process
// where crashes matter.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"latticestate/internal/natstest"
)

// projectorBin and emitterBin are the binaries built once for the whole
// suite.
var projectorBin, emitterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latticestate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	projectorBin = filepath.Join(dir, "projector")
	// The child projector runs without the race detector unless asked:
	// under it, the 100k-event tests take minutes; the pipeline's own
	// tests run it in-process with -race.
	build := exec.Command("go", "build", "-o", projectorBin, "../cmd/projector")
	if os.Getenv("LATTICESTATE_E2E_RACE") != "" {
		build = exec.Command("go", "build", "-race", "-o", projectorBin, "../cmd/projector")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build projector:", err)
		os.Exit(2)
	}
	emitterBin = filepath.Join(dir, "emitter")
	build = exec.Command("go", "build", "-o", emitterBin, "../cmd/emitter")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build emitter:", err)
		os.Exit(2)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(natstest.LibraryLeaks...); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
