package pipeline

import (
	"maps"
	"strings"

	"latticestate/projections"
	"latticestate/streams"
)

// docSet is the projection of one or more lattices held in memory, as
// documents keyed like the state bucket: what a snapshot holds, what time
// travel folds events into, and what a rebuild reconciles the bucket with.
// Documents are never modified once in the set: folding an event replaces
// the document with a changed copy, so a snapshot of the set can share them.
type docSet struct {
	docs map[string]*document
	// base is, by lattice, the sequence the set holds the lattice at:
	// events of the lattice at or below it are already in (a snapshot's
	// sequence), 0 for a lattice folded from the start.
	base map[string]uint64
	// decoder decodes the events folded into the set.
	decoder *projections.Decoder
}

func newDocSet() *docSet {
	return &docSet{docs: map[string]*document{}, base: map[string]uint64{}, decoder: projections.NewDecoder()}
}

// add folds the raw event captured at seq on subject into the set, unless
// its lattice is held at seq or later. Events that cannot be decoded
// change nothing: they were dead-lettered when first applied.
func (s *docSet) add(seq uint64, subject string, data []byte) {
	ev, key, err := decodeEvent(s.decoder, seq, subject, data)
	if err != nil || key == "" || seq <= s.base[ev.Lattice] {
		return
	}
	s.apply(key, &ev)
}

// apply folds a decoded event into the document at key.
func (s *docSet) apply(key string, ev *projections.Event) {
	prev, ok := s.docs[key]
	if !ok {
		prev = &document{key: key}
	}
	next, _, changed := foldDocument(prev, []*projections.Event{ev})
	if changed {
		s.docs[key] = next
	}
}

// putLattice replaces what the set holds of lattice with docs, held at seq.
func (s *docSet) putLattice(lattice string, seq uint64, docs []*document) {
	prefix := lattice + "."
	maps.DeleteFunc(s.docs, func(k string, _ *document) bool { return strings.HasPrefix(k, prefix) })
	for _, d := range docs {
		s.docs[d.key] = d
	}
	s.base[lattice] = seq
}

// lattice returns the documents of lattice, live ones only.
func (s *docSet) lattice(lattice string) []*document {
	return latticeDocs(s.docs, lattice)
}

// latticeDocs returns the live documents of lattice among docs.
func latticeDocs(docs map[string]*document, lattice string) []*document {
	prefix := lattice + "."
	var out []*document
	for k, d := range docs {
		if strings.HasPrefix(k, prefix) && d.Live() {
			out = append(out, d)
		}
	}
	return out
}

// foldLattice returns the documents of lattice as `fold` prints them.
func foldLattice(lattice string, docs []*document) *projections.Lattice {
	l := projections.NewLattice(lattice)
	for _, d := range docs {
		switch {
		case d.Host != nil:
			l.Hosts[d.Host.HostID] = d.Host
		case d.Link != nil:
			l.Links[d.Link.Key] = d.Link.Link
		case d.Refmap != nil:
			l.Refmaps[d.Refmap.OCIURL] = d.Refmap.PublicKey
		}
	}
	return l
}

// decodeEvent decodes with d the raw event captured at seq on subject: the
// event, with its sequence and lattice, and the key of the document it
// changes ("" for events that change none). An event of latticestate's own
// kinds on a host subject is rejected as forged (see OriginOf).
func decodeEvent(d *projections.Decoder, seq uint64, subject string, data []byte) (projections.Event, string, error) {
	lattice, err := streams.LatticeOf(subject)
	if err != nil {
		return projections.Event{}, "", &projections.DecodeError{Category: projections.ErrEnvelope, Reason: err.Error()}
	}
	ev, err := d.DecodeFrom(OriginOf(subject), data)
	if err != nil {
		return projections.Event{}, "", err
	}
	ev.Seq, ev.Lattice = seq, lattice
	return ev, docKey(lattice, ev.Target()), nil
}
