package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/direct"
	"latticestate/projections"
	"latticestate/streams"
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
			ctx, cancel := context.WithTimeout(cmd.Context(), q.timeout)
			defer cancel()
			all, expiry, err := q.hosts(ctx)
			if err != nil {
				return cli.Exit(2, err)
			}
			selected := []*projections.Host{}
			for _, h := range all {
				if filter.Match(h) {
					selected = append(selected, h)
				}
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

// hosts reads every host of the lattice, sorted by id, with the host
// expiry for the live state.
func (q *queryFlags) hosts(ctx context.Context) ([]*projections.Host, hostExpiry, error) {
	nc, js, kv, err := q.connect(ctx)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	defer nc.Close()
	if q.asOf != "" {
		l, err := q.latticeAsOf(ctx, js)
		if err != nil {
			return nil, hostExpiry{}, err
		}
		return l.SortedHosts(), hostExpiry{}, nil
	}
	out, err := listHosts(ctx, js, kv.Bucket(), q.lattice)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	return out, readHostExpiry(ctx, js), nil
}

// listHosts reads every host of lattice from bucket, sorted by id, with
// batched direct gets: no consumer, so the reader user can list.
func listHosts(ctx context.Context, js jetstream.JetStream, bucket, lattice string) ([]*projections.Host, error) {
	var out []*projections.Host
	_, err := direct.Last(ctx, js, bucket, []string{streams.HostKeys(lattice)}, func(e direct.Entry) error {
		h, err := projections.UnmarshalHost(e.Value)
		if err != nil {
			return fmt.Errorf("host document %s: %w", e.Key, err)
		}
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read hosts of %s: %w", lattice, err)
	}
	slices.SortFunc(out, func(a, b *projections.Host) int { return strings.Compare(a.HostID, b.HostID) })
	return out, nil
}
