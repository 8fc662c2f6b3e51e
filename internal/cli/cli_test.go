package cli_test

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"latticestate/internal/cli"
)

func TestApplyEnv(t *testing.T) {
	newCmd := func() (*cobra.Command, *string, *int) {
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		url := cmd.Flags().String("nats-url", "default", "")
		n := cmd.Flags().Int("batch-size", 1, "")
		cmd.PreRunE = func(c *cobra.Command, _ []string) error { return cli.ApplyEnv(c) }
		return cmd, url, n
	}
	t.Setenv("LATTICESTATE_NATS_URL", "nats://env:4222")
	t.Setenv("LATTICESTATE_BATCH_SIZE", "7")

	cmd, url, n := newCmd()
	cmd.SetArgs(nil)
	require.NoError(t, cmd.Execute())
	require.Equal(t, "nats://env:4222", *url)
	require.Equal(t, 7, *n)

	cmd, url, _ = newCmd()
	cmd.SetArgs([]string{"--nats-url", "nats://flag:4222"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "nats://flag:4222", *url, "a flag given on the command line wins")

	t.Setenv("LATTICESTATE_BATCH_SIZE", "many")
	cmd, _, _ = newCmd()
	cmd.SetArgs(nil)
	require.ErrorContains(t, cmd.Execute(), "LATTICESTATE_BATCH_SIZE")
}

func TestExit(t *testing.T) {
	err := cli.Exit(2, nil)
	require.Equal(t, "exit status 2", err.Error())
	var exit *cli.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.Code)
}
