package httpapi

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// linkAsOf is a link folded from the stream: the stored form without seq,
// which a fold does not keep for links.
type linkAsOf struct {
	Key  string            `json:"key"`
	Link *projections.Link `json:"link"`
}

// refmapAsOf is a ref map entry folded from the stream, without seq.
type refmapAsOf struct {
	OCIURL    string `json:"oci_url"`
	PublicKey string `json:"public_key"`
}

// listLattices answers the lattices that have documents in the active
// bucket, sorted, from the view.
func (s *Server) listLattices(w http.ResponseWriter, r *http.Request) {
	if err := s.syncView(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	lattices, err := s.View.Lattices()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeDocument(w, r, lattices)
}

// listLinks answers every link of a lattice sorted by key: the stored
// documents, or with ?as_of= the links folded from the stream.
func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	s.listLatticeDocs(w, r, func(l *projections.Lattice) any {
		out := []linkAsOf{}
		for _, k := range slices.Sorted(maps.Keys(l.Links)) {
			out = append(out, linkAsOf{Key: k, Link: l.Links[k]})
		}
		return out
	}, func(ctx context.Context, lattice string) (any, error) {
		kv, err := s.State.Bucket(ctx)
		if err != nil {
			return nil, err
		}
		docs, err := pipeline.ListLinks(ctx, kv, lattice)
		return append([]pipeline.LinkDoc{}, docs...), err
	})
}

// listRefmaps answers every ref map entry of a lattice sorted by OCI
// reference, stored or, with ?as_of=, folded from the stream.
func (s *Server) listRefmaps(w http.ResponseWriter, r *http.Request) {
	s.listLatticeDocs(w, r, func(l *projections.Lattice) any {
		out := []refmapAsOf{}
		for _, k := range slices.Sorted(maps.Keys(l.Refmaps)) {
			out = append(out, refmapAsOf{OCIURL: k, PublicKey: l.Refmaps[k]})
		}
		return out
	}, func(ctx context.Context, lattice string) (any, error) {
		kv, err := s.State.Bucket(ctx)
		if err != nil {
			return nil, err
		}
		docs, err := pipeline.ListRefmaps(ctx, kv, lattice)
		return append([]pipeline.RefmapDoc{}, docs...), err
	})
}

// listLatticeDocs validates the lattice and ?as_of=, then answers what
// asOf picks from the folded lattice, or what live reads from the bucket.
func (s *Server) listLatticeDocs(w http.ResponseWriter, r *http.Request,
	asOf func(*projections.Lattice) any,
	live func(context.Context, string) (any, error)) {
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	at, ok, err := parseAsOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var v any
	if ok {
		var l *projections.Lattice
		if l, err = s.latticeAsOf(r.Context(), lattice, at); err == nil {
			v = asOf(l)
		}
	} else {
		v, err = live(r.Context(), lattice)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeDocument(w, r, v)
}

// writeDocument answers v encoded deterministically.
func (s *Server) writeDocument(w http.ResponseWriter, r *http.Request, v any) {
	b, err := projections.Marshal(v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
