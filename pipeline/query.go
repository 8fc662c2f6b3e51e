package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

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
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := kv.Watch(ctx, streams.HostKeys(lattice), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read hosts of %s: %w", lattice, err)
	}
	defer func() { _ = w.Stop() }()
	prefix := streams.HostKey(lattice, "")
	var docs []HostDoc
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read hosts of %s: watch closed", lattice)
			}
			if e == nil {
				slices.SortFunc(docs, func(a, b HostDoc) int { return strings.Compare(a.ID, b.ID) })
				return docs, nil
			}
			docs = append(docs, HostDoc{ID: strings.TrimPrefix(e.Key(), prefix), JSON: e.Value(), Revision: e.Revision()})
		case <-ctx.Done():
			return nil, fmt.Errorf("read hosts of %s: %w", lattice, ctx.Err())
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

// StateReader finds the active state bucket for readers, so that they move
// to a rebuilt bucket as soon as a replay switches over.
type StateReader struct {
	js   jetstream.JetStream
	meta jetstream.KeyValue

	mu      sync.Mutex
	buckets map[string]jetstream.KeyValue
}

// NewStateReader returns a StateReader; meta may be nil (no replay has ever
// switched: the default bucket).
func NewStateReader(js jetstream.JetStream, meta jetstream.KeyValue) *StateReader {
	return &StateReader{js: js, meta: meta, buckets: map[string]jetstream.KeyValue{}}
}

// Bucket returns the active state bucket.
func (r *StateReader) Bucket(ctx context.Context) (jetstream.KeyValue, error) {
	name := streams.StateBucket
	if r.meta != nil {
		var err error
		if name, _, err = streams.ActiveState(ctx, r.meta); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if kv, ok := r.buckets[name]; ok {
		return kv, nil
	}
	kv, err := r.js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open state bucket %s: %w", name, err)
	}
	r.buckets[name] = kv
	return kv, nil
}
