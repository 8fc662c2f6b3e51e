package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"latticestate/internal/bench"
	"latticestate/internal/cli"
	"latticestate/internal/sim"
	"latticestate/pipeline"
	"latticestate/streams"
)

type benchConfig struct {
	natsURL       string
	dataDir       string
	events        int
	hosts         int
	schema        string
	churn         float64
	seed          uint64
	naiveEvents   int
	liveRates     []float64
	liveDuration  time.Duration
	memoryEvents  int
	snapshotEvery uint64
	sync          string
	batchSize     int
	flushWindow   int
	passes        int
	format        string
	jsonFile      string
	cpuProfile    string
	memProfile    string
	profileStage  string
	smoke         bool
	msgIDs        bool
}

// smokeConfig is what --smoke changes unless the flag is given too: a run
// of seconds that checks every stage produces a number.
var smokeConfig = map[string]string{
	"events": "2000", "hosts": "200", "naive-events": "1000", "live-rates": "500",
	"live-duration": "1s", "memory-events": "20000", "passes": "1",
}

// benchLong is bench's help text.
const benchLong = `bench fills the stream ` + streams.EventsStream + ` with a realistic lattice history
(--hosts simulated hosts of --schema, about 1 KB heartbeats with labels, actors
and providers, plus --churn lifecycle events, published as wasmCloud hosts
publish them: without a Nats-Msg-Id unless --msg-ids), then measures on that
stream:

  raw     an ordered consumer reading it, doing nothing: the ceiling
  naive   decode, get, merge, put and ack one event at a time (--naive-events)
  replay  latticestate's projector into an empty bucket: events/s, KV writes/s
  live    the projector at the head of the stream while a publisher, on a
          connection of its own as hosts have and publishing as they do
          (plain NATS messages, no PubAck), offers each of --live-rates
          for --live-duration: applied events/s, the latency from publish
          to KV write (p50, p99, max) and the process's CPU time
  floor   the same at each of --live-rates up to 10,000/s without the
          projector: a consumer writes each event as it is to its host's
          key with a compare-and-set and acks it once written, decoding
          nothing: what JetStream alone gives on this machine
  memory  peak RSS of a child ` + "`projector replay --to-seq`" + ` over --memory-events
          events, and over the first quarter of them: memory should not grow
          with the length of the history
  asof    the projector with snapshots every --snapshot-every over the whole
          stream, then the HTTP host list live and ?as_of= near the start,
          in the middle and near the end of it (each request a point of its
          own, folded anew from the snapshot; then one point asked again,
          which the API keeps folded; then the points after it one by one,
          each folded forward from the one before), and the snapshots'
          bytes as a share of the stream's

and prints them with their ratios to raw and naive, and the targets with
PASS or MISS: replay >= 45% of raw and >= 30x naive; live p99 < 25 ms at
3,333 events/s and < 50 ms at 10,000 events/s, every event applied; peak
RSS <= 100 MiB over --memory-events and within 1.25x of that over their
first quarter; as_of <= 3x the live list. The live stage also offers
30,000 events/s, with no target: the report says up to which offered rate
the latency held (p99 <= 50 ms, every event applied at 95% of the rate or
more) and where it broke. raw, naive and replay take a few seconds each,
at the mercy of whatever else the machine does meanwhile: each runs
--passes times and counts its median pass.

With no --nats-url it starts an embedded JetStream server storing in a
temporary directory (or --data-dir), removed afterwards. Against --nats-url,
the stream must be empty: bench writes into it and its buckets BENCH_*.
Everything shares the machine: compare ratios within one run.

--smoke runs in seconds (2,000 events, 200 hosts, 1 s live at 500/s, memory
over 20,000 events) and fails unless every stage produced a number; it
checks no target.`

