package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// RecordedSource is the CloudEvents source of the events latticestate
// records itself.
const RecordedSource = "urn:latticestate:projector"

// recorder publishes latticestate's own events into the event stream, so
// the reducers apply them like any host event and a replay agrees with the
// live state.
type recorder struct {
	js  jetstream.JetStream
	now func() time.Time
}

// record publishes an event of kind about hostID with data, waiting for the
// stream to store it. The message id is the event id, so a retried publish
// is stored once.
func (r *recorder) record(ctx context.Context, lattice string, kind projections.Kind, data any) error {
	ev := ce.New()
	ev.SetID(uuid.NewString())
	ev.SetSource(RecordedSource)
	ev.SetType(projections.TypeOf(kind))
	ev.SetTime(r.now().UTC())
	if err := ev.SetData(ce.ApplicationJSON, data); err != nil {
		return fmt.Errorf("record %s: %w", kind, err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("record %s: %w", kind, err)
	}
	m := nats.NewMsg(streams.RecordedEventSubject(lattice, string(kind)))
	m.Data = body
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithMsgID(ev.ID())); err != nil {
		return fmt.Errorf("record %s: %w", kind, err)
	}
	return nil
}

// labelsResolved is the data of a host_labels_resolved event.
type labelsResolved struct {
	HostID  string            `json:"host_id"`
	Labels  map[string]string `json:"labels"`
	Outcome string            `json:"outcome"`
}

// hostStale is the data of a host_stale event.
type hostStale struct {
	HostID string `json:"host_id"`
}
