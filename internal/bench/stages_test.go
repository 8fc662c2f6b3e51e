package bench_test

import (
	"context"
	"slices"
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

// TestStages runs every in-process stage on a small stream of a real
// server and checks what each leaves behind: the stream holds what Fill
// published, the naive and replay buckets hold the same hosts, and the
// live stage timed every event it offered.
func TestStages(t *testing.T) {
	const n, hosts = 600, 30
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	hist, err := sim.NewHistory(sim.Config{Hosts: hosts, Seed: 7}, 0.2)
	require.NoError(t, err)

	var reported uint64
	filled, err := bench.Fill(ctx, js, hist, n, func(done, _ uint64) { reported = done })
	require.NoError(t, err)
	require.Equal(t, bench.Filled{Events: n, Bytes: filled.Bytes, Seconds: filled.Seconds, FirstSeq: 1, LastSeq: n}, filled)
	require.Greater(t, filled.Bytes/n, uint64(500), "events are about 1 KB")
	require.EqualValues(t, n, reported)

	raw, err := bench.Raw(ctx, res.Events, n, nil)
	require.NoError(t, err)
	require.EqualValues(t, n, raw.Events)
	require.Positive(t, raw.EventsPerSec)

	naive, err := bench.Naive(ctx, js, res.Events, n, nil)
	require.NoError(t, err)
	require.EqualValues(t, n, naive.Events)

	replay, err := bench.Replay(ctx, js, res, n, nil, pipeline.WithBatchSize(100))
	require.NoError(t, err)
	require.EqualValues(t, n, replay.Events)
	require.Positive(t, replay.KVWrites)
	require.Equal(t, hostKeys(t, js, streams.BenchNaiveBucket), hostKeys(t, js, streams.BenchReplayBucket),
		"the naive projector and latticestate agree on the hosts")

	warmup, err := bench.Generate(hist, 1)
	require.NoError(t, err)
	msgs, err := bench.Generate(hist, 200)
	require.NoError(t, err)
	pub, _ := natstest.MustConnect(t, s)
	live, err := bench.StartLive(ctx, pub, js, res, warmup)
	require.NoError(t, err)
	st, err := live.Offer(ctx, msgs, 400, 10*time.Second, nil)
	require.NoError(t, live.Stop())
	require.NoError(t, err)
	require.Equal(t, 200, st.Live.Samples)
	require.Zero(t, st.Live.Unapplied)
	require.Positive(t, st.CPUPercent, "the process's CPU time over the stage")
	require.Positive(t, st.Live.Windows, "windows written in the stage")
	require.Positive(t, st.KVWrites, "documents written in the stage")

	// The floor runs once the projector is stopped.
	msgs, err = bench.Generate(hist, 200)
	require.NoError(t, err)
	floor, err := bench.Floor(ctx, pub, js, res, msgs, 400, 10*time.Second, nil)
	require.NoError(t, err)
	require.Equal(t, "floor", floor.Name)
	require.Equal(t, 200, floor.Live.Samples)
	require.Zero(t, floor.Live.Unapplied)
	require.LessOrEqual(t, floor.Live.P50Ms, floor.Live.P99Ms)
	require.Positive(t, floor.CPUPercent)
	floorKeys := hostKeys(t, js, streams.BenchFloorBucket)
	require.Greater(t, len(floorKeys), 1)
	require.Subset(t, hostKeys(t, js, streams.BenchReplayBucket), floorKeys,
		"the floor writes the key of each event's host, as the projector writes its document")
	require.Positive(t, st.Live.P50Ms)
	require.LessOrEqual(t, st.Live.P50Ms, st.Live.P99Ms)
	require.LessOrEqual(t, st.Live.P99Ms, st.Live.MaxMs)
}

// hostKeys lists the host documents of a bucket.
func hostKeys(tb testing.TB, js jetstream.JetStream, bucket string) []string {
	tb.Helper()
	kv, err := js.KeyValue(context.Background(), bucket)
	require.NoError(tb, err)
	lister, err := kv.ListKeysFiltered(context.Background(), streams.HostKeys("default"))
	require.NoError(tb, err)
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	require.NotEmpty(tb, keys)
	slices.Sort(keys)
	return keys
}
