package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// sseKeepAlive is how often an idle stream sends a comment, so proxies and
// clients see the connection alive.
const sseKeepAlive = 15 * time.Second

// watch streams host changes as Server-Sent Events: first every current host
// (event "host"), then "ready", then one event per change ("host" or
// "delete"), each with id = the bucket revision. A client that reconnects
// with Last-Event-ID gets every host changed after that revision (the
// latest version of each) and then the live changes.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	lattice := r.PathValue("lattice")
	if err := streams.ValidateLattice(lattice); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	var opts []jetstream.WatchOpt
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		rev, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Last-Event-ID %q is not a revision", last))
			return
		}
		opts = append(opts, jetstream.ResumeFromRevision(rev+1))
	}
	ctx := r.Context()
	kv, err := s.State.Bucket(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	watcher, err := kv.Watch(ctx, streams.HostKeys(lattice), opts...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer func() { _ = watcher.Stop() }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()

	prefix := streams.HostKey(lattice, "")
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case e, ok := <-watcher.Updates():
			if !ok {
				return
			}
			if e == nil {
				fmt.Fprint(w, "event: ready\ndata: {}\n\n")
				flusher.Flush()
				continue
			}
			id := strings.TrimPrefix(e.Key(), prefix)
			if e.Operation() == jetstream.KeyValuePut {
				fmt.Fprintf(w, "id: %d\nevent: host\ndata: %s\n\n", e.Revision(), e.Value())
			} else {
				fmt.Fprintf(w, "id: %d\nevent: delete\ndata: {\"host_id\":%q}\n\n", e.Revision(), id)
			}
			flusher.Flush()
		}
	}
}
