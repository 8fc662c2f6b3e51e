// Package httpapi serves the projections over HTTP: health and readiness
// probes, Prometheus metrics, the /api/v1 queries and the dashboard at /,
// all read from the KV bucket so that every projector process can answer
// them.
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
	// State opens the projections bucket.
	State *pipeline.StateReader
	// View answers the live host list, summary, watch and lattice gauges
	// from memory.
	View *view.View
	// Healthy reports whether NATS is connected with the streams and bucket
	// in place.
	Healthy func() error
	// Progress reports the projector's lag; nil on a read-only server.
	Progress Progress
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// AsOf rebuilds a lattice as it was at a point, for ?as_of=; it fails
	// with pipeline.ErrHistoryGone (410) or pipeline.ErrPastEnd (400) for a
	// point it cannot answer.
	AsOf func(ctx context.Context, lattice string, asOf pipeline.AsOf) (*projections.Lattice, error)
	// Window tells how far back a lattice can be travelled, for
	// /api/v1/lattices/{lattice}/history; nil leaves it out.
	Window func(ctx context.Context, lattice string) (pipeline.Window, error)
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
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
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
	var res view.HostsPage
	if asOf, ok, err := parseAsOf(r); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	} else if ok {
		hosts, err := s.hostsAsOf(r.Context(), lattice, asOf)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var selected []*projections.Host
		selected, res.Next, res.Total = view.PageHosts(hosts, filter, page)
		for _, h := range selected {
			b, err := projections.Marshal(h)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			res.Docs = append(res.Docs, b)
		}
	} else {
		if err := s.syncView(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
		if res, err = s.View.Hosts(lattice, filter, page); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeHostsPage(w, res, page.Paged())
}

// parseAsOf reads ?as_of=; ok is false when it is absent.
func parseAsOf(r *http.Request) (pipeline.AsOf, bool, error) {
	v := r.URL.Query().Get("as_of")
	if v == "" {
		return pipeline.AsOf{}, false, nil
	}
	a, err := pipeline.ParseAsOf(v)
	return a, err == nil, err
}

func (s *Server) latticeAsOf(ctx context.Context, lattice string, asOf pipeline.AsOf) (*projections.Lattice, error) {
	if s.AsOf == nil {
		return nil, errors.New("as_of is not available on this server")
	}
	return s.AsOf(ctx, lattice, asOf)
}

// hostsAsOf folds the stream up to asOf and returns the hosts sorted by id.
func (s *Server) hostsAsOf(ctx context.Context, lattice string, asOf pipeline.AsOf) ([]*projections.Host, error) {
	l, err := s.latticeAsOf(ctx, lattice, asOf)
	if err != nil {
		return nil, err
	}
	return l.SortedHosts(), nil
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	lattice, id := r.PathValue("lattice"), r.PathValue("id")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !projections.ValidHostID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%.80q is not a host id: want a server public key (56 characters starting with N)", id))
		return
	}
	if asOf, ok, err := parseAsOf(r); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	} else if ok {
		l, err := s.latticeAsOf(r.Context(), lattice, asOf)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h, ok := l.Hosts[id]
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no host %q in lattice %q as of %s", id, lattice, asOf))
			return
		}
		s.writeDocument(w, r, h)
		return
	}
	kv, err := s.State.Bucket(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := pipeline.GetHost(r.Context(), kv, lattice, id)
	if errors.Is(err, pipeline.ErrHostNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(d.JSON, '\n'))
}

// history tells the points of a lattice's history that ?as_of= can answer.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.Window == nil {
		writeError(w, http.StatusNotFound, "history is not available on this server")
		return
	}
	win, err := s.Window(r.Context(), lattice)
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