func newBenchCmd() *cobra.Command {
	cfg := benchConfig{
		events: 200_000, hosts: 10_000, schema: string(sim.SchemaOTP), churn: 0.1, seed: 1, naiveEvents: 20_000,
		liveRates: []float64{bench.TargetLiveRate, bench.TargetLiveHighRate, bench.LiveStressRate}, liveDuration: 10 * time.Second, memoryEvents: 1_000_000, snapshotEvery: streams.DefaultSnapshotEvery,
		batchSize: pipeline.DefaultBatchSize, flushWindow: pipeline.DefaultFlushWindow, passes: 3, format: "table", profileStage: "replay",
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure latticestate against what JetStream itself can do, every stage in one run",
		Long:  benchLong,
		Example: `  projector bench
  projector bench --schema v1 --events 500000 --json bench.json
  projector bench --cpuprofile replay.pprof && go tool pprof -top replay.pprof
  projector bench --smoke --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.smoke {
				for name, v := range smokeConfig {
					if !cmd.Flags().Changed(name) {
						if err := cmd.Flags().Set(name, v); err != nil {
							return err
						}
					}
				}
			}
			if err := cfg.validate(); err != nil {
				return cli.Exit(2, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runBench(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cfg.register(cmd.Flags())
	return cmd
}

// register defines bench's flags on f, with c's values as defaults.
func (c *benchConfig) register(f *pflag.FlagSet) {
	f.StringVar(&c.natsURL, "nats-url", "", "NATS server with JetStream and an empty "+streams.EventsStream+" stream; empty starts an embedded one")
	f.StringVar(&c.dataDir, "data-dir", "", "storage directory of the embedded server (default: a temporary directory, removed afterwards)")
	f.IntVar(&c.events, "events", c.events, "events in the stream that raw and replay read")
	f.IntVar(&c.hosts, "hosts", c.hosts, "simulated hosts")
	f.StringVar(&c.schema, "schema", c.schema, "host generation: otp (0.5x) or v1 (1.x)")
	f.Float64Var(&c.churn, "churn", c.churn, "share of lifecycle events (actors, providers, health checks, links, hosts joining and leaving); the rest are heartbeats")
	f.Uint64Var(&c.seed, "seed", c.seed, "seed of the simulated hosts and churn (0: random)")
	f.IntVar(&c.naiveEvents, "naive-events", c.naiveEvents, "events the naive projector processes")
	f.Float64SliceVar(&c.liveRates, "live-rates", c.liveRates, "offered rates (events/s) of the live stage, one run each")
	f.DurationVar(&c.liveDuration, "live-duration", c.liveDuration, "how long each live rate is offered")
	f.IntVar(&c.memoryEvents, "memory-events", c.memoryEvents, "events the memory stage replays (the stream is topped up to this many)")
	f.Uint64Var(&c.snapshotEvery, "snapshot-every", c.snapshotEvery, "snapshot interval of the asof stage's projector")
	f.StringVar(&c.sync, "sync", "", "sync policy of the embedded server, as serve --sync: always, an interval, or empty for the server's default")
	f.IntVar(&c.batchSize, "batch-size", c.batchSize, "projector batch size (as serve and replay)")
	f.IntVar(&c.flushWindow, "flush-window", c.flushWindow, "projector flush window while catching up (as serve and replay)")
	f.IntVar(&c.passes, "passes", c.passes, "passes of the raw, naive and replay stages; each counts its median pass")
	f.StringVar(&c.format, "format", c.format, "output on stdout: table or json")
	f.StringVar(&c.jsonFile, "json", "", "also write the JSON report to this file")
	f.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the profiled stage (whole process, embedded server included) to this file")
	f.StringVar(&c.memProfile, "memprofile", "", "write a heap profile at the end of the profiled stage to this file")
	f.StringVar(&c.profileStage, "profile-stage", c.profileStage, "stage the profiles cover: replay or live (every rate)")
	f.BoolVar(&c.smoke, "smoke", false, "a run of seconds that fails unless every stage produced a number")
	f.BoolVar(&c.msgIDs, "msg-ids", false, "simulated hosts publish with a Nats-Msg-Id (the CloudEvent id), as latticestate's emitter does; wasmCloud hosts publish without one, and with one the server remembers every id for the stream's 2 min duplicate window")
}

func (c *benchConfig) validate() error {
	switch {
	case c.events < 1:
		return errors.New("--events must be at least 1")
	case c.hosts < 1:
		return errors.New("--hosts must be at least 1")
	case c.schema != string(sim.SchemaOTP) && c.schema != string(sim.SchemaV1):
		return fmt.Errorf("--schema %q: use otp or v1", c.schema)
	case !(c.churn >= 0 && c.churn <= 1):
		return fmt.Errorf("--churn %v: use a share between 0 and 1", c.churn)
	case c.naiveEvents < 1:
		return errors.New("--naive-events must be at least 1")
	case c.passes < 1:
		return errors.New("--passes must be at least 1")
	case c.liveDuration <= 0:
		return errors.New("--live-duration must be positive")
	case c.memoryEvents < 4:
		return errors.New("--memory-events must be at least 4")
	case c.format != "table" && c.format != "json":
		return fmt.Errorf("--format %q: use table or json", c.format)
	case c.profileStage != "replay" && c.profileStage != "live":
		return fmt.Errorf("--profile-stage %q: use replay or live", c.profileStage)
	}
	for _, r := range c.liveRates {
		if !(r > 0) || int(r*c.liveDuration.Seconds()) < 1 {
			return fmt.Errorf("--live-rates %v: every rate must offer at least one event in --live-duration", r)
		}
	}
	return nil
}
