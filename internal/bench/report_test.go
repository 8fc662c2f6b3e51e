package bench_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/bench"
)

// sampleReport is a report whose replay runs at replayRate, whose live
// stages (at the two target rates and the stress rate) have a p99 of p99
// ms, and whose memory stage grows by growth and peaks at rssMiB.
func sampleReport(replayRate, p99, growth, rssMiB float64) *bench.Report {
	live := func(rate float64) bench.Stage {
		return bench.Stage{Name: "live", Events: 10, Seconds: 1, EventsPerSec: rate,
			Live: &bench.Live{OfferedPerSec: rate, Samples: 10, P50Ms: 1, P99Ms: p99, MaxMs: p99}}
	}
	return &bench.Report{
		Params: bench.Params{LiveRates: []float64{bench.TargetLiveRate, bench.TargetLiveHighRate, bench.LiveStressRate}, MemoryEvents: 1000},
		Stream: bench.Filled{Events: 1000, Bytes: 1_000_000},
		Stages: []bench.Stage{
			{Name: "raw", Events: 1000, Seconds: 0.01, EventsPerSec: 100_000},
			{Name: "naive", Events: 100, Seconds: 0.1, EventsPerSec: 1000},
			{Name: "replay", Events: 1000, Seconds: 1000 / replayRate, EventsPerSec: replayRate, KVWrites: 500, KVWritesPerSec: 1},
			live(bench.TargetLiveRate), live(bench.TargetLiveHighRate), live(bench.LiveStressRate),
			{Name: "memory", Events: 1000, Seconds: 1, EventsPerSec: 1000,
				Memory: &bench.Memory{RSSKiB: int64(rssMiB * 1024), QuarterRSSKiB: int64(rssMiB * 1024 / growth), GrowthRatio: growth}},
			{Name: "asof", Events: 1000, Seconds: 1, EventsPerSec: 1000,
				AsOf: &bench.AsOf{LiveListMs: 100, WorstRatio: 2 * growth}},
		},
	}
}

// target returns the target whose name contains part.
func target(t *testing.T, r *bench.Report, part string) bench.Target {
	t.Helper()
	for _, tg := range r.Targets {
		if strings.Contains(tg.Name, part) {
			return tg
		}
	}
	t.Fatalf("no target %q in %v", part, r.Targets)
	return bench.Target{}
}

