package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/cli"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A connection flag whose file cannot be used is a usage error (exit
// status 2) that names the flag, before any connection is tried.
func TestRoot_ConnFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.creds")
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--creds", missing}, "--creds " + missing + ": cannot read the file: no such file or directory"},
		{[]string{"--nkey", missing}, "--nkey " + missing + ": cannot read the file"},
		{[]string{"--tls-cert", missing}, "--tls-cert and --tls-key go together"},
		{[]string{"--user", "emitter", "--nkey", missing}, "at most one of --creds, --nkey and --user"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(append(tc.args, "--nats-url", "nats://127.0.0.1:1"))
		err := cmd.Execute()
		var exit *cli.ExitError
		require.ErrorAs(t, err, &exit, "%v", tc.args)
		require.Equal(t, 2, exit.Code)
		require.ErrorContains(t, err, tc.err)
	}
}

func TestRoot_Help(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	require.NoError(t, cmd.Execute())
	for _, flag := range []string{"--creds FILE", "--nkey FILE", "--user NAME", "--password PASSWORD",
		"--tls-ca FILE", "--tls-cert FILE", "--tls-key FILE", "--tls-first", "LATTICESTATE_<FLAG>"} {
		require.Contains(t, out.String(), flag)
	}
}
