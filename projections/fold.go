package projections

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Folder folds raw events, one at a time, into one lattice. It is the
// offline equivalent of the pipeline: the same decoder, the same reducers.
type Folder struct {
	Lattice *Lattice
	// Intents collects what the reducers asked for, in order.
	Intents []Intent
	// Ignored counts valid events of kinds that change no state.
	Ignored int
	// decoder shares what recurs between the events added; made by the
	// first Add.
	decoder *Decoder
}

// NewFolder returns a Folder for an empty lattice named lattice.
func NewFolder(lattice string) *Folder {
	return &Folder{Lattice: NewLattice(lattice)}
}

// Add decodes raw as the event at position seq and applies it, whatever
// its type: AddFrom applies the rule on where latticestate's own events may
// come from. A decode failure is returned (a *DecodeError) and changes
// nothing.
func (f *Folder) Add(seq uint64, raw []byte) error {
	return f.AddFrom(FromLatticestate, seq, raw)
}

// AddFrom is Add for an event captured at origin (see DecodeFrom): one of
// latticestate's own events from a host is rejected as ErrForged.
func (f *Folder) AddFrom(origin Origin, seq uint64, raw []byte) error {
	if f.decoder == nil {
		f.decoder = NewDecoder()
	}
	ev, err := f.decoder.DecodeFrom(origin, raw)
	if err != nil {
		return err
	}
	f.AddEvent(&ev, seq)
	return nil
}

// AddEvent applies an already decoded event at position seq.
func (f *Folder) AddEvent(ev *Event, seq uint64) {
	if ev.Ignored() {
		f.Ignored++
		return
	}
	ev.Seq, ev.Lattice = seq, f.Lattice.Name
	var intents []Intent
	f.Lattice, intents = Apply(f.Lattice, ev)
	f.Intents = append(f.Intents, intents...)
}

// Marshal encodes a document deterministically (map keys sorted), so equal
// states encode to equal bytes.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true))
}

// MarshalIndent is Marshal with two-space indentation, for people.
func MarshalIndent(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true), jsontext.WithIndent("  "))
}

// UnmarshalHost decodes a host document as stored by the pipeline.
func UnmarshalHost(b []byte) (*Host, error) {
	var h Host
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
