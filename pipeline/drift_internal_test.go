package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// The guard finds the projector's durable consumer changed or gone, by any
// way a client with consumer rights could, and sets it back.
func TestConsumerGuard_Check(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	_, other := natstest.MustConnect(t, s)
	ctx := context.Background()
	so := streams.DefaultOptions()
	res, err := streams.Ensure(ctx, js, so)
	require.NoError(t, err)
	want := streams.ProjectorConsumerConfig("default", so)
	cons, err := streams.EnsureConsumer(ctx, res.Events, "default", so)
	require.NoError(t, err)
	drift := prometheus.NewCounter(prometheus.CounterOpts{Name: "drift"})
	g := newConsumerGuard(res.Events, cons, want, drift, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.False(t, g.shouldCheck(time.Now()))
	require.True(t, g.shouldCheck(time.Now().Add(DriftCheckEvery)))

	hijack := want
	hijack.FilterSubjects, hijack.FilterSubject = nil, "wasmbus.evt.nothing-here"
	hijack.MaxAckPending = 1
	expire := want
	expire.InactiveThreshold = time.Second
	batch := want
	batch.MaxRequestBatch = 1
	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
	}{
		{"unchanged", func(*testing.T) {}},
		{"filter and ack pending", func(t *testing.T) {
			_, err := other.UpdateConsumer(ctx, streams.EventsStream, hijack)
			require.NoError(t, err)
		}},
		{"inactive threshold", func(t *testing.T) {
			_, err := other.UpdateConsumer(ctx, streams.EventsStream, expire)
			require.NoError(t, err)
		}},
		{"pull batch", func(t *testing.T) {
			_, err := other.UpdateConsumer(ctx, streams.EventsStream, batch)
			require.NoError(t, err)
		}},
		{"deleted", func(t *testing.T) {
			require.NoError(t, other.DeleteConsumer(ctx, streams.EventsStream, want.Durable))
		}},
		{"replaced by one that starts at the end", func(t *testing.T) {
			require.NoError(t, other.DeleteConsumer(ctx, streams.EventsStream, want.Durable))
			c := hijack
			c.DeliverPolicy = jetstream.DeliverNewPolicy
			_, err := other.CreateConsumer(ctx, streams.EventsStream, c)
			require.NoError(t, err)
		}},
		{"replaced by a push consumer", func(t *testing.T) {
			require.NoError(t, other.DeleteConsumer(ctx, streams.EventsStream, want.Durable))
			c := want
			c.DeliverSubject = "somewhere.else"
			_, err := other.CreateConsumer(ctx, streams.EventsStream, c)
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(drift)
			tc.change(t)
			drifted, err := g.check(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.name != "unchanged", drifted)
			require.Equal(t, before+map[bool]float64{true: 1}[drifted], testutil.ToFloat64(drift))
			// The projector's handle on the consumer stays valid.
			info, err := cons.Info(ctx)
			require.NoError(t, err)
			require.Empty(t, configDiff(g.applied, withoutServerMetadata(info.Config)))
			require.Equal(t, want.FilterSubjects, info.Config.FilterSubjects)
			require.Equal(t, want.MaxAckPending, info.Config.MaxAckPending)
			require.Equal(t, want.DeliverPolicy, info.Config.DeliverPolicy)
			require.Zero(t, info.Config.InactiveThreshold)
			require.Empty(t, info.Config.DeliverSubject)

			drifted, err = g.check(ctx)
			require.NoError(t, err)
			require.False(t, drifted, "set back for good")
		})
	}
}
