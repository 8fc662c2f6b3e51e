package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"latticestate/projections"
)

// capturedEvent is one event as the stream captured it, on its way through
// a batch: delivered by the consumer, or read straight from the stream to
// fill a gap.
type capturedEvent struct {
	seq uint64
	// delivery is the consumer's delivery sequence; 0 for events read
	// straight from the stream.
	delivery uint64
	// pending is the number of the consumer's events not yet delivered
	// after this one.
	pending  uint64
	subject  string
	data     []byte
	captured time.Time
	// msg is nil for events read directly from the stream to fill a gap.
	msg jetstream.Msg
	// traceCtx and span trace the event when tracing is on.
	traceCtx context.Context
	span     trace.Span

	// decoded is set once ev, key or err hold the decode's outcome.
	decoded bool
	ev      projections.Event
	key     string
	err     error
}

// decodeEvents decodes events with d in parallel on up to workers
// goroutines; each gets its event and document key, or the reason it was
// rejected. Events decoded before are left as they are. tracer, when set,
// records each decode as a span.
func decodeEvents(d *projections.Decoder, events []capturedEvent, workers int, tracer trace.Tracer) {
	decodeOne := func(e *capturedEvent) {
		if e.decoded {
			return
		}
		e.decoded = true
		e.ev, e.key, e.err = decodeEvent(d, e.seq, e.subject, e.data)
	}
	if tracer != nil {
		inner := decodeOne
		decodeOne = func(e *capturedEvent) {
			inner(e)
			traceDecode(tracer, e)
		}
	}
	if len(events) < 64 || workers == 1 {
		for i := range events {
			decodeOne(&events[i])
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(events) + workers - 1) / workers
	for w := 0; w < len(events); w += chunk {
		part := events[w:min(w+chunk, len(events))]
		wg.Go(func() {
			for i := range part {
				decodeOne(&part[i])
			}
		})
	}
	wg.Wait()
}

// ascending reports whether events are in strictly ascending stream order,
// as a consumer delivers them unless it redelivers.
func ascending(events []capturedEvent) bool {
	for i := 1; i < len(events); i++ {
		if events[i].seq <= events[i-1].seq {
			return false
		}
	}
	return true
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
