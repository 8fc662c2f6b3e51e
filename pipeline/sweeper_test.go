package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	var active atomic.Bool
	sw := mustNewSweeper(t, js, res.State, interval, pipeline.WithLatticeActive(func(_ context.Context, lattice string) bool {
		return lattice == "default" && active.Load()
	}))
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

// mustNewSweeper returns a Sweeper with opts, failing the test when they
// are refused.
func mustNewSweeper(tb testing.TB, js jetstream.JetStream, state jetstream.KeyValue, interval time.Duration, opts ...pipeline.SweeperOption) *pipeline.Sweeper {
	tb.Helper()
	sw, err := pipeline.NewSweeper(js, state, interval, opts...)
	require.NoError(tb, err)
	return sw
}

// Invalid settings fail the constructor with the reason, never later.
func TestNewSweeper_Invalid(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	tests := []struct {
		name     string
		interval time.Duration
		opts     []pipeline.SweeperOption
		want     string
	}{
		{"zero heartbeat interval", 0, nil, "heartbeat interval 0s"},
		{"negative heartbeat interval", -time.Second, nil, "heartbeat interval -1s"},
		{"negative host expiry", time.Second, []pipeline.SweeperOption{pipeline.WithHostExpiry(-time.Minute)}, "host expiry -1m0s"},
		{"nil activity check", time.Second, []pipeline.SweeperOption{pipeline.WithLatticeActive(nil)}, "nil lattice activity check"},
		{"nil logger", time.Second, []pipeline.SweeperOption{pipeline.WithSweeperLogger(nil)}, "nil sweeper logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw, err := pipeline.NewSweeper(js, res.State, tt.interval, tt.opts...)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, sw)
		})
	}
	_, err = pipeline.NewSweeper(js, nil, time.Second)
	require.ErrorContains(t, err, "nil JetStream or state bucket")
	sw, err := pipeline.NewSweeper(js, res.State, time.Second, pipeline.WithHostExpiry(0))
	require.NoError(t, err, "0 never expires hosts")
	sw.Stop() // before Start: nothing to stop, no panic
}

// mustPutHost stores h as its document in the state bucket, as the
// projector would.
func mustPutHost(tb testing.TB, kv jetstream.KeyValue, h *projections.Host) {
	tb.Helper()
	b, err := projections.Marshal(h)
	require.NoError(tb, err)
	_, err = kv.Put(context.Background(), streams.HostKey(h.Lattice, h.HostID), b)
	require.NoError(tb, err)
}

// mustNextExpired waits for the next host_expired on sub and decodes it.
func mustNextExpired(tb testing.TB, sub *nats.Subscription) projections.Event {
	tb.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(tb, err)
	ev, err := projections.Decode(m.Data)
	require.NoError(tb, err)
	require.Equal(tb, projections.KindHostExpired, ev.Kind)
	return ev
}

// A stale host silent for the expiry is judged on its document in the
// bucket: host_expired carries that document's last_seen and seq, is
// recorded once per document, and not at all for a host whose document is
// up again, gone, or holds an event the sweeper has not observed.
func TestSweeper_Expire(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	sub, err := nc.SubscribeSync(streams.RecordedEventSubject("default", string(projections.KindHostExpired)))
	require.NoError(t, err)

	const interval, expiry = 10 * time.Millisecond, 100 * time.Millisecond
	seen := "2026-11-25T14:02:00.5Z"
	doc := func(i int, status string, seq uint64) *projections.Host {
		return &projections.Host{HostID: eventtest.HostID(i), Lattice: "default", Labels: map[string]string{},
			Status: status, LastSeen: &seen, Actors: map[string]projections.Actor{},
			Providers: map[string]projections.Provider{}, Seq: seq}
	}
	stale, back := doc(1, projections.StatusStale, 7), doc(2, projections.StatusUp, 8)
	mustPutHost(t, res.State, stale)
	mustPutHost(t, res.State, back)
	sw := mustNewSweeper(t, js, res.State, interval, pipeline.WithHostExpiry(expiry))
	// A host the sweeper saw but whose document is gone.
	gone := eventtest.HostID(3)
	sw.Observe(&projections.Event{Kind: projections.KindHostHeartbeat, Lattice: "default", HostID: gone, Seq: 3}, time.Now().Add(-time.Hour))
	require.NoError(t, sw.Start(context.Background()))
	defer sw.Stop()

	ev := mustNextExpired(t, sub)
	require.Equal(t, stale.HostID, ev.HostID)
	require.Equal(t, &projections.HostExpired{LastSeen: &seen, Seq: 7}, ev.Data)
	_, err = sub.NextMsg(20 * interval)
	require.ErrorIs(t, err, nats.ErrTimeout, "one host_expired per document judged, none for the others")

	// The reducer kept the host (it was seen in between): its document
	// moved on to the seq of the host_expired. Not judged before that
	// event is observed, then judged again.
	stale.Seq = 9
	mustPutHost(t, res.State, stale)
	_, err = sub.NextMsg(20 * interval)
	require.ErrorIs(t, err, nats.ErrTimeout, "judged on a document holding an event not observed")
	sw.Observe(&projections.Event{Kind: projections.KindHostExpired, Type: projections.TypeOf(projections.KindHostExpired),
		Lattice: "default", HostID: stale.HostID, Seq: 9}, time.Now())
	ev = mustNextExpired(t, sub)
	require.Equal(t, stale.HostID, ev.HostID)
	require.Equal(t, &projections.HostExpired{LastSeen: &seen, Seq: 9}, ev.Data)
}

