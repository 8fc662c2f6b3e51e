package read

import (
	"context"

	"latticestate/internal/view"
	"latticestate/projections"
)

// ViewSource is the live state as serve answers it: host lists, counts
// and lattices from the in-memory view, brought up to date with the bucket
// first (view.View.Sync), so a read sees every write completed before it;
// one host, links and ref maps from the bucket.
type ViewSource struct {
	view   *view.View
	bucket *Bucket
}

var _ Live = (*ViewSource)(nil)

// NewViewSource returns the live state of v, reading what v does not
// hold from bucket, the bucket v follows.
func NewViewSource(v *view.View, bucket *Bucket) *ViewSource {
	return &ViewSource{view: v, bucket: bucket}
}

// Host reads one host document from the bucket.
func (s *ViewSource) Host(ctx context.Context, lattice, id string) ([]byte, error) {
	return s.bucket.Host(ctx, lattice, id)
}

// Hosts returns the page p of the hosts of lattice that f matches, with
// the bucket revision the view held.
func (s *ViewSource) Hosts(ctx context.Context, lattice string, f view.Filter, p view.PageRequest) (view.HostsPage, error) {
	if err := s.view.Sync(ctx); err != nil {
		return view.HostsPage{}, err
	}
	return s.view.Hosts(lattice, f, p)
}

// Summary returns the view's counts of lattice.
func (s *ViewSource) Summary(ctx context.Context, lattice string) ([]byte, error) {
	if err := s.view.Sync(ctx); err != nil {
		return nil, err
	}
	return s.view.SummaryJSON(lattice)
}

// Links reads the links of lattice from the bucket.
func (s *ViewSource) Links(ctx context.Context, lattice string) ([]projections.LinkDoc, error) {
	return s.bucket.Links(ctx, lattice)
}

// Refmaps reads the ref map entries of lattice from the bucket.
func (s *ViewSource) Refmaps(ctx context.Context, lattice string) ([]projections.RefmapDoc, error) {
	return s.bucket.Refmaps(ctx, lattice)
}

// Lattices returns the lattices the view holds documents of.
func (s *ViewSource) Lattices(ctx context.Context) ([]string, error) {
	if err := s.view.Sync(ctx); err != nil {
		return nil, err
	}
	return s.view.Lattices()
}
