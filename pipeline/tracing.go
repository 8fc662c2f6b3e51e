package pipeline

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Span names of the pipeline's traces.
const (
	spanEvent  = "latticestate.event"
	spanDecode = "latticestate.decode"
	spanWrite  = "latticestate.kv.write"
)

var propagator = propagation.TraceContext{}

// startEventSpan continues the trace of an event's traceparent header, if
// any, with a span that lasts until the event's document is written.
func startEventSpan(tracer trace.Tracer, it *capturedEvent, hdr nats.Header) {
	if tracer == nil {
		return
	}
	parent := propagator.Extract(context.Background(), headerCarrier(hdr))
	it.traceCtx, it.span = tracer.Start(parent, spanEvent, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("latticestate.seq", int64(it.seq)), attribute.String("messaging.destination.name", it.subject)))
}

// traceDecode records the decode of an event as a child span.
func traceDecode(tracer trace.Tracer, it *capturedEvent) {
	if it.span == nil {
		return
	}
	_, s := tracer.Start(it.traceCtx, spanDecode)
	if it.err != nil {
		s.RecordError(it.err)
		s.SetStatus(codes.Error, "rejected")
		it.span.SetStatus(codes.Error, "rejected")
	} else {
		s.SetAttributes(attribute.String("latticestate.kind", string(it.ev.Kind)), attribute.String("latticestate.key", it.key))
	}
	s.End()
}

// startWriteSpan starts the span of one document write, a child of the
// last event folded into it and linked to the others; traces are the
// trace contexts of the window's events.
func startWriteSpan(tracer trace.Tracer, traces map[uint64]context.Context, key string, seqs []uint64) trace.Span {
	if tracer == nil {
		return nil
	}
	var parent context.Context
	var links []trace.Link
	for _, seq := range seqs {
		if ctx, ok := traces[seq]; ok {
			if parent != nil {
				links = append(links, trace.Link{SpanContext: trace.SpanContextFromContext(parent)})
			}
			parent = ctx
		}
	}
	if parent == nil {
		return nil
	}
	_, s := tracer.Start(parent, spanWrite, trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("latticestate.key", key), attribute.Int("latticestate.events", len(seqs))))
	return s
}

func endSpan(s trace.Span, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, "write failed")
	}
	s.End()
}

// headerCarrier reads trace context from NATS headers, whose names keep the
// case the publisher gave them (wasmCloud hosts send "traceparent").
type headerCarrier nats.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (h headerCarrier) Get(key string) string {
	if v, ok := h[key]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (h headerCarrier) Set(key, value string) { h[key] = []string{value} }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
