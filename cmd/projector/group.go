package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
)

// newGroupCmd is a command that only holds subcommands (get, list). Run
// without one, or with one it does not have (`projector get hosts`), it
// fails with exit status 2 and names the ones it has, rather than printing
// its help and succeeding.
func newGroupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		// Within two edits, as cobra suggests for the root's commands.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			commands := strings.Join(names, ", ")
			if len(args) == 0 {
				return cli.Exit(2, fmt.Errorf("%s needs a command: %s (see %s --help)", cmd.CommandPath(), commands, cmd.CommandPath()))
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return cli.Exit(2, fmt.Errorf("%s (commands: %s)", msg, commands))
		},
	}
}
