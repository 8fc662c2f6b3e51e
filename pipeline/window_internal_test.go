package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A window is written at once at the head of the stream, within
// liveFlushAge near it, and grows only while catching up on events
// captured catchUpLag or more ago.
func TestApplier_FlushDue(t *testing.T) {
	opts := defaultOptions()
	batch := uint64(opts.batchSize)
	type window struct {
		events int
		age    time.Duration
		// lag is how long ago the last event folded was captured.
		lag time.Duration
	}
	for _, tc := range []struct {
		name    string
		win     window
		backlog uint64
		due     bool
	}{
		{"empty", window{}, 0, false},
		{"at the head", window{events: 10, age: time.Millisecond, lag: time.Millisecond}, 0, true},
		{"near the head, young", window{events: 10, age: time.Millisecond, lag: time.Millisecond}, 50, false},
		{"near the head, liveFlushAge old", window{events: 10, age: liveFlushAge, lag: time.Millisecond}, 50, true},
		{"a fresh backlog of a batch is still live", window{events: 10, age: liveFlushAge, lag: catchUpLag / 2}, 3 * batch, true},
		{"catching up on old events", window{events: 10_000, age: time.Second, lag: time.Hour}, 3 * batch, false},
		{"a backlog of a flush window is catching up, whatever the clocks", window{events: 10_000, age: time.Second, lag: -time.Hour},
			uint64(opts.flushEvents), false},
		{"catching up, at the size limit", window{events: opts.flushEvents, age: time.Second, lag: time.Hour}, 3 * batch, true},
		{"catching up, flushAge old", window{events: 10_000, age: flushAge, lag: time.Hour}, 3 * batch, true},
		{"caught up after catching up", window{events: 10_000, age: time.Second, lag: time.Hour}, batch - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &applier{opts: opts, win: newWindow()}
			now := time.Now()
			a.win.events = tc.win.events
			a.win.started = now.Add(-tc.win.age)
			a.appliedTime = now.Add(-tc.win.lag)
			require.Equal(t, tc.due, a.flushDue(tc.backlog))
		})
	}
}
