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

// document is one key of the state bucket as the projector knows it: its
// key and bucket revision, and the projections.Document it holds. Seq, the
// high-water mark, is kept across deletion; exactly one of Host, Link and
// Refmap is set for a live document, none for a deleted or absent one.
type document struct {
	key string
	// rev is the bucket revision (stream sequence of the key's last
	// message, a delete marker included); 0 when the key never existed.
	rev uint64
	projections.Document
	// enc, when set, is what encode returns: the bytes the projector
	// wrote for this version, kept (with snapshots on) so that a snapshot
	// need not encode the document again. A changed copy has none.
	enc []byte
	// inv, when set, is the encoding of a host's labels, actors and
	// providers, made by the applier as it folds: the versions that share
	// those maps (from one heartbeat to the next) copy it when they are
	// encoded.
	inv *projections.Inventory
}

// decodeDocument reads a document from the last message of its key.
func decodeDocument(key string, rev uint64, op string, hdrSeq string, data []byte) (*document, error) {
	d := &document{key: key, rev: rev}
	if streams.IsKVRemoval(op) {
		if hdrSeq != "" {
			seq, err := strconv.ParseUint(hdrSeq, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("document %s: bad %s header: %w", key, streams.HeaderSeq, err)
			}
			d.Seq = seq
		}
		return d, nil
	}
	var err error
	switch docKind(key) {
	case projections.TargetHost:
		d.Host, err = projections.UnmarshalHost(data)
		if err == nil {
			d.Seq = d.Host.Seq
		}
	case projections.TargetLink:
		d.Link = new(projections.LinkDoc)
		err = json.Unmarshal(data, d.Link)
		d.Seq = d.Link.Seq
	case projections.TargetRefmap:
		d.Refmap = new(projections.RefmapDoc)
		err = json.Unmarshal(data, d.Refmap)
		d.Seq = d.Refmap.Seq
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

// encodeBuffers are scratch space for encoding host documents: a window's
// documents are all in flight at once, so each keeps a copy of its exact
// size rather than a buffer with room to spare.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// encode returns the bytes to store; nil means the document is deleted.
func (d *document) encode() ([]byte, error) {
	if !d.Live() {
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

// keepInventory keeps the encoding of a host's labels, actors and
// providers with the document: the one of the version it was copied from
// while the maps are still that version's, else a new one. Encoding this
// version, and the later ones that keep the maps, then copies those
// bytes.
func (d *document) keepInventory() {
	if d.Host != nil {
		d.inv = projections.InventoryOf(d.inv, d.Host)
	} else {
		d.inv = nil
	}
}

// appendEncoded appends the bytes to store of a live document to dst.
func (d *document) appendEncoded(dst []byte) ([]byte, error) {
	switch {
	case d.enc != nil:
		return append(dst, d.enc...), nil
	case d.Host != nil:
		return projections.AppendHostWith(dst, d.Host, d.inv)
	case d.Link != nil:
		l := *d.Link
		l.Seq = d.Seq
		b, err := projections.Marshal(&l)
		return append(dst, b...), err
	case d.Refmap != nil:
		r := *d.Refmap
		r.Seq = d.Seq
		b, err := projections.Marshal(&r)
		return append(dst, b...), err
	}
	return dst, nil
}
