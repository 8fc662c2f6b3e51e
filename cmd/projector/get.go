package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/read"
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
			at, err := q.at()
			if err != nil {
				return err
			}
			if !projections.ValidHostID(args[0]) {
				return cli.Exit(2, fmt.Errorf("%.80q is not a host id: want a server public key (56 characters starting with N)", args[0]))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), q.timeout)
			defer cancel()
			h, expiry, err := q.host(ctx, args[0], at)
			if errors.Is(err, read.ErrHostNotFound) {
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

// host reads one host, live or as of at, with the host expiry for the
// live state.
func (q *queryFlags) host(ctx context.Context, id string, at read.AsOf) (*projections.Host, hostExpiry, error) {
	c, err := q.connect(ctx)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	defer c.Close()
	b, err := c.reader.At(at).Host(ctx, q.lattice, id)
	if err != nil {
		return nil, hostExpiry{}, err
	}
	h, err := projections.UnmarshalHost(b)
	if err != nil {
		return nil, hostExpiry{}, fmt.Errorf("host %s: %w", id, err)
	}
	if !read.IsLive(at) {
		return h, hostExpiry{}, nil
	}
	return h, readHostExpiry(ctx, c.js), nil
}
