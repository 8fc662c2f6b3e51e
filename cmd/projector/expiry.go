package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// hostExpiry is the host expiry a serve runs with, as the queries learn it
// from the meta bucket; unknown when no serve recorded one, or when the
// state shown is from the past.
type hostExpiry struct {
	d     time.Duration
	known bool
}

// readHostExpiry returns the host expiry recorded by serve; anything
// missing or unreadable leaves it unknown, never failing the query.
func readHostExpiry(ctx context.Context, js jetstream.JetStream) hostExpiry {
	meta, err := js.KeyValue(ctx, streams.MetaBucket)
	if err != nil {
		return hostExpiry{}
	}
	e, err := meta.Get(ctx, streams.HostExpiryKey)
	if err != nil {
		return hostExpiry{}
	}
	d, err := time.ParseDuration(string(e.Value()))
	if err != nil || d < 0 {
		return hostExpiry{}
	}
	return hostExpiry{d: d, known: true}
}

// left says how long the stale host h has until it expires, as of now:
// its last_seen plus the expiry ("in 4m30s", "due" once past), "never"
// when hosts do not expire, "-" for hosts that are up or when it cannot be
// told. It is computed as it is read; host documents hold nothing that
// depends on the clock.
func (e hostExpiry) left(h *projections.Host, now time.Time) string {
	if h.Status != projections.StatusStale || !e.known {
		return "-"
	}
	if e.d == 0 {
		return "never"
	}
	if h.LastSeen == nil {
		return "-"
	}
	seen, err := time.Parse(time.RFC3339Nano, *h.LastSeen)
	if err != nil {
		return "-"
	}
	left := seen.Add(e.d).Sub(now).Round(time.Second)
	if left <= 0 {
		return "due"
	}
	return "in " + left.String()
}
