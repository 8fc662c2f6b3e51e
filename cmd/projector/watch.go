package main

import (
	"fmt"
	"latticestate/internal/cli"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/projections"
	"latticestate/streams"
)

func newWatchCmd() *cobra.Command {
	var q queryFlags
	var initial bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print host changes of a lattice as they happen",
		Long: `watch follows the LATTICE_STATE bucket and prints one line per changed host
(table) or one JSON object per change (json: {"op","host_id","revision","host"}),
until interrupted. --initial prints the current hosts first.`,
		Example: `  projector watch
  projector watch --initial -o json | jq .host.status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := q.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			nc, _, kv, err := q.connect(ctx)
			if err != nil {
				return cli.Exit(2, err)
			}
			defer nc.Close()
			var opts []jetstream.WatchOpt
			if !initial {
				opts = append(opts, jetstream.UpdatesOnly())
			}
			w, err := kv.Watch(ctx, streams.HostKeys(q.lattice), opts...)
			if err != nil {
				return cli.Exit(2, fmt.Errorf("watch lattice %s: %w", q.lattice, err))
			}
			defer func() { _ = w.Stop() }()
			out := cmd.OutOrStdout()
			prefix := len(streams.HostKey(q.lattice, ""))
			for {
				select {
				case <-ctx.Done():
					return nil
				case e, ok := <-w.Updates():
					if !ok {
						return cli.Exit(2, fmt.Errorf("watch of lattice %s ended", q.lattice))
					}
					if e == nil {
						continue
					}
					if err := printChange(out, q.output, e.Key()[prefix:], e); err != nil {
						return err
					}
				}
			}
		},
	}
	q.register(cmd, false)
	cmd.Flags().BoolVar(&initial, "initial", false, "print the current hosts before the changes")
	return cmd
}

type change struct {
	Op       string            `json:"op"`
	HostID   string            `json:"host_id"`
	Revision uint64            `json:"revision"`
	Host     *projections.Host `json:"host,omitempty"`
}

func printChange(out interface{ Write([]byte) (int, error) }, format, id string, e jetstream.KeyValueEntry) error {
	c := change{Op: "put", HostID: id, Revision: e.Revision()}
	if e.Operation() != jetstream.KeyValuePut {
		c.Op = "delete"
	} else {
		h, err := projections.UnmarshalHost(e.Value())
		if err != nil {
			return fmt.Errorf("host %s: %w", id, err)
		}
		c.Host = h
	}
	if format == "json" {
		b, err := projections.Marshal(c)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	if c.Host == nil {
		_, err := fmt.Fprintf(out, "%-6s %s\n", "gone", id)
		return err
	}
	_, err := fmt.Fprintf(out, "%-6s %s  %s  %s  actors=%d providers=%d labels=%s\n", c.Host.Status, id,
		orDash(c.Host.FriendlyName), orDash(c.Host.Version), len(c.Host.Actors), len(c.Host.Providers), formatLabels(c.Host.Labels))
	return err
}
