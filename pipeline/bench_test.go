package pipeline_test

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/bench"
	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/pipeline"
	"latticestate/streams"
)

var (
	replayEvents = flag.Int("replay.events", 200_000, "events in the stream BenchmarkReplay replays (-short: 20k)")
	replayHosts  = flag.Int("replay.hosts", 10_000, "simulated OTP hosts in BenchmarkReplay's stream")
	replayChurn  = flag.Float64("replay.churn", 0.1, "share of lifecycle events in BenchmarkReplay's stream; the rest are ~1 KB heartbeats")
	naiveEvents  = flag.Int("replay.naive", 20_000, "events the naive projector of BenchmarkReplay processes")
	replayWindow = flag.Int("replay.window", pipeline.DefaultFlushWindow, "flush window of BenchmarkReplay's projector")
)

// BenchmarkReplay measures, in one run against one stream of a simulated
// lattice's history, the stages of `projector bench` that need no child
// process: the raw rate of an ordered consumer reading it with no
// processing (the ceiling), a naive projector (decode, get, merge, put,
// ack per event), and latticestate's pipeline replaying it into an empty
// bucket.
func BenchmarkReplay(b *testing.B) {
	n, hosts := *replayEvents, *replayHosts
	if testing.Short() {
		n, hosts = 20_000, 2_000
	}
	ctx := context.Background()
	js, res, _, filled := filledStream(b, hosts, n, *replayChurn, true)
	b.Logf("stream: %d events of %d hosts, %d bytes each on average", filled.Events, hosts, filled.Bytes/filled.Events)

	b.Run("raw-ordered-consumer", func(b *testing.B) {
		for b.Loop() {
			st, err := bench.Raw(ctx, res.Events, n, nil)
			require.NoError(b, err)
			b.ReportMetric(st.EventsPerSec, "events/s")
			b.ReportMetric(cpuPerEvent(st), "cpu-µs/event")
		}
	})
	b.Run("naive-get-merge-put-ack", func(b *testing.B) {
		for b.Loop() {
			st, err := bench.Naive(ctx, js, res.Events, min(*naiveEvents, n), nil)
			require.NoError(b, err)
			b.ReportMetric(st.EventsPerSec, "events/s")
		}
	})
	// With snapshots at the default interval (what serve does), and
	// without: what snapshots add to catching up.
	for _, every := range []uint64{streams.DefaultSnapshotEvery, 0} {
		name := "latticestate-replay"
		if every == 0 {
			name += "-no-snapshots"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				st, err := bench.Replay(ctx, js, res, n, nil, pipeline.WithBatchSize(pipeline.DefaultBatchSize),
					pipeline.WithFlushWindow(*replayWindow), pipeline.WithSnapshotEvery(every))
				require.NoError(b, err)
				b.ReportMetric(st.EventsPerSec, "events/s")
				b.ReportMetric(st.KVWritesPerSec, "kv-writes/s")
				b.ReportMetric(cpuPerEvent(st), "cpu-µs/event")
			}
		})
	}
}

// cpuPerEvent is the process's CPU time per event of a stage, server
// included: steadier than the rate on a machine shared with other work.
func cpuPerEvent(st bench.Stage) float64 {
	return st.CPUPercent / 100 * st.Seconds / float64(st.Events) * 1e6
}

var (
	liveRates    = flag.String("live.rates", "3333,10000", "offered rates (events/s) of BenchmarkLive, one sub-benchmark each (-short: 500)")
	liveDuration = flag.Duration("live.duration", 5*time.Second, "how long BenchmarkLive offers each rate (-short: 500ms)")
	liveHosts    = flag.Int("live.hosts", 10_000, "simulated OTP hosts of BenchmarkLive (-short: 200)")
)

// BenchmarkLive measures the live path: a projector at the head of the
// stream while a publisher offers a fixed rate, each event timed from its
// publish call to the KV write of its document. The stream first holds
// two events per host, which the projector catches up with before the
// clock starts.
func BenchmarkLive(b *testing.B) {
	hosts, duration, rates := liveParams(b)
	ctx := context.Background()
	js, res, hist, _ := filledStream(b, hosts, 2*hosts, 0.1, false)
	warmup, err := bench.Generate(hist, 1)
	require.NoError(b, err)
	pub, _ := natstest.MustConnectURL(b, js.Conn().ConnectedUrl())
	live, err := bench.StartLive(ctx, pub, js, res, warmup)
	require.NoError(b, err)
	defer func() { require.NoError(b, live.Stop()) }()
	for _, rate := range rates {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			for b.Loop() {
				msgs, err := bench.Generate(hist, int(rate*duration.Seconds()))
				require.NoError(b, err)
				st, err := live.Offer(ctx, msgs, rate, 10*time.Second, nil)
				reportLive(b, st, err)
			}
		})
	}
}

