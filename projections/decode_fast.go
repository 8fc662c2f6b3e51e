package projections

const typeHeartbeat = WasmcloudTypePrefix + string(KindHostHeartbeat)

// decodeFast decodes the common shape of an event: a JSON object whose
// attributes are strings without escapes and whose data is an object. The
// input is validated once, as jsontext would (syntax, UTF-8, unique names:
// validJSON); the
// envelope and a heartbeat's data are then read in one pass by a scanner
// that only tokenizes: the checks, the kinds' data and the heartbeat rules
// are the strict path's own. Other kinds' data goes through their wire
// structs. ok is false for anything else, valid or not: Decode then takes
// the strict path, which gives the same event or the precise reason for
// rejecting it.
func (d *Decoder) decodeFast(raw []byte) (ev Event, ok bool) {
	if !validJSON(raw) {
		return Event{}, false
	}
	var hv heartbeatValues
	s := d.newScanner(raw)
	env, data, read, ok := s.envelope(&hv)
	if !ok || env.validate() != nil {
		return Event{}, false
	}
	ev, known := env.event()
	if !known {
		return ev, true
	}
	var hb *heartbeatValues
	if ev.Kind == KindHostHeartbeat {
		// A heartbeat's data was read on the way, unless the scanner
		// declined it.
		if !read {
			return Event{}, false
		}
		hb = &hv
	}
	if d.decodeData(&ev, data, hb) != nil || d.checkHostID(ev.HostID) != nil {
		return Event{}, false
	}
	return ev, true
}

// envelope reads the event's attributes and returns the data object's
// bytes. Data that comes before the type, or after a heartbeat's type, is
// read into hv on the way (read reports whether it was): it usually is a
// heartbeat's, and is then read once.
func (s *scanner) envelope(hv *heartbeatValues) (env envelope, data []byte, read, ok bool) {
	if !s.next('{') {
		return env, nil, false, false
	}
	// One allocation holds the optional attributes that env points to.
	opt := new(struct{ specVersion, time, contentType, schema, subject string })
	for s.more('}') {
		name, ok := s.name()
		if !ok {
			return env, nil, false, false
		}
		var dst *string
		switch string(name) {
		case "data":
			if s.peek() != '{' {
				return env, nil, false, false
			}
			data, read = s.data(hv, env.Type == "" || env.Type == typeHeartbeat)
			continue
		case "data_base64":
			return env, nil, false, false
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
		if ok = s.attribute(dst, &env); !ok {
			return env, nil, false, false
		}
	}
	return env, data, read && env.Type == typeHeartbeat, data != nil
}

// attribute reads a string attribute into dst, one of env's.
func (s *scanner) attribute(dst *string, env *envelope) bool {
	v, ok := s.str()
	if !ok {
		return false
	}
	switch dst {
	case &env.Type:
		*dst = typeName(v)
	case &env.Source:
		*dst = s.d.str(v)
	default:
		*dst = string(v)
	}
	return true
}

// data steps over the data object and returns its bytes; when asHeartbeat,
// it reads it into hv, still empty, on the way, reporting whether that
// succeeded.
func (s *scanner) data(hv *heartbeatValues, asHeartbeat bool) ([]byte, bool) {
	start := s.i
	if asHeartbeat {
		if s.heartbeat(hv) {
			return s.b[start:s.i], true
		}
		s.i = start
	}
	s.skip()
	return s.b[start:s.i], false
}

// typeName returns the type v as a string, without a copy for the types
// that change state.
func typeName(v []byte) string {
	if t, ok := typeNames[string(v)]; ok {
		return t
	}
	return string(v)
}

// heartbeat reads a host_heartbeat's data into hv.
func (s *scanner) heartbeat(hv *heartbeatValues) bool {
	if !s.next('{') {
		return false
	}
	for s.more('}') {
		name, ok := s.name()
		if !ok {
			return false
		}
		switch string(name) {
		case "friendly_name":
			hv.info.FriendlyName, ok = s.shared()
		case "version":
			hv.info.Version, ok = s.shared()
		case "uptime_human":
			var v []byte
			v, ok = s.str()
			hv.info.UptimeHuman = string(v)
		case "uptime_seconds":
			hv.info.UptimeSeconds, ok = s.uint()
		case "labels":
			hv.info.Labels, ok = s.labels()
		case "actors":
			ok = s.inventory(&hv.actors)
		case "components":
			ok = s.inventory(&hv.components)
		case "providers":
			ok = s.providers(&hv.providers)
		default:
			s.skip()
		}
		if !ok {
			return false
		}
	}
	return true
}

// shared reads a string value that recurs from event to event.
func (s *scanner) shared() (string, bool) {
	v, ok := s.str()
	return s.d.str(v), ok
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
	if m := s.d.cachedLabels(raw); m != nil {
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
		out[s.d.str(k)] = s.d.str(v)
	}
	s.d.keepLabels(raw, out)
	return out, true
}

// inventory reads one of the three inventory shapes (see inventoryValues).
func (s *scanner) inventory(inv *inventoryValues) bool {
	inv.present = true
	switch s.peek() {
	case 'n':
		inv.null = true
		return s.null()
	case '{':
		inv.isMap = true
		return s.inventoryMap(inv)
	case '[':
		return s.inventoryList(inv)
	}
	return false
}

// inventoryMap reads the older OTP map {public_key: count}.
func (s *scanner) inventoryMap(inv *inventoryValues) bool {
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
		inv.entries.add(inventoryValue{publicKey: id, count: n, counted: true})
	}
	return true
}

// inventoryList reads a list of instances ({public_key}) or components
// ({id, max_instances}).
func (s *scanner) inventoryList(inv *inventoryValues) bool {
	s.i++
	for s.more(']') {
		if !s.next('{') {
			return false
		}
		var e inventoryValue
		for s.more('}') {
			name, ok := s.name()
			if !ok {
				return false
			}
			switch string(name) {
			case "public_key":
				e.publicKey, ok = s.str()
			case "id":
				e.id, ok = s.str()
			case "max_instances":
				if !s.null() {
					e.count, ok = s.uint()
					e.counted = true
				}
			default:
				s.skip()
			}
			if !ok {
				return false
			}
		}
		inv.entries.add(e)
	}
	return true
}

// providers reads a heartbeat's list of providers.
func (s *scanner) providers(out *smallList[providerValues]) bool {
	if !s.next('[') {
		return false
	}
	for s.more(']') {
		if !s.next('{') {
			return false
		}
		var p providerValues
		for s.more('}') {
			name, ok := s.name()
			if !ok {
				return false
			}
			switch string(name) {
			case "public_key":
				p.publicKey, ok = s.str()
			case "id":
				p.id, ok = s.str()
			case "contract_id":
				p.contractID, ok = s.str()
			case "link_name":
				if !s.null() {
					p.linkName, ok = s.str()
				}
			default:
				s.skip()
			}
			if !ok {
				return false
			}
		}
		out.add(p)
	}
	return true
}
