package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/projections"
)

func newListCmd() *cobra.Command {
	list := newGroupCmd("list", "List documents of the projection")
	var q queryFlags
	var labels []string
	var status string
	hosts := &cobra.Command{
		Use:   "hosts",
		Short: "List the hosts of a lattice",
		Long: `list hosts prints every host of the lattice, sorted by id, from the LATTICE_STATE
bucket, or, with --as-of, as folded from the stream up to that point.

--label k=v (repeatable; k alone requires the label) and --status up|stale
narrow the list. An empty lattice prints no hosts; it is not an error.

EXPIRES says how long a stale host has left before serve removes it (its
last_seen plus the --host-expiry serve records in the LATTICE_META bucket):
"in 4m30s", "due", or "never"; "-" for hosts that are up, and with --as-of.`,
		Example: `  projector list hosts
  projector list hosts --label zone=eu-1 --status stale -o json
  projector list hosts --as-of 1200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := q.validate(); err != nil {
				return err
			}
			filter, err := projections.ParseHostFilter(status, labels)
			if err != nil {
				return cli.Exit(2, err)
			}
			at, err := q.at()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), q.timeout)
			defer cancel()
			selected, expiry, err := q.hosts(ctx, view.Filter{HostFilter: filter}, at)
			if err != nil {
				return cli.Exit(2, err)
			}
			if q.output == "json" {
				return writeJSONLine(cmd.OutOrStdout(), selected)
			}
			return writeHostsTable(cmd.OutOrStdout(), selected, expiry, time.Now())
		},
	}
	q.register(hosts, true)
	hosts.Flags().StringArrayVar(&labels, "label", nil, "only hosts with this label (k=v, or k for presence); repeatable")
	hosts.Flags().StringVar(&status, "status", "", "only hosts with this status: up or stale")
	list.AddCommand(hosts)
	return list
}

// hosts reads the hosts of the lattice that f matches, sorted by id, live
// or as of at, with the host expiry for the live state.
func (q *queryFlags) hosts(ctx context.Context, f view.Filter, at read.AsOf) ([]*projections.Host, hostExpiry, error) {
	c, err := q.connect(ctx)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	defer c.Close()
	page, err := c.reader.At(at).Hosts(ctx, q.lattice, f, view.PageRequest{})
	if err != nil {
		return nil, hostExpiry{}, err
	}
	out := make([]*projections.Host, 0, len(page.Docs))
	for _, b := range page.Docs {
		h, err := projections.UnmarshalHost(b)
		if err != nil {
			return nil, hostExpiry{}, err
		}
		out = append(out, h)
	}
	if !read.IsLive(at) {
		return out, hostExpiry{}, nil
	}
	return out, readHostExpiry(ctx, c.js), nil
}
