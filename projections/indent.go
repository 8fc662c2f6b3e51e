package projections

import (
	"bufio"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// WriteIndent writes l to w as MarshalIndent encodes it, byte for byte,
// followed by a newline, one host at a time through a buffer of its own.
// MarshalIndent holds the whole document, and deterministic encoding of
// a map holds its members once more while it sorts them: for a lattice of
// 10,000 hosts that is some 40 MB a printer of the document need not hold.
func WriteIndent(w io.Writer, l *Lattice) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := jsontext.NewEncoder(bw, jsontext.WithIndent("  "), json.Deterministic(true))
	// The members in the order of Lattice's fields, as reflection writes them.
	err := enc.WriteToken(jsontext.BeginObject)
	if err == nil {
		err = writeMember(enc, "lattice", l.Name)
	}
	if err == nil {
		err = writeSorted(enc, "hosts", l.Hosts)
	}
	if err == nil {
		err = writeSorted(enc, "links", l.Links)
	}
	if err == nil {
		err = writeSorted(enc, "refmaps", l.Refmaps)
	}
	if err == nil {
		err = enc.WriteToken(jsontext.EndObject)
	}
	if err == nil {
		err = bw.Flush()
	}
	return err
}

// writeMember writes the object member name: v.
func writeMember(enc *jsontext.Encoder, name string, v any) error {
	if err := enc.WriteToken(jsontext.String(name)); err != nil {
		return err
	}
	return json.MarshalEncode(enc, v)
}

// writeSorted writes the member name: m, m's members in the order of
// their names, as deterministic encoding sorts them, each encoded on its
// own so that the encoder can pass it on to its writer.
func writeSorted[V any](enc *jsontext.Encoder, name string, m map[string]V) error {
	if err := enc.WriteToken(jsontext.String(name)); err != nil {
		return err
	}
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	for _, k := range sortedKeys(make([]string, 0, len(m)), m) {
		if err := writeMember(enc, k, m[k]); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndObject)
}
