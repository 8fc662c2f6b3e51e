package projections

import (
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

const typeHeartbeat = WasmcloudTypePrefix + string(KindHostHeartbeat)

// decodeFast decodes the common shape of an event: a JSON object whose
// attributes are strings without escapes and whose data is an object. The
// input is validated once by jsontext (syntax, UTF-8, unique names); the
// envelope and a heartbeat's data are then read in one pass by a scanner
// that allocates only what the event keeps. Other kinds' data goes through
// their wire structs. ok is false for anything else, valid or not: Decode
// then takes the strict path, which gives the same event or the precise
// reason for rejecting it.
func decodeFast(raw []byte) (ev Event, ok bool) {
	if !jsontext.Value(raw).IsValid() {
		return Event{}, false
	}
	s := newScanner(raw)
	env, data, hb, ok := s.envelope()
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
	if kind == KindHostHeartbeat {
		if hb == nil {
			d := newScanner(data)
			if hb, ok = d.heartbeat(); !ok {
				return Event{}, false
			}
		}
		ev.Data = hb
	} else if decodeData(&ev, data) != nil {
		return Event{}, false
	}
	if !validHostIDs.has(ev.HostID) {
		if !ValidHostID(ev.HostID) {
			return Event{}, false
		}
		validHostIDs.add(ev.HostID)
	}
	return ev, true
}

// envelope reads the event's attributes and returns the data object's
// bytes. Data that comes before the type, or after a heartbeat's type, is
// read as a heartbeat's on the way (hb, nil when it is not one): it
// usually is one, and is then read once.
func (s *scanner) envelope() (env envelope, data []byte, hb *Heartbeat, ok bool) {
	if !s.next('{') {
		return env, nil, nil, false
	}
	// One allocation holds the optional attributes that env points to.
	opt := new(struct{ specVersion, time, contentType, schema, subject string })
	for s.more('}') {
		name, ok := s.name()
		if !ok {
			return env, nil, nil, false
		}
		var dst *string
		switch string(name) {
		case "data":
			if s.peek() != '{' {
				return env, nil, nil, false
			}
			start := s.i
			hb = nil
			if env.Type == "" || env.Type == typeHeartbeat {
				hb, _ = s.heartbeat()
			}
			if hb == nil {
				s.i = start
				s.skip()
			}
			data = s.b[start:s.i]
			continue
		case "data_base64":
			return env, nil, nil, false
		case "specversion":
			dst, env.SpecVersion = &opt.specVersion, &opt.specVersion
		case "id":
			dst = &env.ID
		case "source":
			dst = &env.Source
		case "type":
			dst = &env.Type
		case "time":
			dst, env.Time = &opt.time, &opt.time
		case "datacontenttype":
			dst, env.DataContentType = &opt.contentType, &opt.contentType
		case "dataschema":
			dst, env.DataSchema = &opt.schema, &opt.schema
		case "subject":
			dst, env.Subject = &opt.subject, &opt.subject
		default:
			s.skip()
			continue
		}
		v, ok := s.str()
		if !ok {
			return env, nil, nil, false
		}
		switch dst {
		case &env.Type:
			*dst = typeName(v)
		case &env.Source:
			*dst = sharedStrings.get(v)
		default:
			*dst = string(v)
		}
	}
	if env.Type != typeHeartbeat {
		hb = nil
	}
	return env, data, hb, data != nil
}

// typeName returns the type v as a string, without a copy for the types
// that change state.
func typeName(v []byte) string {
	if t, ok := typeNames[string(v)]; ok {
		return t
	}
	return string(v)
}

// heartbeat reads a host_heartbeat's data as decodeHeartbeat would.
func (s *scanner) heartbeat() (*Heartbeat, bool) {
	if !s.next('{') {
		return nil, false
	}
	hb := &Heartbeat{}
	var actors, components inventoryScan
	var providers []ProviderRef
	for s.more('}') {
		name, ok := s.name()
		if !ok {
			return nil, false
		}
		switch string(name) {
		case "friendly_name":
			hb.FriendlyName, ok = s.shared()
		case "version":
			hb.Version, ok = s.shared()
		case "uptime_human":
			var v []byte
			v, ok = s.str()
			hb.UptimeHuman = string(v)
		case "uptime_seconds":
			hb.UptimeSeconds, ok = s.uint()
		case "labels":
			hb.Labels, ok = s.labels()
		case "actors":
			ok = s.inventory(&actors)
		case "components":
			ok = s.inventory(&components)
		case "providers":
			providers, ok = s.providers()
		default:
			s.skip()
		}
		if !ok {
			return nil, false
		}
	}
	inv := &actors
	if components.present && (components.set || !actors.present) {
		inv = &components
	}
	if inv.invalid {
		return nil, false
	}
	hb.Actors = inv.counts
	if hb.Actors == nil {
		hb.Actors = map[string]uint64{}
	}
	if len(providers) > 0 {
		hb.Providers = providers
	}
	return hb, true
}

// shared reads a string value that recurs from event to event.
func (s *scanner) shared() (string, bool) {
	v, ok := s.str()
	return sharedStrings.get(v), ok
}

// null consumes a JSON null.
func (s *scanner) null() bool {
	if s.peek() != 'n' {
		return false
	}
	s.i += len("null")
	return true
}

// labels reads an object of strings, shared with earlier events that sent
// the same object.
func (s *scanner) labels() (map[string]string, bool) {
	if s.peek() != '{' {
		return nil, false
	}
	start := s.i
	s.skip()
	raw := s.b[start:s.i]
	if m := sharedLabels.get(raw); m != nil {
		return m, true
	}
	s.i = start + 1
	out := map[string]string{}
	for s.more('}') {
		k, ok := s.name()
		if !ok {
			return nil, false
		}
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out[sharedStrings.get(k)] = sharedStrings.get(v)
	}
	sharedLabels.put(raw, out)
	return out, true
}

// inventoryScan is an actor inventory as counted: instance counts per id,
// ids with a count of 0 left out.
type inventoryScan struct {
	// present: the member was there; set: it was a list or a map, not
	// null; invalid: counting it failed (an empty id, an overflow), which
	// matters only if it is the inventory used.
	present, set, invalid bool
	counts                map[string]uint64
}

// inventory reads one of the three inventory shapes (see actorInventory).
func (s *scanner) inventory(inv *inventoryScan) bool {
	inv.present = true
	switch s.peek() {
	case 'n':
		return s.null()
	case '{':
		inv.set, inv.counts = true, map[string]uint64{}
		return s.countMap(inv)
	case '[':
		inv.set, inv.counts = true, map[string]uint64{}
		return s.countList(inv)
	}
	return false
}

// add counts n instances of id, as actorInventory.counted does.
func (inv *inventoryScan) add(id []byte, n uint64) {
	switch cur := inv.counts[string(id)]; {
	case len(id) == 0, cur+n < cur:
		inv.invalid = true
	case n > 0:
		inv.counts[sharedStrings.get(id)] = cur + n
	}
}

// countMap reads the older OTP map {public_key: count}.
func (s *scanner) countMap(inv *inventoryScan) bool {
	s.i++
	for s.more('}') {
		id, ok := s.name()
		if !ok {
			return false
		}
		n, ok := s.uint()
		if !ok {
			return false
		}
		inv.add(id, n)
	}
	return true
}

// countList reads a list of instances ({public_key}) or components ({id,
// max_instances}).
func (s *scanner) countList(inv *inventoryScan) bool {
	s.i++
	for s.more(']') {
		if !s.next('{') {
			return false
		}
		var publicKey, id []byte
		n := uint64(1)
		for s.more('}') {
			name, ok := s.name()
			if !ok {
				return false
			}
			switch string(name) {
			case "public_key":
				publicKey, ok = s.str()
			case "id":
				id, ok = s.str()
			case "max_instances":
				if !s.null() {
					n, ok = s.uint()
				}
			default:
				s.skip()
			}
			if !ok {
				return false
			}
		}
		if len(publicKey) > 0 {
			id = publicKey
		}
		inv.add(id, n)
	}
	return true
}

// providers reads a heartbeat's list of providers.
func (s *scanner) providers() ([]ProviderRef, bool) {
	if !s.next('[') {
		return nil, false
	}
	var buf [8]ProviderRef
	out := buf[:0]
	for s.more(']') {
		if !s.next('{') {
			return nil, false
		}
		var publicKey, id, contract []byte
		link := []byte("default")
		for s.more('}') {
			name, ok := s.name()
			if !ok {
				return nil, false
			}
			switch string(name) {
			case "public_key":
				publicKey, ok = s.str()
			case "id":
				id, ok = s.str()
			case "contract_id":
				contract, ok = s.str()
			case "link_name":
				if !s.null() {
					var v []byte
					if v, ok = s.str(); ok && len(v) > 0 {
						link = v
					}
				}
			default:
				s.skip()
			}
			if !ok {
				return nil, false
			}
		}
		if len(publicKey) > 0 {
			id = publicKey
		}
		if len(id) == 0 {
			return nil, false
		}
		out = append(out, ProviderRef{PublicKey: sharedStrings.get(id), LinkName: sharedStrings.get(link), ContractID: sharedStrings.get(contract)})
	}
	return slices.Clone(out), true
}
