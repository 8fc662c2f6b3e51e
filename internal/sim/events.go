package sim

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"latticestate/projections"
	"latticestate/streams"
)

// timeLayout is RFC 3339 in UTC with microseconds, as both host generations
// write "time" ("2022-09-30T07:50:58.990859Z").
const timeLayout = "2006-01-02T15:04:05.000000Z"

// HeaderTraceparent is the W3C trace context header hosts set on every
// publish.
const HeaderTraceparent = "traceparent"

// structuredEvent is a CloudEvent in JSON structured mode. The SDK's own
// encoder writes "time" with up to nanoseconds and drops trailing zeros, so
// the envelope is written from the SDK event's attributes here.
type structuredEvent struct {
	Data            json.RawMessage `json:"data"`
	DataContentType string          `json:"datacontenttype"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	SpecVersion     string          `json:"specversion"`
	Time            string          `json:"time"`
	Type            string          `json:"type"`
}

// encodeEvent builds the CloudEvent for ev from host source at now with the
// CloudEvents SDK, validates it and encodes it in structured mode. The id is
// a random UUID, never derived from the seed, so reruns are not
// deduplicated by JetStream.
func encodeEvent(source string, ev hostEvent, now time.Time) (id string, raw []byte, err error) {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource(source)
	ce.SetType(projections.TypeOf(ev.kind))
	ce.SetTime(now.UTC())
	if err := ce.SetData(event.ApplicationJSON, ev.data); err != nil {
		return "", nil, fmt.Errorf("encode %s data: %w", ev.kind, err)
	}
	if err := ce.Validate(); err != nil {
		return "", nil, fmt.Errorf("build %s event: %w", ev.kind, err)
	}
	raw, err = json.Marshal(structuredEvent{
		Data:            ce.Data(),
		DataContentType: ce.DataContentType(),
		ID:              ce.ID(),
		Source:          ce.Source(),
		SpecVersion:     ce.SpecVersion(),
		Time:            ce.Time().UTC().Format(timeLayout),
		Type:            ce.Type(),
	})
	if err != nil {
		return "", nil, fmt.Errorf("encode %s event: %w", ev.kind, err)
	}
	return ce.ID(), raw, nil
}

// eventSubject is where a host of schema publishes an event of kind.
func eventSubject(schema Schema, lattice string, kind projections.Kind) string {
	if schema == SchemaV1 {
		return streams.HostEventKindSubject(lattice, string(kind))
	}
	return streams.HostEventSubject(lattice)
}

// newTraceparent returns a W3C traceparent for a new sampled trace:
// version 00, a random 16-byte trace id, a random 8-byte span id, flags 01.
func newTraceparent() string {
	var b [24]byte
	for {
		for i := 0; i < len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
		}
		if !allZero(b[:16]) && !allZero(b[16:]) { // all-zero ids are invalid
			break
		}
	}
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// newMsg builds the NATS message for one encoded event.
func newMsg(subject, id string, raw []byte) *nats.Msg {
	return &nats.Msg{
		Subject: subject,
		Data:    raw,
		Header: nats.Header{
			nats.MsgIdHdr:     []string{id},
			HeaderTraceparent: []string{newTraceparent()},
		},
	}
}
