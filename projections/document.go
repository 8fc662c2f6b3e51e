package projections

// LinkDoc is the stored form of a link definition: the document under
// <lattice>.links.<key>. Seq is never 0 in a stored document; a link folded
// from the stream, which keeps no seq, leaves it out.
type LinkDoc struct {
	Key  string `json:"key"`
	Link *Link  `json:"link"`
	Seq  uint64 `json:"seq,omitzero"`
}

// RefmapDoc is the stored form of a ref map entry: the document under
// <lattice>.refmaps.<oci_url>. Seq is never 0 in a stored document; an
// entry folded from the stream leaves it out.
type RefmapDoc struct {
	OCIURL    string `json:"oci_url"`
	PublicKey string `json:"public_key"`
	Seq       uint64 `json:"seq,omitzero"`
}

// Document is one document of the projection as it is stored under one key:
// a host, a link or a ref map entry, or none when the key is absent or the
// document deleted. Applying events through a Document makes them
// idempotent: Seq records the last event applied, and an event at or below
// it was applied before and is skipped. The Host, Link and Refmap a
// Document points to are never modified: Apply replaces them.
type Document struct {
	// Seq is the sequence of the last event applied to the document, kept
	// when it is deleted: a redelivered event does not bring it back.
	Seq uint64
	// At most one of Host, Link and Refmap is set.
	Host   *Host
	Link   *LinkDoc
	Refmap *RefmapDoc
}

// Apply folds ev, which targets this document, into it unless ev.Seq is at
// or below d.Seq, and returns the intents raised and whether ev was
// applied.
func (d *Document) Apply(ev *Event) ([]Intent, bool) {
	if ev.Seq <= d.Seq {
		return nil, false
	}
	d.Seq = ev.Seq
	var intents []Intent
	switch t := ev.Target(); t.Kind {
	case TargetHost:
		d.Host, intents = ApplyHost(d.Host, ev)
	case TargetLink:
		var cur *Link
		if d.Link != nil {
			cur = d.Link.Link
		}
		d.Link = nil
		if l := ApplyLink(cur, ev); l != nil {
			d.Link = &LinkDoc{Key: t.Key, Link: l, Seq: ev.Seq}
		}
	case TargetRefmap:
		cur := ""
		if d.Refmap != nil {
			cur = d.Refmap.PublicKey
		}
		d.Refmap = &RefmapDoc{OCIURL: t.Key, PublicKey: ApplyRefmap(cur, ev), Seq: ev.Seq}
	}
	return intents, true
}

// Live reports whether the document exists: it is neither absent nor
// deleted.
func (d *Document) Live() bool { return d.Host != nil || d.Link != nil || d.Refmap != nil }
