package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix: every flag --some-flag can also be set as LATTICESTATE_SOME_FLAG,
// as for the projector, so both can share e.g. LATTICESTATE_NATS_URL.
const envPrefix = "LATTICESTATE_"

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd not given on the command line from its
// LATTICESTATE_* variable, when that is set.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if setErr := cmd.Flags().Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, setErr)
		}
	})
	return err
}