func TestReport_Compare(t *testing.T) {
	t.Run("every target met", func(t *testing.T) {
		r := sampleReport(50_000, 20, 1.1, 90)
		r.Compare()
		require.InDelta(t, 0.5, r.Stages[2].RatioToRaw, 1e-9)
		require.InDelta(t, 50, r.Stages[2].RatioToNaive, 1e-9)
		require.Len(t, r.Targets, 7)
		for _, tg := range r.Targets {
			require.True(t, tg.Pass, tg.Name)
		}
		require.Equal(t, &bench.LiveBreak{HeldUpTo: bench.LiveStressRate, P99Ms: 20, AppliedPerSec: bench.LiveStressRate}, r.LiveBreak)
		var buf bytes.Buffer
		require.NoError(t, r.WriteTable(&buf))
		require.Contains(t, buf.String(), "held (p99 <= 50 ms, every event applied at the offered rate) up to 30000 events/s, every rate offered")
	})
	t.Run("every target missed", func(t *testing.T) {
		r := sampleReport(25_000, 60, 2, 101)
		r.Compare()
		for _, tg := range r.Targets {
			require.False(t, tg.Pass, tg.Name)
			require.NotNil(t, tg.Measured, tg.Name)
		}
		require.Equal(t, &bench.LiveBreak{BrokeAt: bench.TargetLiveRate, P99Ms: 60, AppliedPerSec: bench.TargetLiveRate}, r.LiveBreak)
	})
	t.Run("each live rate against its own p99", func(t *testing.T) {
		r := sampleReport(50_000, 30, 1, 90)
		r.Compare()
		require.False(t, target(t, r, "at 3333 events/s").Pass, "30 ms misses 25 ms at 3,333/s")
		require.True(t, target(t, r, "at 10000 events/s").Pass, "30 ms meets 50 ms at 10,000/s")
	})
	t.Run("latency breaks where a rate is not kept up with", func(t *testing.T) {
		r := sampleReport(50_000, 20, 1, 90)
		r.Stages[5].EventsPerSec = 20_000
		r.Stages[5].Live.Unapplied = 3
		r.Compare()
		require.Equal(t, &bench.LiveBreak{HeldUpTo: bench.TargetLiveHighRate, BrokeAt: bench.LiveStressRate, P99Ms: 20, AppliedPerSec: 20_000, Unapplied: 3}, r.LiveBreak)
		var buf bytes.Buffer
		require.NoError(t, r.WriteTable(&buf))
		require.Contains(t, buf.String(), "up to 10000 events/s; it broke at 30000 events/s: p99 20 ms, 20000 applied/s, 3 not applied")
	})
	t.Run("an event not applied misses the live target", func(t *testing.T) {
		r := sampleReport(50_000, 20, 1, 90)
		r.Stages[3].Live.Unapplied = 1
		r.Compare()
		require.False(t, target(t, r, "at 3333 events/s").Pass)
	})
	t.Run("a stage not run is not measured and misses", func(t *testing.T) {
		r := sampleReport(50_000, 20, 1, 90)
		r.Stages = r.Stages[:3]
		r.Compare()
		tg := target(t, r, "at 3333 events/s")
		require.Nil(t, tg.Measured)
		require.False(t, tg.Pass)
		require.Nil(t, r.LiveBreak)
		var buf bytes.Buffer
		require.NoError(t, r.WriteTable(&buf))
		require.Contains(t, buf.String(), "MISS")
		require.Contains(t, buf.String(), "not measured")
	})
}

func TestReport_Missing(t *testing.T) {
	r := sampleReport(50_000, 20, 1, 90)
	require.Empty(t, r.Missing())
	r.Stages[2].KVWritesPerSec = 0
	r.Stages[3].Live.P99Ms = 0
	r.Stages = r.Stages[:6]
	require.ElementsMatch(t, []string{"replay: no KV writes/s", "live at 3333/s: no latency", "memory: stage missing", "asof: stage missing"}, r.Missing())
}

func TestMedian(t *testing.T) {
	t.Run("the median pass, with every pass's rate in order", func(t *testing.T) {
		rates := []float64{300, 100, 200}
		i := 0
		st, err := bench.Median(3, func() (bench.Stage, error) {
			i++
			return bench.Stage{Name: "raw", Events: uint64(i), EventsPerSec: rates[i-1]}, nil
		})
		require.NoError(t, err)
		require.Equal(t, 3, i)
		require.Equal(t, uint64(3), st.Events, "the pass at 200 events/s")
		require.Equal(t, rates, st.PassesPerSec)
		var buf bytes.Buffer
		require.NoError(t, (&bench.Report{Stages: []bench.Stage{st}}).WriteTable(&buf))
		require.Contains(t, buf.String(), "median of 3 passes (300, 100, 200 events/s)")
	})
	t.Run("one pass is the stage itself", func(t *testing.T) {
		st, err := bench.Median(1, func() (bench.Stage, error) { return bench.Stage{EventsPerSec: 5}, nil })
		require.NoError(t, err)
		require.Equal(t, bench.Stage{EventsPerSec: 5}, st)
	})
	t.Run("a failed pass fails the stage", func(t *testing.T) {
		calls := 0
		_, err := bench.Median(3, func() (bench.Stage, error) {
			calls++
			return bench.Stage{}, errors.New("boom")
		})
		require.EqualError(t, err, "boom")
		require.Equal(t, 1, calls)
	})
}
