package read

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
)

// ParseAsOf reads "<stream sequence>" or "<RFC 3339 time>".
func ParseAsOf(s string) (AsOf, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return AsOf{}, fmt.Errorf("%w: sequences start at 1", ErrBadAsOf)
		}
		return AsOf{Seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return AsOf{}, fmt.Errorf("%w: %q", ErrBadAsOf, s)
	}
	return AsOf{Time: t}, nil
}

// pastSource answers from a lattice folded from the history up to a point.
// It fails with a *pipeline.HistoryGoneError for a point that can no
// longer be rebuilt exactly, and a *pipeline.PastEndError for a sequence
// past the end of the stream.
type pastSource struct {
	history *pipeline.History
	at      AsOf
}

var _ Source = pastSource{}

func (p pastSource) Host(ctx context.Context, lattice, id string) ([]byte, error) {
	l, err := p.history.Lattice(ctx, lattice, p.at)
	if err != nil {
		return nil, err
	}
	h, ok := l.Hosts[id]
	if !ok {
		return nil, fmt.Errorf("%w: no host %s in lattice %s as of %s", ErrHostNotFound, id, lattice, p.at)
	}
	return projections.AppendHost(nil, h)
}

// Hosts pages the hosts of the lattice as of the point. The hosts, sorted,
// and the encoding of each host a page has listed are kept with the folded
// lattice: asking for the point again (the next page, another filter)
// sorts and encodes nothing again.
func (p pastSource) Hosts(ctx context.Context, lattice string, f view.Filter, pr view.PageRequest) (view.HostsPage, error) {
	pages, err := p.history.HostPages(ctx, lattice, p.at)
	if err != nil {
		return view.HostsPage{}, err
	}
	var res view.HostsPage
	var selected []*projections.Host
	selected, res.Next, res.Total = view.PageHosts(pages.Hosts(), f, pr)
	res.Docs = make([][]byte, 0, len(selected))
	for _, h := range selected {
		b, err := pages.Encoding(h)
		if err != nil {
			return view.HostsPage{}, err
		}
		res.Docs = append(res.Docs, b)
	}
	return res, nil
}

func (p pastSource) Summary(ctx context.Context, lattice string) ([]byte, error) {
	l, err := p.history.Lattice(ctx, lattice, p.at)
	if err != nil {
		return nil, err
	}
	return projections.Marshal(view.SummarizeLattice(l))
}

// Links returns the folded links, whose Seq is 0: a fold does not keep it.
func (p pastSource) Links(ctx context.Context, lattice string) ([]projections.LinkDoc, error) {
	l, err := p.history.Lattice(ctx, lattice, p.at)
	if err != nil {
		return nil, err
	}
	out := make([]projections.LinkDoc, 0, len(l.Links))
	for _, k := range slices.Sorted(maps.Keys(l.Links)) {
		out = append(out, projections.LinkDoc{Key: k, Link: l.Links[k]})
	}
	return out, nil
}

// Refmaps returns the folded ref map entries, whose Seq is 0.
func (p pastSource) Refmaps(ctx context.Context, lattice string) ([]projections.RefmapDoc, error) {
	l, err := p.history.Lattice(ctx, lattice, p.at)
	if err != nil {
		return nil, err
	}
	out := make([]projections.RefmapDoc, 0, len(l.Refmaps))
	for _, k := range slices.Sorted(maps.Keys(l.Refmaps)) {
		out = append(out, projections.RefmapDoc{OCIURL: k, PublicKey: l.Refmaps[k]})
	}
	return out, nil
}
