package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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

// Missed heartbeats are warned about at most once per missedWarnEvery,
// with how many there were since the last warning; other reports of the
// client stay at debug.
func TestConsumeErrors_WarnsMissedHeartbeats(t *testing.T) {
	var logs recordedLogs
	c := &consumeErrors{log: slog.New(&logs)}
	c.handle(nil, jetstream.ErrConsumerDeleted)
	c.handle(nil, fmt.Errorf("pull: %w", jetstream.ErrNoHeartbeat))
	c.handle(nil, jetstream.ErrNoHeartbeat)
	c.handle(nil, jetstream.ErrNoHeartbeat)
	c.mu.Lock()
	c.warned = time.Now().Add(-missedWarnEvery)
	c.mu.Unlock()
	c.handle(nil, jetstream.ErrNoHeartbeat)
	require.Equal(t, []string{"DEBUG consume", "WARN missed=1", "WARN missed=3"}, logs.lines())
}

// recordedLogs is a slog.Handler keeping the level and message of each
// record, or the level and missed attribute of a warning.
type recordedLogs struct {
	mu      sync.Mutex
	records []string
}

func (r *recordedLogs) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordedLogs) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recordedLogs) WithGroup(string) slog.Handler            { return r }

func (r *recordedLogs) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "missed" {
			line = rec.Level.String() + " missed=" + a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, line)
	r.mu.Unlock()
	return nil
}

func (r *recordedLogs) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}
