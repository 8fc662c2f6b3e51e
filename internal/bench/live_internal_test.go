package bench

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/sim"
)

// The recorder knows an offered event by its CloudEvent id: a write of an
// event not offered changes nothing, a second write of one keeps the
// first, and an event never written is unapplied.
func TestRecorder_MatchesByID(t *testing.T) {
	hist, err := sim.NewHistory(sim.Config{Hosts: 3, Seed: 1}, 0)
	require.NoError(t, err)
	msgs, err := Generate(hist, 3)
	require.NoError(t, err)
	id := func(i int) string { return msgs.Msg(i).Header.Get(nats.MsgIdHdr) }
	_, other, err := hist.NextEvent()
	require.NoError(t, err)

	rec := newRecorder(msgs)
	start := time.Unix(0, 1000)
	for i := range rec.sent {
		rec.sent[i] = 1000 + int64(i)
	}
	rec.applied(other, 5000)
	require.Zero(t, rec.count.Load(), "an event not offered is not counted")
	rec.applied(id(2), 3000)
	rec.applied(id(0), 2000)
	rec.applied(id(0), 9000)
	require.EqualValues(t, 2, rec.count.Load())

	st := Stage{Live: &Live{}}
	rec.summarize(&st, start)
	require.Equal(t, 2, st.Live.Samples)
	require.Equal(t, 1, st.Live.Unapplied, "event 1 was never written")
	require.InDelta(t, float64(3000-1002)/1e6, st.Live.MaxMs, 1e-9, "the first write of event 0 counts, not the second")
	require.InDelta(t, float64(2000-1000)/1e6, st.Live.P50Ms, 1e-9)
}
