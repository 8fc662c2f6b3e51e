package pipeline_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

var (
	replayEvents = flag.Int("replay.events", 200_000, "heartbeats in the stream BenchmarkReplay replays (-short: 20k)")
	replayHosts  = flag.Int("replay.hosts", 10_000, "distinct hosts in BenchmarkReplay's stream")
	naiveEvents  = flag.Int("replay.naive", 20_000, "events the naive projector of BenchmarkReplay processes")
)

// benchHeartbeat is a ~1 KB OTP heartbeat of host i, shaped like the
// fixture's full heartbeat.
func benchHeartbeat(i, n int) []byte {
	return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{
			FriendlyName: fmt.Sprintf("wandering-moon-%04d", i%10000), Version: "0.56.0",
			UptimeSeconds: uint64(n), UptimeHuman: "1 hour, 41 minutes, 3 seconds",
			Labels: map[string]string{"hostcore.arch": "x86_64", "hostcore.os": "linux", "hostcore.osfamily": "unix"},
		},
		Actors: map[string]uint64{"MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5": 2},
		Providers: []eventtest.Provider{
			{ID: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", LinkName: "default", ContractID: "wasmcloud:httpserver"},
			{ID: "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB", LinkName: "default", ContractID: "wasmcloud:keyvalue"},
		},
	}, eventtest.Set("time", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano)))
}

// BenchmarkReplay measures, in one run against one stream of heartbeats:
// the raw rate of an ordered consumer reading it with no processing (the
// ceiling), a naive projector (decode, get, merge, put, ack per event), and
// latticestate's pipeline replaying it into an empty bucket.
func BenchmarkReplay(b *testing.B) {
	n, hosts := *replayEvents, *replayHosts
	if testing.Short() {
		n, hosts = 20_000, 2_000
	}
	s := natstest.MustRunServer(b)
	_, js := natstest.MustConnect(b, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(b, err)
	bytes := 0
	for i := range n {
		msg := benchHeartbeat(i%hosts, i)
		bytes += len(msg)
		_, err := js.PublishAsync(streams.HostEventSubject("default"), msg)
		require.NoError(b, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing the stream took over a minute")
	}
	b.Logf("stream: %d heartbeats of %d hosts, %d bytes each on average", n, hosts, bytes/n)

	b.Run("raw-ordered-consumer", func(b *testing.B) {
		for b.Loop() {
			cons, err := res.Events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
			require.NoError(b, err)
			start := time.Now()
			it, err := cons.Messages(jetstream.PullMaxMessages(2000))
			require.NoError(b, err)
			for range n {
				_, err := it.Next()
				require.NoError(b, err)
			}
			it.Stop()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		}
	})

	b.Run("naive-get-merge-put-ack", func(b *testing.B) {
		m := min(*naiveEvents, n)
		for b.Loop() {
			kv := mustFreshBucket(b, js, "NAIVE")
			cons, err := res.Events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "naive", AckPolicy: jetstream.AckExplicitPolicy})
			require.NoError(b, err)
			start := time.Now()
			it, err := cons.Messages()
			require.NoError(b, err)
			for range m {
				msg, err := it.Next()
				require.NoError(b, err)
				require.NoError(b, naiveApply(ctx, kv, msg))
			}
			it.Stop()
			b.ReportMetric(float64(m)/time.Since(start).Seconds(), "events/s")
			require.NoError(b, res.Events.DeleteConsumer(ctx, "naive"))
		}
	})

	b.Run("latticestate-replay", func(b *testing.B) {
		for b.Loop() {
			if err := res.Events.DeleteConsumer(ctx, streams.ProjectorConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				b.Fatal(err)
			}
			res.State = mustFreshBucket(b, js, streams.StateBucket)
			res.StateStream, err = js.Stream(ctx, streams.BucketStream(streams.StateBucket))
			require.NoError(b, err)
			metrics := pipeline.NewMetrics(nil)
			p, err := pipeline.New(ctx, js, res, pipeline.WithBatchSize(20000), pipeline.WithMetrics(metrics))
			require.NoError(b, err)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(0, &ru0)
			start := time.Now()
			go func() { done <- p.Run(runCtx) }()
			for {
				st, err := p.Status(ctx)
				require.NoError(b, err)
				if st.CaughtUp() {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			_ = syscall.Getrusage(0, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			cancel()
			require.NoError(b, <-done)
			b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
			b.ReportMetric(testutil.ToFloat64(metrics.Writes)/elapsed.Seconds(), "kv-writes/s")
			// CPU of the whole process (projector and server) per wall
			// second: 200% is both cores of a 2-core machine busy.
			b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu-%")
		}
	})
}

// naiveApply is what a projector without batching does: one get, one fold,
// one put and one ack per event.
func naiveApply(ctx context.Context, kv jetstream.KeyValue, msg jetstream.Msg) error {
	ev, err := projections.Decode(msg.Data())
	if err != nil {
		return err
	}
	ev.Lattice = "default"
	key := streams.HostKey("default", ev.HostID)
	var cur *projections.Host
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return err
	default:
		if cur, err = projections.UnmarshalHost(e.Value()); err != nil {
			return err
		}
	}
	next, _ := projections.ApplyHost(cur, &ev)
	b, err := projections.Marshal(next)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return err
	}
	return msg.DoubleAck(ctx)
}

func mustFreshBucket(tb testing.TB, js jetstream.JetStream, name string) jetstream.KeyValue {
	tb.Helper()
	ctx := context.Background()
	if err := js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		tb.Fatal(err)
	}
	cfg := streams.StateBucketConfig(streams.DefaultOptions())
	cfg.Bucket = name
	kv, err := js.CreateKeyValue(ctx, cfg)
	require.NoError(tb, err)
	return kv
}
