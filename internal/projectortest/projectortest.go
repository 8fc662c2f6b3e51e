// Package projectortest runs a projector for tests of the packages that
// read what it writes.
package projectortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/streams"
)

// Run runs a projector of every lattice on res until the test ends, and
// waits until it has applied everything captured so far: what the stream
// holds when it looks. Publish the events through JetStream first; a
// plain publish is stored a moment after the server has it, and may not
// be captured yet.
func Run(t *testing.T, js jetstream.JetStream, res *streams.Resources) {
	t.Helper()
	p, err := pipeline.New(context.Background(), js, res)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := p.Status(context.Background())
		if err != nil {
			return err
		}
		if !st.CaughtUp() {
			return fmt.Errorf("not caught up: %+v", st)
		}
		return nil
	})
}
