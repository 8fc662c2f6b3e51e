package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// ErrHostNotFound is returned by GetHost for a host the bucket does not
// hold.
var ErrHostNotFound = errors.New("host not found")

// HostDoc is a host document as stored, with its id.
type HostDoc struct {
	ID       string
	JSON     []byte
	Revision uint64
}

// ListHosts reads every host document of lattice from the bucket, sorted by
// id, with one watch of the bucket rather than one request per key.
func ListHosts(ctx context.Context, kv jetstream.KeyValue, lattice string) ([]HostDoc, error) {
	var docs []HostDoc
	prefix := streams.HostKey(lattice, "")
	err := readKeys(ctx, kv, "hosts of "+lattice, []string{streams.HostKeys(lattice)}, false, func(e jetstream.KeyValueEntry) error {
		docs = append(docs, HostDoc{ID: strings.TrimPrefix(e.Key(), prefix), JSON: e.Value(), Revision: e.Revision()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(docs, func(a, b HostDoc) int { return strings.Compare(a.ID, b.ID) })
	return docs, nil
}

// ListLinks reads every link document of lattice, sorted by link key.
func ListLinks(ctx context.Context, kv jetstream.KeyValue, lattice string) ([]LinkDoc, error) {
	return listDocs(ctx, kv, "links of "+lattice, streams.LinkKeys(lattice), func(d LinkDoc) string { return d.Key })
}

// ListRefmaps reads every ref map entry of lattice, sorted by OCI reference.
func ListRefmaps(ctx context.Context, kv jetstream.KeyValue, lattice string) ([]RefmapDoc, error) {
	return listDocs(ctx, kv, "ref maps of "+lattice, streams.RefmapKeys(lattice), func(d RefmapDoc) string { return d.OCIURL })
}

// listDocs reads and decodes every document whose key matches pattern,
// sorted by sortKey.
func listDocs[T any](ctx context.Context, kv jetstream.KeyValue, what, pattern string, sortKey func(T) string) ([]T, error) {
	var docs []T
	err := readKeys(ctx, kv, what, []string{pattern}, false, func(e jetstream.KeyValueEntry) error {
		var d T
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			return fmt.Errorf("document %s: %w", e.Key(), err)
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(docs, func(a, b T) int { return strings.Compare(sortKey(a), sortKey(b)) })
	return docs, nil
}

// ListLattices returns, sorted, the lattices that have at least one host,
// link or ref map in the bucket. It reads the keys only, not the documents.
func ListLattices(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	seen := map[string]bool{}
	err := readKeys(ctx, kv, "lattices", streams.DocumentKeys(), true, func(e jetstream.KeyValueEntry) error {
		if l, ok := streams.LatticeOfKey(e.Key()); ok {
			seen[l] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// readKeys calls f with the current entry of every key matching filters
// (deleted keys left out), with one watch of the bucket rather than one
// request per key; metaOnly leaves the values out.
func readKeys(ctx context.Context, kv jetstream.KeyValue, what string, filters []string, metaOnly bool, f func(jetstream.KeyValueEntry) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := []jetstream.WatchOpt{jetstream.IgnoreDeletes()}
	if metaOnly {
		opts = append(opts, jetstream.MetaOnly())
	}
	w, err := kv.WatchFiltered(ctx, filters, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read %s: watch closed", what)
			}
			if e == nil {
				return nil
			}
			if err := f(e); err != nil {
				return fmt.Errorf("read %s: %w", what, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("read %s: %w", what, ctx.Err())
		}
	}
}

// GetHost reads one host document.
func GetHost(ctx context.Context, kv jetstream.KeyValue, lattice, id string) (HostDoc, error) {
	if !projections.ValidHostID(id) {
		return HostDoc{}, fmt.Errorf("%w: %q is not a host public key", ErrHostNotFound, id)
	}
	e, err := kv.Get(ctx, streams.HostKey(lattice, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return HostDoc{}, fmt.Errorf("%w: no host %s in lattice %s", ErrHostNotFound, id, lattice)
	}
	if err != nil {
		return HostDoc{}, fmt.Errorf("read host %s: %w", id, err)
	}
	return HostDoc{ID: id, JSON: e.Value(), Revision: e.Revision()}, nil
}

// StateReader opens the state bucket for readers once, and again after it
// was deleted and created anew.
type StateReader struct {
	js     jetstream.JetStream
	bucket string

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewStateReader returns a StateReader of streams.StateBucket.
func NewStateReader(js jetstream.JetStream) *StateReader {
	return NewBucketReader(js, streams.StateBucket)
}

// NewBucketReader returns a StateReader of another bucket of documents,
// such as the benchmark's.
func NewBucketReader(js jetstream.JetStream, bucket string) *StateReader {
	return &StateReader{js: js, bucket: bucket}
}

// Bucket returns the state bucket.
func (r *StateReader) Bucket(ctx context.Context) (jetstream.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	kv, err := r.js.KeyValue(ctx, r.bucket)
	if err != nil {
		return nil, fmt.Errorf("open state bucket %s: %w", r.bucket, err)
	}
	r.kv = kv
	return kv, nil
}
