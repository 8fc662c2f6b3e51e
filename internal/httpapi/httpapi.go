// Package httpapi serves the projections over HTTP: health and readiness
// probes, Prometheus metrics, the /api/v1 queries (answered by
// internal/read, live or as of a point of the stream), the watches (from
// the in-memory view) and the dashboard at /.
package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// openAPI describes the HTTP API.
//
//go:embed openapi.json
var openAPI []byte

// Progress tells whether the projection is current.
type Progress interface {
	// Lag returns how many captured events are not yet applied and acked.
	Lag(ctx context.Context) (uint64, error)
}

// Server holds what the handlers read from.
type Server struct {
	// Read answers the queries, live or with ?as_of= as of a point of the
	// stream; its errors *pipeline.HistoryGoneError (410) and
	// *pipeline.PastEndError (400) name a point it cannot answer.
	Read *read.Reader
	// View serves the watches; nil leaves them unavailable.
	View *view.View
	// Healthy reports whether NATS is connected with the streams and bucket
	// in place.
	Healthy func() error
	// Progress reports the projector's lag; nil on a read-only server.
	Progress Progress
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// HostExpiry is how long serve lets a stale host stay silent before it
	// removes it; 0: never. /api/v1/settings tells it to the dashboard.
	HostExpiry time.Duration
	// Log receives one line per failed request.
	Log *slog.Logger
}

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	index, assets := dashboard()
	mux.Handle("GET /{$}", index)
	mux.Handle("GET /ui/", assets)
	mux.HandleFunc("GET /api/v1/lattices", s.listLattices)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/hosts", s.listHosts)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/hosts/{id}", s.getHost)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/summary", s.summary)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/watch", s.watch)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/links", s.listLinks)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/refmaps", s.listRefmaps)
	mux.HandleFunc("GET /api/v1/lattices/{lattice}/history", s.history)
	mux.HandleFunc("GET /api/v1/settings", s.settings)
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.Healthy(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.Healthy(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if s.Progress == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyWithin+2*time.Second)
	defer cancel()
	lag, err := caughtUp(ctx, s.Progress)
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case lag > 0:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "catching up", "lag": lag})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "lag": 0})
	}
}

// Readiness judges progress over a moment, not one instant: while events
// arrive steadily (500 a second, say), a projector that keeps up still has
// some captured and not yet written at most instants (a batch being
// folded and written), so "nothing pending right now" would flap. Ready
// is: everything captured applied at least once within readyWithin of the
// probe, looked at every readyPoll; a projector that falls behind for
// longer, or stalls, is not.
const (
	readyWithin = time.Second
	readyPoll   = 20 * time.Millisecond
)

// caughtUp is the readiness rule: 0 as soon as p reports no lag within
// readyWithin, else the last lag it reported.
func caughtUp(ctx context.Context, p Progress) (uint64, error) {
	deadline := time.Now().Add(readyWithin)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		lag, err := p.Lag(ctx)
		if err != nil || lag == 0 || !time.Now().Before(deadline) {
			return lag, err
		}
		t.Reset(readyPoll)
		select {
		case <-ctx.Done():
			return lag, nil
		case <-t.C:
		}
	}
}

// Settings is what a reader needs to know of the serve it talks to.
type Settings struct {
	// HostExpirySeconds is how long a stale host may stay silent before it
	// is removed; a stale host expires at its last_seen plus this. 0:
	// hosts never expire.
	HostExpirySeconds float64 `json:"host_expiry_seconds"`
}

func (s *Server) settings(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Settings{HostExpirySeconds: s.HostExpiry.Seconds()})
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	lattice, ok := latticeOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	filter, err := view.ParseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := view.ParsePage(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	src, ok := s.source(w, r)
	if !ok {
		return
	}
	res, err := src.Hosts(r.Context(), lattice, filter, page)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeHostsPage(w, res, page.Paged())
}

// latticeOf returns the request's lattice; a malformed one is answered
// 400.
func latticeOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return lattice, true
}

// source returns what the request reads from: the live state, or with
// ?as_of= the state at that point; a malformed point is answered 400.
func (s *Server) source(w http.ResponseWriter, r *http.Request) (read.Source, bool) {
	var at read.AsOf
	if v := r.URL.Query().Get("as_of"); v != "" {
		var err error
		if at, err = read.ParseAsOf(v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return nil, false
		}
	}
	return s.Read.At(at), true
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	lattice, ok := latticeOf(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !projections.ValidHostID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%.80q is not a host id: want a server public key (56 characters starting with N)", id))
		return
	}
	src, ok := s.source(w, r)
	if !ok {
		return
	}
	b, err := src.Host(r.Context(), lattice, id)
	if errors.Is(err, read.ErrHostNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// history tells the points of a lattice's history that ?as_of= can answer.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	lattice, ok := latticeOf(w, r)
	if !ok {
		return
	}
	win, err := s.Read.Window(r.Context(), lattice)
	if errors.Is(err, read.ErrNoHistory) {
		writeError(w, http.StatusNotFound, "history is not available on this server")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, win)
}

// fail answers a request that failed: 410 for a point whose history is
// gone (naming the earliest available), 400 for a sequence past the end
// of the stream (naming the last), 503 otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var gone *pipeline.HistoryGoneError
	var past *pipeline.PastEndError
	switch {
	case errors.As(err, &gone):
		body := map[string]any{"error": gone.Error(), "earliest_seq": gone.Earliest, "first_seq": gone.First}
		if !gone.EarliestTime.IsZero() {
			body["earliest_time"] = gone.EarliestTime.UTC().Format(time.RFC3339Nano)
		}
		writeJSON(w, http.StatusGone, body)
		return
	case errors.As(err, &past):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": past.Error(), "last_seq": past.Last})
		return
	}
	if s.Log != nil {
		s.Log.Warn("request failed", "path", r.URL.Path, "err", err)
	}
	writeError(w, http.StatusServiceUnavailable, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
