package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/streams"
)

// An event published with a traceparent is traced through decode and the
// KV write, in the publisher's trace.
func TestProjector_Tracing(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	startProjector(t, js, res, pipeline.WithTracer(tp.Tracer("test")))

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	m := nats.NewMsg(streams.HostEventSubject("default"))
	m.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	m.Data = eventtest.ActorStarted(eventtest.HostID(1), "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5")
	require.NoError(t, nc.PublishMsg(m))
	bad := nats.NewMsg(streams.HostEventSubject("default"))
	bad.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b8-01")
	bad.Data = []byte("{")
	require.NoError(t, nc.PublishMsg(bad))

	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(rec.Ended()); n < 5 {
			return errorf("%d spans ended", n)
		}
		return nil
	})
	names := map[string]int{}
	var rejected bool
	for _, s := range rec.Ended() {
		require.Equal(t, traceID, s.SpanContext().TraceID().String(), "span %s", s.Name())
		names[s.Name()]++
		if s.Name() == "latticestate.decode" && s.Status().Description == "rejected" {
			rejected = true
		}
	}
	require.Equal(t, map[string]int{"latticestate.event": 2, "latticestate.decode": 2, "latticestate.kv.write": 1}, names)
	require.True(t, rejected, "the rejected event's decode span says so")
}
