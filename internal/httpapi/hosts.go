package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"latticestate/internal/view"
	"latticestate/streams"
)

// RevisionHeader carries, on a live host list, the bucket revision it was
// read at: a watch started with since=<it> misses no later change.
const RevisionHeader = "Latticestate-Revision"

// writeHostsPage answers host documents: the JSON array of them, or with
// paged the envelope {"hosts": [...], "total": N, "next": cursor|null}.
func writeHostsPage(w http.ResponseWriter, res view.HostsPage, paged bool) {
	n := 64
	for _, d := range res.Docs {
		n += len(d) + 1
	}
	buf := make([]byte, 0, n)
	if paged {
		buf = append(buf, `{"hosts":`...)
	}
	buf = append(buf, '[')
	for i, d := range res.Docs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, d...)
	}
	buf = append(buf, ']')
	if paged {
		buf = append(buf, `,"total":`...)
		buf = strconv.AppendInt(buf, int64(res.Total), 10)
		buf = append(buf, `,"next":`...)
		if res.Next == "" {
			buf = append(buf, "null"...)
		} else {
			buf = strconv.AppendQuote(buf, res.Next)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, '\n')
	if res.Revision > 0 {
		w.Header().Set(RevisionHeader, strconv.FormatUint(res.Revision, 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// errNoView answers live reads of a Server made without a View.
var errNoView = errors.New("live state is not available on this server")

// syncView waits until the view holds every write the bucket had.
func (s *Server) syncView(ctx context.Context) error {
	if s.View == nil {
		return errNoView
	}
	return s.View.Sync(ctx)
}

// summary answers the counts of a lattice: live from the view, or with
// ?as_of= of the lattice folded from the stream.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	asOf, ok, err := parseAsOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ok {
		l, err := s.latticeAsOf(r.Context(), lattice, asOf)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeDocument(w, r, view.SummarizeLattice(l))
		return
	}
	if err := s.syncView(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.View.SummaryJSON(lattice)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// b is shared with other readers: never append to it.
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}