// BenchmarkLiveFloor is BenchmarkLive without latticestate (bench.Floor):
// the same stream, publisher and rates, and a consumer that writes each
// event as it is to its host's key with a compare-and-set and acks it
// once written, decoding and folding nothing. What JetStream alone gives
// on the machine, against which BenchmarkLive's latency and CPU per event
// are read.
func BenchmarkLiveFloor(b *testing.B) {
	hosts, duration, rates := liveParams(b)
	ctx := context.Background()
	js, res, hist, _ := filledStream(b, hosts, 2*hosts, 0.1, false)
	pub, _ := natstest.MustConnectURL(b, js.Conn().ConnectedUrl())
	for _, rate := range rates {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			for b.Loop() {
				msgs, err := bench.Generate(hist, int(rate*duration.Seconds()))
				require.NoError(b, err)
				st, err := bench.Floor(ctx, pub, js, res, msgs, rate, 10*time.Second, nil)
				reportLive(b, st, err)
			}
		})
	}
}

// liveParams are the hosts, duration per rate and rates of the live
// benchmarks, from their flags; with -short, 200 hosts at 500 events/s for
// half a second.
func liveParams(b *testing.B) (int, time.Duration, []float64) {
	if testing.Short() {
		return 200, 500 * time.Millisecond, []float64{500}
	}
	rates, err := parseRates(*liveRates)
	require.NoError(b, err)
	return *liveHosts, *liveDuration, rates
}

// reportLive reports a live or floor stage, which must have written
// every event.
func reportLive(b *testing.B, st bench.Stage, err error) {
	b.Helper()
	require.NoError(b, err)
	require.Zero(b, st.Live.Unapplied, "events published but never written")
	b.ReportMetric(st.Live.P50Ms, "p50-ms")
	b.ReportMetric(st.Live.P99Ms, "p99-ms")
	b.ReportMetric(st.Live.MaxMs, "max-ms")
	b.ReportMetric(st.EventsPerSec, "applied/s")
	b.ReportMetric(cpuPerEvent(st), "cpu-µs/event")
}

// parseRates reads a comma-separated list of positive rates.
func parseRates(s string) ([]float64, error) {
	var rates []float64
	for f := range strings.SplitSeq(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(r > 0) {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// BenchmarkAsOf measures time travel in a lattice of 10,000 hosts
// (-replay.hosts) with snapshots every streams.DefaultSnapshotEvery
// events: the lattice as of a point two thirds of an interval after a
// snapshot, folded by a new History (the snapshot read and decoded, the
// events after it read and folded), and asked again of one History, which
// keeps what it folded.
func BenchmarkAsOf(b *testing.B) {
	hosts, every := *replayHosts, uint64(streams.DefaultSnapshotEvery)
	if testing.Short() {
		hosts, every = 500, 1000
	}
	point := 2*every + every*2/3
	ctx := context.Background()
	js, res, _, _ := filledStream(b, hosts, int(3*every), *replayChurn, true)
	_, err := bench.Replay(ctx, js, res, int(3*every), nil, pipeline.WithSnapshotEvery(every))
	require.NoError(b, err)
	at := pipeline.AsOf{Seq: point}

	b.Run("fold", func(b *testing.B) {
		for b.Loop() {
			l, err := pipeline.NewHistory(js).Lattice(ctx, sim.DefaultLattice, at)
			require.NoError(b, err)
			require.NotEmpty(b, l.Hosts)
		}
	})
	b.Run("again", func(b *testing.B) {
		h := pipeline.NewHistory(js)
		_, err := h.Lattice(ctx, sim.DefaultLattice, at)
		require.NoError(b, err)
		for b.Loop() {
			l, err := h.Lattice(ctx, sim.DefaultLattice, at)
			require.NoError(b, err)
			require.NotEmpty(b, l.Hosts)
		}
	})
}

// filledStream starts a server with latticestate's streams and publishes n
// events of a simulated lattice of hosts, with churn (see sim.NewHistory),
// each with a Nats-Msg-Id when msgIDs is set (wasmCloud hosts publish
// without). It returns the history, which goes on where the stream ends.
func filledStream(b *testing.B, hosts, n int, churn float64, msgIDs bool) (jetstream.JetStream, *streams.Resources, *sim.History, bench.Filled) {
	b.Helper()
	s := natstest.MustRunServer(b)
	_, js := natstest.MustConnect(b, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(b, err)
	hist, err := sim.NewHistory(sim.Config{Hosts: hosts, Seed: 1}, churn)
	require.NoError(b, err)
	if !msgIDs {
		hist.OmitMsgIDs()
	}
	filled, err := bench.Fill(ctx, js, hist, n, nil)
	require.NoError(b, err)
	return js, res, hist, filled
}
