package httpapi

import (
	"net/http"
	"strconv"

	"latticestate/internal/view"
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

// summary answers the counts of a lattice: live from the view, or with
// ?as_of= of the lattice folded from the stream.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	lattice, ok := latticeOf(w, r)
	if !ok {
		return
	}
	src, ok := s.source(w, r)
	if !ok {
		return
	}
	b, err := src.Summary(r.Context(), lattice)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// b may be shared with other readers: never append to it.
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}
