package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/cli"
)

// Usage errors exit with status 2, as every usage error of the commands
// does.
func TestGroupCmd_ExitStatus(t *testing.T) {
	for _, args := range [][]string{{"get", "hosts"}, {"get"}, {"list"}, {"list", "host"}, {"get", "host", "N.*>"}, {"serve", "--demo", "-1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			root := newRootCmd()
			root.SetArgs(args)
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			var exit *cli.ExitError
			require.ErrorAs(t, root.Execute(), &exit)
			require.Equal(t, 2, exit.Code)
		})
	}
}
