package pipeline

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
)

// gatherMore ends a batch as soon as consume waits for it, leaving its
// decoding to the parallel decode; otherwise it decodes what it holds
// while no delivery arrives, and a lull ends the batch with every event
// decoded.
func TestBatcher_GatherMoreHandsOverWhenConsumeWaits(t *testing.T) {
	b := &batcher{opts: defaultOptions(), log: slog.New(slog.DiscardHandler)}
	d := &deliveries{msgs: make(chan jetstream.Msg, 1)}
	batch := func(n int) []capturedEvent {
		events := make([]capturedEvent, n)
		for i := range events {
			events[i] = capturedEvent{seq: uint64(i + 1), subject: "wasmbus.evt.default",
				data: eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{})}
		}
		return events
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stop := make(chan struct{})

	const many = 4000
	b.opts.batchSize = 2 * many
	waiting := make(chan struct{}, 1)
	waiting <- struct{}{}
	events, ok := b.gatherMore(d, batch(many), timer, waiting, stop)
	require.True(t, ok)
	require.Len(t, events, many)
	require.Empty(t, waiting, "ended because consume waits")
	require.False(t, events[0].decoded, "the batch is left to the parallel decode")

	events, ok = b.gatherMore(d, batch(3*decodeStep), timer, make(chan struct{}, 1), stop)
	require.True(t, ok)
	for i := range events {
		require.True(t, events[i].decoded, "event %d decoded before the lull ended the batch", i)
		require.NoError(t, events[i].err)
	}
}
