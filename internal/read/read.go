// Package read answers what the projection holds — one host, the hosts of
// a lattice (filtered and paged), its counts, links and ref maps — live or
// as of a point of the event stream, for the HTTP API and the CLI alike.
//
// A Reader picks the Source in one place (At): the live state comes from a
// Live source (serve's in-memory view, or the state bucket for the CLI);
// a past state is the lattice folded from the nearest snapshot and the
// events after it (pipeline.History).
package read

import (
	"context"

	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
)

// Source answers the documents of a lattice at one point of its history.
type Source interface {
	// Host returns the JSON document of one host; an error matching
	// ErrHostNotFound when the lattice has no such host.
	Host(ctx context.Context, lattice, id string) ([]byte, error)
	// Hosts returns the page p of the hosts of lattice that f matches,
	// sorted by id.
	Hosts(ctx context.Context, lattice string, f view.Filter, p view.PageRequest) (view.HostsPage, error)
	// Summary returns the counts of lattice as a JSON view.Summary. The
	// bytes may be shared with other callers: never modify them.
	Summary(ctx context.Context, lattice string) ([]byte, error)
	// Links returns the links of lattice, sorted by key.
	Links(ctx context.Context, lattice string) ([]projections.LinkDoc, error)
	// Refmaps returns the ref map entries of lattice, sorted by OCI
	// reference.
	Refmaps(ctx context.Context, lattice string) ([]projections.RefmapDoc, error)
}

// Live is a Source of the current state, which also knows its lattices.
type Live interface {
	Source
	// Lattices returns, sorted, the lattices that have at least one host,
	// link or ref map.
	Lattices(ctx context.Context) ([]string, error)
}

// AsOf is a point in the event stream; the zero AsOf is the live state.
type AsOf = pipeline.AsOf

// IsLive reports whether at is the zero AsOf: the live state.
func IsLive(at AsOf) bool { return at.Seq == 0 && at.Time.IsZero() }

// Reader answers queries live or as of a point of the stream.
type Reader struct {
	live    Live
	history *pipeline.History
}

// New returns a Reader of live and, through history, of the past. Either
// may be nil, and so may the Reader: the queries that need what is missing
// fail with ErrNoLive or ErrNoHistory.
func New(live Live, history *pipeline.History) *Reader {
	return &Reader{live: live, history: history}
}

// At returns the Source of the state at at: the live source for the zero
// AsOf, else the lattice folded from the history up to at. It is the one
// place where a query picks between the two.
func (r *Reader) At(at AsOf) Source {
	if r == nil {
		r = &Reader{}
	}
	switch {
	case IsLive(at):
		if r.live == nil {
			return unavailable{ErrNoLive}
		}
		return r.live
	case r.history == nil:
		return unavailable{ErrNoHistory}
	}
	return pastSource{history: r.history, at: at}
}

// Lattices returns, sorted, the lattices the live state has documents of.
func (r *Reader) Lattices(ctx context.Context) ([]string, error) {
	if r == nil || r.live == nil {
		return nil, ErrNoLive
	}
	return r.live.Lattices(ctx)
}

// Window tells how far back lattice can be travelled.
func (r *Reader) Window(ctx context.Context, lattice string) (pipeline.Window, error) {
	if r == nil || r.history == nil {
		return pipeline.Window{}, ErrNoHistory
	}
	return r.history.Window(ctx, lattice)
}

// unavailable is the Source of a state the Reader cannot read.
type unavailable struct{ err error }

var _ Source = unavailable{}

func (u unavailable) Host(context.Context, string, string) ([]byte, error) { return nil, u.err }
func (u unavailable) Hosts(context.Context, string, view.Filter, view.PageRequest) (view.HostsPage, error) {
	return view.HostsPage{}, u.err
}
func (u unavailable) Summary(context.Context, string) ([]byte, error) { return nil, u.err }
func (u unavailable) Links(context.Context, string) ([]projections.LinkDoc, error) {
	return nil, u.err
}
func (u unavailable) Refmaps(context.Context, string) ([]projections.RefmapDoc, error) {
	return nil, u.err
}
