package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// A lattice's silent hosts are marked stale only while its projector is
// active: a standby, which sees no heartbeats, marks nothing.
func TestSweeper_OnlyWhileActive(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	sub, err := nc.SubscribeSync("latticestate.evt.default.>")
	require.NoError(t, err)

	const interval = 20 * time.Millisecond
	sw := pipeline.NewSweeper(js, res.State, interval, nil)
	var active atomic.Bool
	sw.Active = func(_ context.Context, lattice string) bool { return lattice == "default" && active.Load() }
	host := eventtest.HostID(1)
	sw.Observe(&projections.Event{Kind: projections.KindHostHeartbeat, Lattice: "default", HostID: host}, time.Now().Add(-time.Hour))
	require.NoError(t, sw.Start(context.Background()))
	defer sw.Stop()

	_, err = sub.NextMsg(20 * pipeline.StaleAfter * interval)
	require.ErrorIs(t, err, nats.ErrTimeout, "nothing is marked on standby")

	active.Store(true)
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, streams.RecordedEventSubject("default", string(projections.KindHostStale)), m.Subject)
	ev, err := projections.Decode(m.Data)
	require.NoError(t, err)
	require.Equal(t, host, ev.HostID)
}
