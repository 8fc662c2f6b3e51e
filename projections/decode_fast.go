package projections

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

const typeHeartbeat = WasmcloudTypePrefix + string(KindHostHeartbeat)

// decodeFast decodes the common shape of an event in one pass over raw:
// a JSON object whose attributes are strings and whose data is an object.
// Data that comes before the type is decoded as a heartbeat, by far the
// most frequent event, and decoded again from its bytes when the type turns
// out to be another. ok is false for anything else, valid or not: Decode
// then takes the strict path, which gives the same event or the precise
// reason for rejecting it. A valid heartbeat is read once instead of twice.
func decodeFast(raw []byte) (ev Event, ok bool) {
	d := decoders.Get().(*fastDecoder)
	defer d.release()
	d.buf.Reset()
	d.buf.Write(raw)
	d.dec.Reset(&d.buf)
	env, hb, data, ok := d.read()
	if !ok || env.validate() != nil {
		return Event{}, false
	}
	ev = Event{ID: env.ID, Source: env.Source, Type: env.Type}
	if env.Time != nil {
		ev.Time = *env.Time
	}
	kind, known := eventKinds[env.Type]
	if !known {
		return ev, true
	}
	ev.Kind = kind
	ev.HostID = ev.Source
	var err error
	if kind == KindHostHeartbeat && hb != nil {
		err = hb.setData(&ev)
	} else {
		// The offsets span the name separator too: the object starts at
		// the first brace.
		obj := raw[data[0]:data[1]]
		err = decodeData(&ev, obj[bytes.IndexByte(obj, '{'):])
	}
	if err != nil || !ValidHostID(ev.HostID) {
		return Event{}, false
	}
	return ev, true
}

type fastDecoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
	hb  heartbeatWire
}

var decoders = sync.Pool{New: func() any { return new(fastDecoder) }}

func (d *fastDecoder) release() {
	d.hb = heartbeatWire{}
	d.buf.Reset()
	decoders.Put(d)
}

// read reads the envelope. hb is the data decoded as a heartbeat when it
// came before the type or the type is a heartbeat; data are the offsets of
// the data object in the input.
func (d *fastDecoder) read() (env envelope, hb *heartbeatWire, data [2]int64, ok bool) {
	dec := &d.dec
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return env, nil, data, false
	}
	seenData := false
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil || bytes.IndexByte(name, '\\') >= 0 {
			return env, nil, data, false
		}
		if string(name) == `"data"` {
			if dec.PeekKind() != '{' {
				return env, nil, data, false
			}
			data[0] = dec.InputOffset()
			if env.Type == "" || env.Type == typeHeartbeat {
				if json.UnmarshalDecode(dec, &d.hb) != nil {
					return env, nil, data, false
				}
				hb = &d.hb
			} else if dec.SkipValue() != nil {
				return env, nil, data, false
			}
			data[1] = dec.InputOffset()
			seenData = true
			continue
		}
		var dst **string
		switch string(name) {
		case `"specversion"`:
			dst = &env.SpecVersion
		case `"time"`:
			dst = &env.Time
		case `"datacontenttype"`:
			dst = &env.DataContentType
		case `"dataschema"`:
			dst = &env.DataSchema
		case `"subject"`:
			dst = &env.Subject
		case `"id"`, `"source"`, `"type"`:
		default:
			if string(name) == `"data_base64"` || dec.SkipValue() != nil {
				return env, nil, data, false
			}
			continue
		}
		if dec.PeekKind() != '"' {
			return env, nil, data, false
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return env, nil, data, false
		}
		v := tok.String()
		switch string(name) {
		case `"id"`:
			env.ID = v
		case `"source"`:
			env.Source = v
		case `"type"`:
			env.Type = v
		default:
			*dst = &v
		}
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return env, nil, data, false
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return env, nil, data, false
	}
	if !seenData {
		return env, nil, data, false
	}
	if env.Type != typeHeartbeat {
		hb = nil
	}
	return env, hb, data, true
}