// With a projector applying what the sweeper records, a silent host goes
// stale, then is removed by exactly one host_expired, while a host that
// keeps heartbeating stays; the silent host's next event brings it back.
func TestSweeper_ExpireWithProjector(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	sub, err := nc.SubscribeSync(streams.RecordedEventSubject("default", ">"))
	require.NoError(t, err)

	const interval, expiry = 100 * time.Millisecond, 600 * time.Millisecond
	// The sweeps start (sw.Start) only once p is set.
	var p *pipeline.Projector
	sw := mustNewSweeper(t, js, res.State, interval, pipeline.WithHostExpiry(expiry),
		pipeline.WithLatticeActive(func(ctx context.Context, _ string) bool {
			st, err := p.Status(ctx)
			return err == nil && st.CaughtUp()
		}))
	p = startProjector(t, js, res, pipeline.WithObserver(sw.Observe))
	silent, alive := eventtest.HostID(1), eventtest.HostID(2)
	heartbeat := func(id string) error {
		hb := eventtest.HostHeartbeat(id, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"a": "b"}}},
			eventtest.Set("time", time.Now().UTC().Format(time.RFC3339Nano)))
		return nc.Publish(streams.HostEventSubject("default"), hb)
	}
	require.NoError(t, heartbeat(silent))
	require.NoError(t, heartbeat(alive))
	require.NoError(t, sw.Start(ctx))
	defer sw.Stop()
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Go(func() {
		// Well within the stale limit, even on a loaded machine.
		tick := time.NewTicker(interval / 4)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
				_ = heartbeat(alive)
			}
		}
	})

	// The silent host is projected, goes stale and expires: the sweeper
	// judges projected documents only, so its records show the host was
	// projected, however briefly on a loaded machine.
	kinds := map[projections.Kind]int{}
	record := func(m *nats.Msg) {
		ev, err := projections.Decode(m.Data)
		require.NoError(t, err)
		require.Equal(t, silent, ev.HostID, "only the silent host is recorded: %s", m.Data)
		kinds[ev.Kind]++
		if ev.Kind == projections.KindHostExpired {
			require.Equal(t, 1, kinds[projections.KindHostStale], "stale before it expires")
		}
	}
	for kinds[projections.KindHostExpired] == 0 {
		m, err := sub.NextMsg(15 * time.Second)
		require.NoError(t, err, "no host_expired recorded for %s (recorded: %v)", silent, kinds)
		record(m)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, ok := mustHostDocs(t, js, res.State, "default")[silent]; ok {
			return errorf("host %s not removed yet", silent)
		}
		return nil
	})
	for {
		// Wait a few sweeps for any more.
		m, err := sub.NextMsg(5 * interval)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		require.NoError(t, err)
		record(m)
	}
	require.Equal(t, map[projections.Kind]int{projections.KindHostStale: 1, projections.KindHostExpired: 1}, kinds)
	docs := mustHostDocs(t, js, res.State, "default")
	require.Contains(t, docs, alive)
	require.Equal(t, projections.StatusUp, docs[alive].Status)

	require.NoError(t, heartbeat(silent))
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		h, ok := mustHostDocs(t, js, res.State, "default")[silent]
		if !ok || h.Status != projections.StatusUp {
			return errorf("host %s not back", silent)
		}
		return nil
	})
}
