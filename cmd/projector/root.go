package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "projector",
		Short: "Project wasmCloud lattice events into queryable lattice state",
		Long: `projector folds the CloudEvents that wasmCloud hosts publish on wasmbus.evt.<lattice>
into one document per host (inventory, labels, health), plus the lattice's links
and ref maps.

  fold     fold JSON-lines files offline, no NATS needed`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newFoldCmd(), newServeCmd())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) }
	return root
}
