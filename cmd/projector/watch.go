package main

import (
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/read"
	"latticestate/projections"
	"latticestate/streams"
)

func newWatchCmd() *cobra.Command {
	var q queryFlags
	var initial bool
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print host changes of a lattice as they happen",
		Long: `watch follows the ` + streams.StateBucket + ` bucket and prints one line per changed host
(table) or one JSON object per change (json: {"op","host_id","revision","host"}),
until interrupted. --initial prints the current hosts first.

It reads the bucket with direct gets, looking for changes every --poll, and
creates no consumer: the reader user of deploy/nats/nats.conf, which may
create none, can run it. A host changed twice within one --poll may show
only its last change.`,
		Example: `  projector watch
  projector watch --initial -o json | jq .host.status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := q.validate(); err != nil {
				return err
			}
			if poll <= 0 {
				return cli.Exit(2, fmt.Errorf("--poll %v: want a positive duration", poll))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			c, err := q.connect(ctx)
			if err != nil {
				return cli.Exit(2, err)
			}
			defer c.Close()
			w, err := c.bucket.WatchHosts(ctx, q.lattice, initial, poll)
			if err != nil {
				return cli.Exit(2, err)
			}
			defer func() { _ = w.Stop() }()
			out := cmd.OutOrStdout()
			for {
				ch, err := w.Next(ctx)
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					return cli.Exit(2, err)
				}
				if err := printChange(out, q.output, ch); err != nil {
					return err
				}
			}
		},
	}
	q.register(cmd, false)
	cmd.Flags().BoolVar(&initial, "initial", false, "print the current hosts before the changes")
	cmd.Flags().DurationVar(&poll, "poll", read.DefaultWatchPoll, "how often to look for changes")
	return cmd
}

type change struct {
	Op       string            `json:"op"`
	HostID   string            `json:"host_id"`
	Revision uint64            `json:"revision"`
	Host     *projections.Host `json:"host,omitempty"`
}

func printChange(out io.Writer, format string, hc read.HostChange) error {
	id := hc.ID
	c := change{Op: "put", HostID: id, Revision: hc.Revision}
	if hc.Deleted {
		c.Op = "delete"
	} else {
		h, err := projections.UnmarshalHost(hc.JSON)
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
