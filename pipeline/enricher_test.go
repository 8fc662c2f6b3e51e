package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// enricherRig is a real server with the streams in place, a 1.x host that
// answers inventory requests with labels, and a subscription to what the
// enricher records.
type enricherRig struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	host     string
	requests *atomic.Int32
	recorded *nats.Subscription
}

func mustEnricherRig(t *testing.T) enricherRig {
	t.Helper()
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	_, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	rig := enricherRig{nc: nc, js: js, host: eventtest.HostID(1), requests: &atomic.Int32{}}
	_, err = nc.Subscribe(streams.V1InventorySubject("default", rig.host), func(m *nats.Msg) {
		rig.requests.Add(1)
		_ = m.Respond([]byte(`{"success":true,"message":"","response":{"labels":{"zone":"eu"}}}`))
	})
	require.NoError(t, err)
	rig.recorded, err = nc.SubscribeSync(streams.RecordedEventSubject("default", ">"))
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return rig
}

func (r enricherRig) intent() projections.Intent {
	return projections.Intent{Kind: projections.IntentRequestLabels, Lattice: "default", HostID: r.host}
}

func mustNewEnricher(tb testing.TB, nc *nats.Conn, js jetstream.JetStream, opts ...pipeline.EnricherOption) *pipeline.Enricher {
	tb.Helper()
	e, err := pipeline.NewEnricher(nc, js, opts...)
	require.NoError(tb, err)
	return e
}

// Intents handed over before Start wait for it, deduplicated per host:
// nothing panics, and Start serves them.
func TestEnricher_HandleBeforeStart(t *testing.T) {
	rig := mustEnricherRig(t)
	metrics := pipeline.NewEnricherMetrics(nil)
	e := mustNewEnricher(t, rig.nc, rig.js, pipeline.WithEnricherMetrics(metrics))
	defer e.Stop()

	e.Handle([]projections.Intent{rig.intent(), {Kind: "something else", Lattice: "default", HostID: rig.host}})
	e.Handle([]projections.Intent{rig.intent()})
	require.Equal(t, 1.0, testutil.ToFloat64(metrics.InFlight), "one request waits for Start")
	require.Equal(t, 1.0, testutil.ToFloat64(metrics.Deduplicated))
	require.Zero(t, rig.requests.Load(), "nothing is asked before Start")

	e.Start(context.Background())
	m, err := rig.recorded.NextMsg(5 * time.Second)
	require.NoError(t, err)
	ev, err := projections.Decode(m.Data)
	require.NoError(t, err)
	require.Equal(t, projections.KindHostLabelsResolved, ev.Kind)
	require.Equal(t, rig.host, ev.HostID)
	require.Equal(t, &projections.LabelsResolved{Labels: map[string]string{"zone": "eu"}, Outcome: projections.OutcomeOK}, ev.Data)
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := testutil.ToFloat64(metrics.InFlight); n != 0 {
			return errorf("%v requests in flight", n)
		}
		return nil
	})
	require.EqualValues(t, 1, rig.requests.Load())
}

// After Stop, intents are dropped: queued ones too, and nothing panics.
func TestEnricher_HandleAfterStop(t *testing.T) {
	rig := mustEnricherRig(t)
	metrics := pipeline.NewEnricherMetrics(nil)
	e := mustNewEnricher(t, rig.nc, rig.js, pipeline.WithEnricherMetrics(metrics))
	e.Handle([]projections.Intent{rig.intent()})
	e.Stop()
	require.Zero(t, testutil.ToFloat64(metrics.InFlight), "queued intents are dropped by Stop")
	e.Handle([]projections.Intent{rig.intent()})
	e.Start(context.Background())
	require.Zero(t, testutil.ToFloat64(metrics.InFlight), "a stopped enricher does not start again")
	e.Stop()
	require.Zero(t, rig.requests.Load())
}

// Invalid settings fail the constructor with the reason.
func TestNewEnricher_Invalid(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	tests := []struct {
		name string
		opt  pipeline.EnricherOption
		want string
	}{
		{"no requests in flight", pipeline.WithMaxInFlight(0), "max in-flight requests 0"},
		{"zero timeout", pipeline.WithRequestTimeout(0), "request timeout 0s"},
		{"no attempts", pipeline.WithAttempts(0, time.Second), "attempts 0"},
		{"zero backoff", pipeline.WithAttempts(3, 0), "positive backoff"},
		{"nil logger", pipeline.WithEnricherLogger(nil), "nil enricher logger"},
		{"nil metrics", pipeline.WithEnricherMetrics(nil), "nil enricher metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := pipeline.NewEnricher(nc, js, tt.opt)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, e)
		})
	}
	_, err := pipeline.NewEnricher(nil, js)
	require.ErrorContains(t, err, "nil NATS connection")
}
