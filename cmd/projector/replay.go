package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"latticestate/internal/cli"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"latticestate/pipeline"
	"latticestate/streams"
)

type replayConfig struct {
	natsURL     string
	lattice     string
	toSeq       uint64
	toTime      string
	bucket      string
	noSwitch    bool
	batchSize   int
	flushWindow int
	replicas    int
	conn        cli.ConnFlags
}

func newReplayCmd() *cobra.Command {
	cfg := replayConfig{natsURL: nats.DefaultURL, batchSize: pipeline.DefaultBatchSize, flushWindow: pipeline.DefaultFlushWindow, replicas: 1}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild the projection from the event stream into a fresh bucket and switch readers to it",
		Long: `replay folds every event of the stream ` + streams.EventsStream + ` again, with the same reducers,
into a new state bucket (default ` + streams.StateBucket + `_<UTC time>), reading the stream directly:
its memory grows with the number of hosts, not with the length of the stream.

When the new bucket has caught up with the stream, readers (HTTP, CLI) and the
live projectors switch to it at once (one compare-and-set of ` + streams.MetaBucket + `),
and the live projector applies whatever arrived since. The previous bucket is
kept; delete it when you no longer need it. Replay sends no inventory request:
the stream already holds every recorded outcome.

--to-seq and --to-time build the state as it was at that point instead; such a
bucket is not switched to, read it with --bucket:
  projector list hosts --bucket <name>

A progress bar (events, rate, ETA) is shown on a terminal; elsewhere a line
every 5 seconds.

` + cli.ConnHelp,
		Example: `  projector replay
  projector replay --to-time 2026-11-25T14:02:00Z --bucket BEFORE_OUTAGE`,
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
	f.StringVar(&cfg.lattice, "lattice", "", "rebuild one lattice only (never switched to); default every lattice")
	f.Uint64Var(&cfg.toSeq, "to-seq", 0, "stop after this stream sequence: the state as it was")
	f.StringVar(&cfg.toTime, "to-time", "", "stop after the events captured at this RFC 3339 time: the state as it was")
	f.StringVar(&cfg.bucket, "bucket", "", "name of the new state bucket (must not exist)")
	f.BoolVar(&cfg.noSwitch, "no-switch", false, "build the bucket but leave readers where they are")
	f.IntVar(&cfg.batchSize, "batch-size", cfg.batchSize, "events decoded and folded per batch")
	f.IntVar(&cfg.flushWindow, "flush-window", cfg.flushWindow, "catching up, events folded before the documents they changed are written, each once (near the head every batch is written; 1: every batch)")
	f.IntVar(&cfg.replicas, "replicas", cfg.replicas, "replicas of the new bucket")
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
	historical := upTo != pipeline.AsOf{}
	doSwitch := !cfg.noSwitch && !historical && cfg.lattice == ""

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
	so := streams.DefaultOptions()
	so.Replicas = cfg.replicas
	res, err := streams.Ensure(ctx, js, so)
	if err != nil {
		return err
	}
	active, rev, err := streams.ActiveState(ctx, res.Meta)
	if err != nil {
		return err
	}
	name := cfg.bucket
	if name == "" {
		name = streams.ReplayBucket(time.Now())
	}
	if _, err := js.KeyValue(ctx, name); err == nil {
		return cli.Exit(2, fmt.Errorf("bucket %s already exists: choose another --bucket", name))
	}
	target := *res
	if target.State, target.StateStream, err = streams.EnsureState(ctx, js, name, so); err != nil {
		return err
	}
	p, err := pipeline.New(ctx, js, &target, pipeline.WithLattice(cfg.lattice), pipeline.WithBatchSize(cfg.batchSize), pipeline.WithFlushWindow(cfg.flushWindow),
		pipeline.WithoutConsumer(), pipeline.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	start := time.Now()
	bar := newProgress(stderr, isTerminal(stderr), "replaying", 0, 0)
	last, err := p.Rebuild(ctx, upTo, bar.set)
	bar.finish()
	if err != nil {
		return fmt.Errorf("replay into %s stopped at seq %d: %w", name, last, err)
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "rebuilt %s up to stream sequence %d in %v (%.0f events/s)\n", name, last, took.Round(time.Millisecond), float64(last)/took.Seconds())
	if !doSwitch {
		fmt.Fprintf(stdout, "readers stay on %s; read this state with --bucket %s\n", active, name)
		return nil
	}
	// The live projector continues in the new bucket from here; the gap
	// fill applies what arrived during the rebuild.
	if err := p.SaveCheckpointFor(ctx, streams.ConsumerName(""), last); err != nil {
		return err
	}
	if err := streams.SwitchState(ctx, res.Meta, name, rev); err != nil {
		return fmt.Errorf("%w (another replay switched first?); %s is built but not active", err, name)
	}
	fmt.Fprintf(stdout, "readers switched from %s to %s; %s is kept\n", active, name, active)
	return nil
}
