package bench_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/bench"
)

func sampleReport(replayRate, p99 float64, growth float64) *bench.Report {
	return &bench.Report{
		Params: bench.Params{LiveRates: []float64{bench.TargetLiveRate}},
		Stream: bench.Filled{Events: 1000, Bytes: 1_000_000},
		Stages: []bench.Stage{
			{Name: "raw", Events: 1000, Seconds: 0.01, EventsPerSec: 100_000},
			{Name: "naive", Events: 100, Seconds: 0.1, EventsPerSec: 1000},
			{Name: "replay", Events: 1000, Seconds: 1000 / replayRate, EventsPerSec: replayRate, KVWrites: 500, KVWritesPerSec: 1},
			{Name: "live", Events: 10, Seconds: 1, EventsPerSec: 10,
				Live: &bench.Live{OfferedPerSec: bench.TargetLiveRate, Samples: 10, P50Ms: 1, P99Ms: p99, MaxMs: p99}},
			{Name: "memory", Events: 1000, Seconds: 1, EventsPerSec: 1000,
				Memory: &bench.Memory{RSSKiB: 100, QuarterRSSKiB: 100, GrowthRatio: growth}},
			{Name: "asof", Events: 1000, Seconds: 1, EventsPerSec: 1000,
				AsOf: &bench.AsOf{LiveListMs: 100, WorstRatio: 2 * growth}},
		},
	}
}

func TestReport_Compare(t *testing.T) {
	t.Run("every target met", func(t *testing.T) {
		r := sampleReport(40_000, 20, 1.1)
		r.Compare()
		require.InDelta(t, 0.4, r.Stages[2].RatioToRaw, 1e-9)
		require.InDelta(t, 40, r.Stages[2].RatioToNaive, 1e-9)
		require.Len(t, r.Targets, 5)
		for _, tg := range r.Targets {
			require.True(t, tg.Pass, tg.Name)
		}
	})
	t.Run("every target missed", func(t *testing.T) {
		r := sampleReport(10_000, 60, 2)
		r.Compare()
		for _, tg := range r.Targets {
			require.False(t, tg.Pass, tg.Name)
			require.NotNil(t, tg.Measured, tg.Name)
		}
	})
	t.Run("an event not applied misses the live target", func(t *testing.T) {
		r := sampleReport(40_000, 20, 1)
		r.Stages[3].Live.Unapplied = 1
		r.Compare()
		require.False(t, r.Targets[2].Pass)
	})
	t.Run("a stage not run is not measured and misses", func(t *testing.T) {
		r := sampleReport(40_000, 20, 1)
		r.Stages = r.Stages[:3]
		r.Compare()
		require.Nil(t, r.Targets[2].Measured)
		require.False(t, r.Targets[2].Pass)
		var buf bytes.Buffer
		require.NoError(t, r.WriteTable(&buf))
		require.Contains(t, buf.String(), "MISS")
		require.Contains(t, buf.String(), "not measured")
	})
}

func TestReport_Missing(t *testing.T) {
	r := sampleReport(40_000, 20, 1)
	require.Empty(t, r.Missing())
	r.Stages[2].KVWritesPerSec = 0
	r.Stages[3].Live.P99Ms = 0
	r.Stages = r.Stages[:4]
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
