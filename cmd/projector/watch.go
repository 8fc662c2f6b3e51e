package main

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/direct"
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
		Long: `watch follows the LATTICE_STATE bucket and prints one line per changed host
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
			nc, js, kv, err := q.connect(ctx)
			if err != nil {
				return cli.Exit(2, err)
			}
			defer nc.Close()
			out := cmd.OutOrStdout()
			bucket := kv.Bucket()
			prefix := len(streams.HostKey(q.lattice, ""))
			print := func(e direct.Entry) error { return printChange(out, q.output, e.Key[prefix:], e) }
			var from uint64
			if initial {
				from, err = direct.Last(ctx, js, bucket, []string{streams.HostKeys(q.lattice)}, print)
			} else {
				from, err = direct.LastSeq(ctx, js, direct.KVStream(bucket))
				from++
			}
			if err == nil {
				err = direct.Watch(ctx, js, bucket, streams.HostKeys(q.lattice), from, poll, print)
			}
			if err != nil && ctx.Err() == nil {
				return cli.Exit(2, fmt.Errorf("watch lattice %s: %w", q.lattice, err))
			}
			return nil
		},
	}
	q.register(cmd, false)
	cmd.Flags().BoolVar(&initial, "initial", false, "print the current hosts before the changes")
	cmd.Flags().DurationVar(&poll, "poll", 250*time.Millisecond, "how often to look for changes")
	return cmd
}

type change struct {
	Op       string            `json:"op"`
	HostID   string            `json:"host_id"`
	Revision uint64            `json:"revision"`
	Host     *projections.Host `json:"host,omitempty"`
}

func printChange(out interface{ Write([]byte) (int, error) }, format, id string, e direct.Entry) error {
	c := change{Op: "put", HostID: id, Revision: e.Revision}
	if e.Op != jetstream.KeyValuePut {
		c.Op = "delete"
	} else {
		h, err := projections.UnmarshalHost(e.Value)
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
