package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/read"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

type replayConfig struct {
	natsURL  string
	lattice  string
	toSeq    uint64
	toTime   string
	replicas int
	logLevel string
	conn     cli.ConnFlags
}

func newReplayCmd() *cobra.Command {
	cfg := replayConfig{natsURL: nats.DefaultURL, replicas: 1, logLevel: "warn"}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild " + streams.StateBucket + " in place from the event stream, or print the state as it was",
		Long: `replay rebuilds the state bucket ` + streams.StateBucket + ` from the event stream
` + streams.EventsStream + ` with the same reducers, in place: every reader of the bucket (the
HTTP API, ` + "`nats kv get " + streams.StateBucket + " …`" + `, your scripts) sees the corrected state, and
the live projector goes on from there. No other bucket is made.

How: replay asks the live projector (serve) to hand over its consumer's lease;
serve writes what it has applied and stands by. Each lattice is rebuilt from
its newest snapshot (` + streams.SnapshotStore + `) that the retained events continue,
or from the first event when the stream still holds the whole history; the
result is compared with the bucket and only documents that differ are written
(compare-and-set), with the checkpoint. Then the lease goes back to serve,
which continues from the replay's checkpoint. Hosts' last_seen comes from
events, so the hand-over marks no host stale.

If a lattice cannot be rebuilt exactly (its oldest events are gone and no
snapshot covers them) replay refuses and changes nothing. Use the same
--lattice as serve: a serve started with --lattice L projects L with its own
consumer.

--to-seq and --to-time print the state as it was at that point instead,
without touching the bucket: one lattice document per lattice (--lattice to
choose one), as ` + "`projector fold`" + ` prints it, rebuilt from the nearest snapshot.

A progress bar (events, rate, ETA) is shown on a terminal; elsewhere a line
every 5 seconds.

` + cli.ConnHelp,
		Example: `  projector replay
  projector replay --to-time 2026-11-25T14:02:00Z --lattice default > before-outage.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runReplay(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	cfg.conn.Register(f)
	f.StringVar(&cfg.natsURL, "nats-url", cfg.natsURL, "NATS server holding the event stream")
	f.StringVar(&cfg.lattice, "lattice", "", "the lattice serve projects with --lattice (its own consumer), or the one to print with --to-seq/--to-time; default every lattice")
	f.Uint64Var(&cfg.toSeq, "to-seq", 0, "print the state as it was after this stream sequence")
	f.StringVar(&cfg.toTime, "to-time", "", "print the state as it was at this RFC 3339 time")
	f.IntVar(&cfg.replicas, "replicas", cfg.replicas, "replicas of the streams and buckets, should replay create them")
	f.StringVar(&cfg.logLevel, "log-level", cfg.logLevel, "debug, info, warn or error")
	return cmd
}

func runReplay(ctx context.Context, cfg replayConfig, stdout, stderr io.Writer) error {
	var upTo pipeline.AsOf
	switch {
	case cfg.toSeq > 0 && cfg.toTime != "":
		return cli.Exit(2, errors.New("give --to-seq or --to-time, not both"))
	case cfg.toSeq > 0:
		upTo.Seq = cfg.toSeq
	case cfg.toTime != "":
		t, err := time.Parse(time.RFC3339Nano, cfg.toTime)
		if err != nil {
			return cli.Exit(2, fmt.Errorf("--to-time %q is not an RFC 3339 time", cfg.toTime))
		}
		upTo.Time = t
	}
	if cfg.lattice != "" {
		if err := validateLatticeName(cfg.lattice); err != nil {
			return err
		}
	}
	sec, err := cfg.conn.Options()
	if err != nil {
		return cli.Exit(2, err)
	}
	nc, err := nats.Connect(cfg.natsURL, append([]nats.Option{nats.Name("latticestate-replay"), cli.PrintAsyncErrors(stderr, "projector")}, sec...)...)
	if errors.Is(err, nats.ErrAuthorization) {
		return authError(cfg.natsURL, err)
	}
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s (%v): point --nats-url at the server that holds %s", cfg.natsURL, err, streams.EventsStream)
	}
	defer nc.Close()
	js, err := streams.NewJetStream(nc)
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, streams.EventsStream); err != nil {
		return fmt.Errorf("no %s stream at %s (%v): nothing to replay; run `projector serve` first", streams.EventsStream, cfg.natsURL, err)
	}
	if upTo != (pipeline.AsOf{}) {
		return printAsOf(ctx, js, cfg.lattice, upTo, stdout, stderr)
	}
	so := streams.DefaultOptions()
	so.Replicas = cfg.replicas
	res, err := streams.Ensure(ctx, js, so)
	if err != nil {
		return err
	}
	p, err := pipeline.New(ctx, js, res, pipeline.WithLattice(cfg.lattice), pipeline.WithStreamOptions(so),
		pipeline.WithLogger(newLogger(stderr, cfg.logLevel)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "asking the live projector for consumer %s's lease…\n", streams.ConsumerName(cfg.lattice))
	start := time.Now()
	bar := newProgress(stderr, isTerminal(stderr), "replaying", 0, 0)
	last, err := p.Replay(ctx, bar.set)
	bar.finish()
	if errors.Is(err, pipeline.ErrHistoryGone) {
		return fmt.Errorf("replay refused, %s is unchanged: %w", streams.StateBucket, err)
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "rebuilt %s up to stream sequence %d in %v (%.0f events/s); the live projector continues from there\n",
		streams.StateBucket, last, took.Round(time.Millisecond), float64(last)/took.Seconds())
	return nil
}

// printAsOf prints each lattice (or the one named) as it was at upTo.
func printAsOf(ctx context.Context, js jetstream.JetStream, lattice string, upTo pipeline.AsOf, stdout, stderr io.Writer) error {
	h := pipeline.NewHistory(js, pipeline.WithoutSnapshotCache())
	lattices := []string{lattice}
	if lattice == "" {
		var err error
		if lattices, err = knownLattices(ctx, js, h); err != nil {
			return err
		}
	}
	start := time.Now()
	var last uint64
	for _, l := range lattices {
		bar := newProgress(stderr, isTerminal(stderr), "folding "+l, 0, 0)
		doc, err := h.LatticeProgress(ctx, l, upTo, func(applied, target uint64) {
			bar.set(applied, target)
			last = target
		})
		bar.finish()
		if err != nil {
			return fmt.Errorf("lattice %s as of %s: %w", l, upTo, err)
		}
		// Streamed: the indented document of 10,000 hosts is some 20 MB.
		if err := projections.WriteIndent(stdout, doc); err != nil {
			return fmt.Errorf("write lattice %s: %w", l, err)
		}
	}
	took := time.Since(start)
	fmt.Fprintf(stderr, "rebuilt %d lattice(s) up to stream sequence %d in %v (%.0f events/s)\n",
		len(lattices), last, took.Round(time.Millisecond), float64(last)/took.Seconds())
	return nil
}

// knownLattices are the lattices of the state bucket and of the snapshots.
func knownLattices(ctx context.Context, js jetstream.JetStream, h *pipeline.History) ([]string, error) {
	known, err := h.Lattices(ctx)
	if err != nil {
		return nil, err
	}
	if b := read.NewBucket(js, streams.StateBucket); b.Exists(ctx) {
		live, err := b.Lattices(ctx)
		if err != nil {
			return nil, err
		}
		known = append(known, live...)
	}
	slices.Sort(known)
	known = slices.Compact(known)
	if len(known) == 0 {
		known = []string{"default"}
	}
	return known, nil
}
