package httpapi

import (
	"context"
	"net/http"

	"latticestate/internal/read"
	"latticestate/projections"
)

// listLattices answers the lattices that have documents in the active
// bucket, sorted.
func (s *Server) listLattices(w http.ResponseWriter, r *http.Request) {
	lattices, err := s.Read.Lattices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeDocument(w, r, lattices)
}

// listLinks answers every link of a lattice sorted by key: the stored
// documents, or with ?as_of= the links folded from the stream (without
// seq, which a fold does not keep for links).
func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	s.listLatticeDocs(w, r, func(ctx context.Context, src read.Source, lattice string) (any, error) {
		return src.Links(ctx, lattice)
	})
}

// listRefmaps answers every ref map entry of a lattice sorted by OCI
// reference, stored or, with ?as_of=, folded from the stream.
func (s *Server) listRefmaps(w http.ResponseWriter, r *http.Request) {
	s.listLatticeDocs(w, r, func(ctx context.Context, src read.Source, lattice string) (any, error) {
		return src.Refmaps(ctx, lattice)
	})
}

// listLatticeDocs validates the lattice and ?as_of=, then answers what
// list reads from the source they pick.
func (s *Server) listLatticeDocs(w http.ResponseWriter, r *http.Request,
	list func(context.Context, read.Source, string) (any, error)) {
	lattice, ok := latticeOf(w, r)
	if !ok {
		return
	}
	src, ok := s.source(w, r)
	if !ok {
		return
	}
	v, err := list(r.Context(), src, lattice)
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
