package pipeline

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json"

	"latticestate/projections"
	"latticestate/streams"
)

// LinkDoc and RefmapDoc are the stored link and ref map documents, defined
// beside the host document in projections.
type (
	LinkDoc   = projections.LinkDoc
	RefmapDoc = projections.RefmapDoc
)

// document is one key of the state bucket as the projector knows it: its
// bucket revision, and the projections.Document it holds, whose fields it
// keeps as its own.
type document struct {
	key string
	// rev is the bucket revision (stream sequence of the key's last
	// message, a delete marker included); 0 when the key never existed.
	rev uint64
	// seq is the high-water mark: the stream sequence of the last event
	// applied to the document, kept across deletion.
	seq uint64
	// Exactly one of host, link and refmap is set for a live document;
	// none for a deleted or absent one.
	host   *projections.Host
	link   *LinkDoc
	refmap *RefmapDoc
	// enc, when set, is what encode returns: the bytes the projector
	// wrote for this version, kept (with snapshots on) so that a snapshot
	// need not encode the document again. A changed copy has none.
	enc []byte
}

// decodeDocument reads a document from the last message of its key.
func decodeDocument(key string, rev uint64, op string, hdrSeq string, data []byte) (*document, error) {
	d := &document{key: key, rev: rev}
	if op == "DEL" || op == "PURGE" {
		if hdrSeq != "" {
			seq, err := strconv.ParseUint(hdrSeq, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("document %s: bad %s header: %w", key, streams.HeaderSeq, err)
			}
			d.seq = seq
		}
		return d, nil
	}
	var err error
	switch docKind(key) {
	case projections.TargetHost:
		d.host, err = projections.UnmarshalHost(data)
		if err == nil {
			d.seq = d.host.Seq
		}
	case projections.TargetLink:
		d.link = new(LinkDoc)
		err = json.Unmarshal(data, d.link)
		d.seq = d.link.Seq
	case projections.TargetRefmap:
		d.refmap = new(RefmapDoc)
		err = json.Unmarshal(data, d.refmap)
		d.seq = d.refmap.Seq
	default:
		return nil, fmt.Errorf("document %s: unknown key kind", key)
	}
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", key, err)
	}
	return d, nil
}

// docKind tells the kind of document from its key <lattice>.<kind>.<id>.
func docKind(key string) projections.TargetKind {
	_, rest, ok := cut(key)
	if !ok {
		return projections.TargetNone
	}
	kind, _, _ := cut(rest)
	switch kind {
	case "hosts":
		return projections.TargetHost
	case "links":
		return projections.TargetLink
	case "refmaps":
		return projections.TargetRefmap
	}
	return projections.TargetNone
}

func cut(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// docKey is the bucket key of the document an event targets.
func docKey(lattice string, t projections.Target) string {
	switch t.Kind {
	case projections.TargetHost:
		return streams.HostKey(lattice, t.Key)
	case projections.TargetLink:
		return streams.LinkKey(lattice, t.Key)
	case projections.TargetRefmap:
		return streams.RefmapKey(lattice, t.Key)
	}
	return ""
}

// apply folds ev into the document by projections.Document.Apply,
// returning the intents raised and whether ev was applied: events at or
// below the document's seq were applied before and are skipped.
func (d *document) apply(ev *projections.Event) ([]projections.Intent, bool) {
	doc := projections.Document{Seq: d.seq, Host: d.host, Link: d.link, Refmap: d.refmap}
	intents, applied := doc.Apply(ev)
	d.seq, d.host, d.link, d.refmap = doc.Seq, doc.Host, doc.Link, doc.Refmap
	return intents, applied
}

// encodeBuffers are scratch space for encoding host documents: a window's
// documents are all in flight at once, so each keeps a copy of its exact
// size rather than a buffer with room to spare.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// encode returns the bytes to store; nil means the document is deleted.
func (d *document) encode() ([]byte, error) {
	if !d.live() {
		return nil, nil
	}
	if d.enc != nil {
		return d.enc, nil
	}
	buf := encodeBuffers.Get().(*[]byte)
	defer encodeBuffers.Put(buf)
	b, err := d.appendEncoded((*buf)[:0])
	if err != nil {
		return nil, err
	}
	*buf = b
	return bytes.Clone(b), nil
}

// keepEncoded encodes the document and keeps the bytes for encode and
// appendEncoded to return.
func (d *document) keepEncoded() error {
	enc, err := d.encode()
	d.enc = enc
	return err
}

// appendEncoded appends the bytes to store of a live document to dst.
func (d *document) appendEncoded(dst []byte) ([]byte, error) {
	switch {
	case d.enc != nil:
		return append(dst, d.enc...), nil
	case d.host != nil:
		return projections.AppendHost(dst, d.host)
	case d.link != nil:
		l := *d.link
		l.Seq = d.seq
		b, err := projections.Marshal(&l)
		return append(dst, b...), err
	case d.refmap != nil:
		r := *d.refmap
		r.Seq = d.seq
		b, err := projections.Marshal(&r)
		return append(dst, b...), err
	}
	return dst, nil
}
