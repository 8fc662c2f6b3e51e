package main

import (
	"github.com/spf13/cobra"

	"latticestate/internal/cli"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "projector",
		Short: "Project wasmCloud lattice events into queryable lattice state",
		Long: `projector folds the CloudEvents that wasmCloud hosts publish on wasmbus.evt.<lattice>
into one document per host (inventory, labels, health), plus the lattice's links
and ref maps.

  serve        capture, project and serve live events (embedded NATS by default)
  fold         fold JSON-lines files offline, no NATS needed
  get          show one host
  list         list hosts
  watch        follow host changes
  replay       rebuild the projection from the stream (or as it was at a point)
  healthcheck  probe a running serve over HTTP (container health checks)
  bench        measure latticestate against JetStream's own read rate`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newFoldCmd(), newServeCmd(), newGetCmd(), newListCmd(), newWatchCmd(), newReplayCmd(), newHealthcheckCmd(), newBenchCmd())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return cli.ApplyEnv(cmd) }
	return root
}
