package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/cli"
	"latticestate/internal/server"
)

// A configuration serve refuses is a usage error (2); a failure once it
// runs exits 1; both print the cause.
func TestRunServe_ExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*server.Config)
		wantCode int
		want     string
	}{
		{"refused configuration", func(c *server.Config) { c.BatchSize = 0 }, 2, "batch size"},
		{"NATS unreachable", func(c *server.Config) { c.NATSURL = "nats://127.0.0.1:1" }, 1, "connect to NATS at nats://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := serveFlags{cfg: server.DefaultConfig()}
			flags.cfg.HTTPAddr = "127.0.0.1:0"
			tt.change(&flags.cfg)
			err := runServe(context.Background(), flags, newLogger(io.Discard, "error"))
			var exit *cli.ExitError
			require.ErrorAs(t, err, &exit)
			require.Equal(t, tt.wantCode, exit.Code)
			require.ErrorContains(t, exit.Err, tt.want)
		})
	}
}
