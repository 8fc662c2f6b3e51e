package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// TestServe_ProjectorFailureExits: a projector that cannot start (its
// checkpoint in the bucket is garbled) does not leave serve answering HTTP
// with nothing behind it: serve stops, prints the cause and exits 1.
func TestServe_ProjectorFailureExits(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	_, err = res.State.PutString(ctx, streams.CheckpointKey(streams.ConsumerName("")), "garbled")
	require.NoError(t, err)

	p := startProjector(t, s.ClientURL())
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", p.logs())
		require.Equal(t, 1, exit.ExitCode(), "%s", p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still running 30s after its projector failed:\n%s", p.logs())
	}
	require.Regexp(t, `(?m)^projector: projector of every lattice: .*"garbled"`, p.logs())
}
