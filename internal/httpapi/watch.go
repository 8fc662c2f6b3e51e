package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/streams"
)

const (
	// sseKeepAlive is how often a stream sends a comment, so proxies and
	// clients see the connection alive.
	sseKeepAlive = 15 * time.Second
	// watchWriteTimeout cuts off a client that takes no data for this long:
	// it holds no goroutine and no buffer of the server's beyond it.
	watchWriteTimeout = 10 * time.Second
	// watchFlushEvery is how often at most one stream is written to, per
	// hundred streams served (at most watchFlushMax): the changes of a
	// burst go out together, in one write, and many streams cost few
	// wakeups, so that they leave the projector its share of the CPU. The
	// first change after a quiet spell goes out at once.
	watchFlushEvery = 100 * time.Millisecond
	watchFlushMax   = time.Second
	// summaryEvery is how often at most a stream gets a summary event.
	summaryEvery = time.Second
	// sseChunk is how much is written at once; a stream keeps a buffer of
	// about this size between writes.
	sseChunk = 32 << 10
	// watchSync bounds how long a new watcher waits for the view to catch
	// up with the bucket.
	watchSync = time.Second
)

// watch streams host changes as Server-Sent Events from the view: first
// every current host the filter matches (event "host", in revision order),
// then "ready", then one event per change ("host", or "delete" for a host
// gone or no longer matching), each with id = the bucket revision. A
// client that reconnects with Last-Event-ID gets the latest version of
// every host changed after that revision, then "ready" and the live
// changes. mode=summary sends "summary" events instead (mode=both: as
// well), at most once a second while the lattice changes. A client too
// slow to keep up gets "resync" and the end of the stream (see
// writeResync).
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
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
	opts, err := parseWatchMode(q.Get("mode"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// since is Last-Event-ID for clients that cannot set headers, such
	// as EventSource on its first request; the header wins.
	for _, from := range []struct{ name, value string }{{"since", q.Get("since")}, {"Last-Event-ID", r.Header.Get("Last-Event-ID")}} {
		if from.value == "" || !opts.Hosts {
			continue
		}
		rev, err := strconv.ParseUint(from.value, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a revision", from.name, from.value))
			return
		}
		opts.After = rev
	}
	if _, ok := w.(http.Flusher); !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	ctx := r.Context()
	if s.View == nil {
		s.fail(w, r, read.ErrNoLive)
		return
	}
	// The first hosts should include every write the bucket had, but a
	// view that cannot catch up at once still serves a consistent state
	// and every change after it: watchers are not refused for that.
	syncCtx, cancel := context.WithTimeout(ctx, watchSync)
	_ = s.View.Sync(syncCtx)
	cancel()
	sub, initial, err := s.View.Subscribe(lattice, filter, opts)
	var unknown bool
	switch {
	case errors.Is(err, view.ErrTooManyWatchers):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error()+"; try again later")
		return
	case errors.Is(err, view.ErrUnknownRevision):
		unknown = true
	case err != nil:
		s.fail(w, r, err)
		return
	default:
		defer sub.Close()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseStream{w: w, rc: http.NewResponseController(w)}
	out.buf = append(out.buf, "retry: 2000\n\n"...)
	if unknown {
		out.resync(fmt.Errorf("%w: start over", err), false)
		return
	}
	for _, c := range initial {
		out.change(c)
		if len(out.buf) >= sseChunk {
			if out.flush() != nil {
				return
			}
		}
	}
	if opts.Summary {
		if !out.summary(s.View, lattice) {
			return
		}
	}
	out.buf = append(out.buf, "event: ready\ndata: {}\n\n"...)
	if out.flush() != nil {
		return
	}
	out.follow(r, sub, s.View, lattice)
}

// parseWatchMode reads mode=hosts (default), summary or both.
func parseWatchMode(mode string) (view.WatchOptions, error) {
	switch mode {
	case "", "hosts":
		return view.WatchOptions{Hosts: true}, nil
	case "summary":
		return view.WatchOptions{Summary: true}, nil
	case "both":
		return view.WatchOptions{Hosts: true, Summary: true}, nil
	}
	return view.WatchOptions{}, fmt.Errorf("mode %q: want hosts, summary or both", mode)
}

// sseStream writes server-sent events to one client.
type sseStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte

	lastFlush, lastSummary time.Time
	lastSummaryJSON        []byte
}

func (o *sseStream) change(c view.Change) {
	o.buf = append(o.buf, "id: "...)
	o.buf = strconv.AppendUint(o.buf, c.Rev, 10)
	if c.Doc != nil {
		o.buf = append(o.buf, "\nevent: host\ndata: "...)
		o.buf = append(o.buf, c.Doc...)
	} else {
		o.buf = append(o.buf, "\nevent: delete\ndata: {\"host_id\":"...)
		o.buf = strconv.AppendQuote(o.buf, c.HostID)
		o.buf = append(o.buf, '}')
	}
	o.buf = append(o.buf, "\n\n"...)
}

