package main

import (
	"context"
	"errors"
	"fmt"
	"latticestate/internal/cli"
	"time"

	"github.com/spf13/cobra"

	"latticestate/pipeline"
	"latticestate/projections"
)

func newGetCmd() *cobra.Command {
	get := newGroupCmd("get", "Show one document of the projection")
	var q queryFlags
	host := &cobra.Command{
		Use:   "host <id>",
		Short: "Show one host: inventory, labels and health",
		Long: `get host reads one host document from the ` + "LATTICE_STATE" + ` bucket, or, with --as-of,
folds the lattice's events from the stream up to that point without touching
the bucket.

Exit status: 0 when shown, 1 when there is no such host, 2 on other errors (a
malformed host id among them).`,
		Example: `  projector get host NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I
  projector get host NCSW... --as-of 2026-11-25T14:02:00Z -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := q.validate(); err != nil {
				return err
			}
			if !projections.ValidHostID(args[0]) {
				return cli.Exit(2, fmt.Errorf("%.80q is not a host id: want a server public key (56 characters starting with N)", args[0]))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), q.timeout)
			defer cancel()
			h, expiry, err := q.host(ctx, args[0])
			if errors.Is(err, pipeline.ErrHostNotFound) {
				return cli.Exit(1, err)
			}
			if err != nil {
				return cli.Exit(2, err)
			}
			if q.output == "json" {
				return writeJSONLine(cmd.OutOrStdout(), h)
			}
			return writeHostDetail(cmd.OutOrStdout(), h, expiry, time.Now())
		},
	}
	q.register(host, true)
	get.AddCommand(host)
	return get
}

// host reads one host, live or as of a point of the stream, with the host
// expiry for the live state.
func (q *queryFlags) host(ctx context.Context, id string) (*projections.Host, hostExpiry, error) {
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
		h, ok := l.Hosts[id]
		if !ok {
			return nil, hostExpiry{}, fmt.Errorf("%w: no host %s in lattice %s as of %s", pipeline.ErrHostNotFound, id, q.lattice, q.asOf)
		}
		return h, hostExpiry{}, nil
	}
	d, err := pipeline.GetHost(ctx, kv, q.lattice, id)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	h, err := projections.UnmarshalHost(d.JSON)
	return h, readHostExpiry(ctx, js), err
}
