package read

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

	"latticestate/internal/direct"
	"latticestate/internal/view"
	"latticestate/projections"
	"latticestate/streams"
)

// readTimeout bounds one read of many keys when the caller's context has
// no sooner deadline.
const readTimeout = 30 * time.Second

// Bucket is the live state read from a bucket of documents: the state
// bucket, or another one such as the benchmark's. It opens the bucket on
// first use.
type Bucket struct {
	js   jetstream.JetStream
	name string

	mu sync.Mutex
	kv jetstream.KeyValue
}

var _ Live = (*Bucket)(nil)

// NewBucket returns the live state of the bucket name; "" names
// streams.StateBucket.
func NewBucket(js jetstream.JetStream, name string) *Bucket {
	if name == "" {
		name = streams.StateBucket
	}
	return &Bucket{js: js, name: name}
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// KeyValue opens the bucket, once.
func (b *Bucket) KeyValue(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := b.js.KeyValue(ctx, b.name)
	if err != nil {
		return nil, fmt.Errorf("open state bucket %s: %w", b.name, err)
	}
	b.kv = kv
	return kv, nil
}

// Exists reports whether the bucket can be opened.
func (b *Bucket) Exists(ctx context.Context) bool {
	_, err := b.KeyValue(ctx)
	return err == nil
}

// Host reads one host document.
func (b *Bucket) Host(ctx context.Context, lattice, id string) ([]byte, error) {
	if !projections.ValidHostID(id) {
		return nil, fmt.Errorf("%w: %q is not a host public key", ErrHostNotFound, id)
	}
	kv, err := b.KeyValue(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, streams.HostKey(lattice, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: no host %s in lattice %s", ErrHostNotFound, id, lattice)
	}
	if err != nil {
		return nil, fmt.Errorf("read host %s: %w", id, err)
	}
	return e.Value(), nil
}

// Hosts reads every host document of lattice, with batched direct gets
// rather than one request per key, and returns the page p of those
// f matches.
func (b *Bucket) Hosts(ctx context.Context, lattice string, f view.Filter, p view.PageRequest) (view.HostsPage, error) {
	hosts, docs, err := b.hosts(ctx, lattice)
	if err != nil {
		return view.HostsPage{}, err
	}
	var res view.HostsPage
	var selected []*projections.Host
	selected, res.Next, res.Total = view.PageHosts(hosts, f, p)
	res.Docs = make([][]byte, 0, len(selected))
	for _, h := range selected {
		res.Docs = append(res.Docs, docs[h.HostID])
	}
	return res, nil
}

// hosts reads and decodes every host document of lattice, sorted by id,
// with the documents as stored by id.
func (b *Bucket) hosts(ctx context.Context, lattice string) ([]*projections.Host, map[string][]byte, error) {
	var hosts []*projections.Host
	docs := map[string][]byte{}
	prefix := streams.HostKey(lattice, "")
	err := b.readKeys(ctx, "hosts of "+lattice, []string{streams.HostKeys(lattice)}, func(e direct.Entry) error {
		h, err := projections.UnmarshalHost(e.Value)
		if err != nil {
			return fmt.Errorf("document %s: %w", e.Key, err)
		}
		id := strings.TrimPrefix(e.Key, prefix)
		hosts = append(hosts, h)
		docs[id] = e.Value
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(hosts, func(a, b *projections.Host) int { return strings.Compare(a.HostID, b.HostID) })
	return hosts, docs, nil
}

// Summary reads the lattice's documents and counts them.
func (b *Bucket) Summary(ctx context.Context, lattice string) ([]byte, error) {
	hosts, _, err := b.hosts(ctx, lattice)
	if err != nil {
		return nil, err
	}
	links, err := b.Links(ctx, lattice)
	if err != nil {
		return nil, err
	}
	refmaps, err := b.Refmaps(ctx, lattice)
	if err != nil {
		return nil, err
	}
	l := projections.NewLattice(lattice)
	for _, h := range hosts {
		l.Hosts[h.HostID] = h
	}
	// Seq is the newest sequence applied to any document, as the view
	// counts it.
	var seq uint64
	for _, d := range links {
		l.Links[d.Key] = d.Link
		seq = max(seq, d.Seq)
	}
	for _, d := range refmaps {
		l.Refmaps[d.OCIURL] = d.PublicKey
		seq = max(seq, d.Seq)
	}
	sum := view.SummarizeLattice(l)
	sum.Seq = max(sum.Seq, seq)
	return projections.Marshal(sum)
}

// Links reads every link document of lattice, sorted by link key.
func (b *Bucket) Links(ctx context.Context, lattice string) ([]projections.LinkDoc, error) {
	return listDocs(ctx, b, "links of "+lattice, streams.LinkKeys(lattice), func(d projections.LinkDoc) string { return d.Key })
}

// Refmaps reads every ref map entry of lattice, sorted by OCI reference.
func (b *Bucket) Refmaps(ctx context.Context, lattice string) ([]projections.RefmapDoc, error) {
	return listDocs(ctx, b, "ref maps of "+lattice, streams.RefmapKeys(lattice), func(d projections.RefmapDoc) string { return d.OCIURL })
}

// Lattices returns, sorted, the lattices that have at least one host, link
// or ref map in the bucket.
func (b *Bucket) Lattices(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	err := b.readKeys(ctx, "lattices", streams.DocumentKeys(), func(e direct.Entry) error {
		if l, ok := streams.LatticeOfKey(e.Key); ok {
			seen[l] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// listDocs reads and decodes every document whose key matches pattern,
// sorted by sortKey; never nil.
func listDocs[T any](ctx context.Context, b *Bucket, what, pattern string, sortKey func(T) string) ([]T, error) {
	docs := []T{}
	err := b.readKeys(ctx, what, []string{pattern}, func(e direct.Entry) error {
		var d T
		if err := json.Unmarshal(e.Value, &d); err != nil {
			return fmt.Errorf("document %s: %w", e.Key, err)
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

// readKeys calls f with the current entry of every key matching filters
// (deleted keys left out), with batched direct gets rather than one request
// per key or a watch: a direct get needs no consumer, which readers may
// not create (see deploy/nats/nats.conf).
func (b *Bucket) readKeys(ctx context.Context, what string, filters []string, f func(direct.Entry) error) error {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if _, err := b.KeyValue(ctx); err != nil {
		return err
	}
	if _, err := direct.Last(ctx, b.js, b.name, filters, f); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}
