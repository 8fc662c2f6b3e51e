package projections

import "strings"

// Origin is where an event was captured: where hosts publish, or where
// latticestate records its own events. Only latticestate records events of
// its own types (LatticestateTypePrefix); one from a host is a forgery.
type Origin uint8

const (
	// FromHost: an event hosts published (wasmbus.evt.>), or one whose
	// origin is not recorded, such as a line of a file.
	FromHost Origin = iota
	// FromLatticestate: an event latticestate recorded itself
	// (latticestate.evt.>).
	FromLatticestate
)

// DecodeFrom is Decode for an event captured at origin: a valid event of one
// of latticestate's own types from a host is rejected as ErrForged, whether
// or not its kind changes state here. Other failures are Decode's.
func DecodeFrom(origin Origin, raw []byte) (Event, error) {
	var uncached *Decoder
	return uncached.DecodeFrom(origin, raw)
}

// DecodeFrom is Decode for an event captured at origin, as the
// package-level DecodeFrom.
func (d *Decoder) DecodeFrom(origin Origin, raw []byte) (Event, error) {
	ev, err := d.Decode(raw)
	if err != nil {
		return Event{}, err
	}
	if origin != FromLatticestate && strings.HasPrefix(ev.Type, LatticestateTypePrefix) {
		return Event{}, reject(ErrForged, "type %q is recorded by latticestate only, not published by hosts", truncate(ev.Type))
	}
	return ev, nil
}