// summary adds a summary event, unless the counts are those of the last
// one; false when it cannot be made.
func (o *sseStream) summary(v *view.View, lattice string) bool {
	b, err := v.SummaryJSON(lattice)
	if err != nil {
		return false
	}
	if bytes.Equal(b, o.lastSummaryJSON) {
		return true
	}
	o.lastSummaryJSON = b // shared and never modified
	o.buf = append(o.buf, "event: summary\ndata: "...)
	o.buf = append(o.buf, b...)
	o.buf = append(o.buf, "\n\n"...)
	o.lastSummary = time.Now()
	return true
}

// flush writes what is buffered; a client that does not take it within
// watchWriteTimeout gets an error instead.
func (o *sseStream) flush() error {
	_ = o.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	if _, err := o.w.Write(o.buf); err != nil {
		return err
	}
	if cap(o.buf) > 2*sseChunk {
		o.buf = nil // a burst's buffer is not kept by every stream
	} else {
		o.buf = o.buf[:0]
	}
	o.lastFlush = time.Now()
	return o.rc.Flush()
}

// flushEvery is how long a busy stream waits between writes: longer with
// more streams, and spread around that so that they do not write all at
// once.
func flushEvery(watchers int) time.Duration {
	d := min(watchFlushEvery*time.Duration(1+watchers/100), watchFlushMax)
	return d/2 + rand.N(d)
}

// resync tells the client that this stream ends without some changes:
// event "resync", data {"reason", "resume"}. With resume true, reconnecting
// with Last-Event-ID (the id of the last event received, as EventSource
// does by itself) sends everything changed since. With resume false the
// event carries an empty id, which clears EventSource's last event id: the
// client reconnects without it, receives every current host then "ready",
// and drops any host it holds that was not among them.
func (o *sseStream) resync(reason error, resume bool) {
	if !resume {
		o.buf = append(o.buf, "id:\n"...)
	}
	data, _ := json.Marshal(map[string]any{"reason": reason.Error(), "resume": resume})
	o.buf = append(o.buf, "event: resync\ndata: "...)
	o.buf = append(o.buf, data...)
	o.buf = append(o.buf, "\n\n"...)
	_ = o.flush()
}

// follow writes the watcher's changes as they come, at most every
// watchFlushEvery (summaries every summaryEvery), until the client leaves
// or the view drops the watcher.
func (o *sseStream) follow(r *http.Request, sub *view.Subscription, v *view.View, lattice string) {
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		changes    []view.Change
		pending    bool      // woken: changes or new counts may wait
		summaryDue bool      // the counts changed since the last summary
		armedFor   time.Time // when the timer fires; zero when it is not armed
		every      = flushEvery(v.Watchers())
	)
	for {
		// While the next write is already due at the timer, more changes
		// wait for it without waking this goroutine: a busy stream costs a
		// wakeup per write, not one per change.
		wake := sub.Wake()
		if pending && !armedFor.IsZero() && !armedFor.After(o.lastFlush.Add(every)) {
			wake = nil
		}
		select {
		case <-r.Context().Done():
			return
		case <-sub.Done():
			err := sub.Err()
			o.resync(err, view.Resumable(err))
			return
		case <-keepAlive.C:
			o.buf = append(o.buf, ": keep-alive\n\n"...)
			if o.flush() != nil {
				return
			}
			continue
		case <-wake:
			pending = true
		case <-timer.C:
			armedFor = time.Time{}
		}
		now := time.Now()
		var next time.Time
		if pending {
			if due := o.lastFlush.Add(every); now.Before(due) {
				next = due
			} else {
				pending = false
				every = flushEvery(v.Watchers())
				changes = sub.Take(changes)
				for _, c := range changes {
					o.change(c)
					if len(o.buf) >= sseChunk && o.flush() != nil {
						return
					}
				}
				clear(changes)
				if cap(changes) > 1024 {
					changes = nil
				}
				// Once a summary is due, the counts' flag stays set, so
				// that further changes do not wake a summary watcher.
				if !summaryDue {
					summaryDue = sub.SummaryChanged()
				}
			}
		}
		if summaryDue {
			if due := o.lastSummary.Add(summaryEvery); now.Before(due) {
				if next.IsZero() || due.Before(next) {
					next = due
				}
			} else {
				// The counts are read now: their flag is cleared first,
				// so that a change after this calls for the next summary.
				sub.SummaryChanged()
				summaryDue = false
				if !o.summary(v, lattice) {
					return
				}
			}
		}
		if len(o.buf) > 0 && o.flush() != nil {
			return
		}
		if !next.IsZero() && (armedFor.IsZero() || next.Before(armedFor)) {
			timer.Reset(time.Until(next))
			armedFor = next
		}
	}
}
