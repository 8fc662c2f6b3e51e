package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// store reads and writes documents of the state bucket. It caches the last
// version it read or wrote of every key, so the hot path reads nothing from
// the server; a failed compare-and-set drops the cached version.
type store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	bucket string

	mu    sync.Mutex
	cache map[string]*document
	// complete means the cache holds every document there is, so a key
	// missing from it does not exist. A wrong guess (another process
	// wrote) fails the compare-and-set and resets the cache.
	complete bool
}

func newStore(js jetstream.JetStream, stream jetstream.Stream, bucket string) *store {
	return &store{js: js, stream: stream, bucket: bucket, cache: map[string]*document{}}
}

// load returns the current document for key: from the cache, or from the
// last message of the key's subject (a delete marker included, which keeps
// the seq of the event that removed the document).
func (s *store) load(ctx context.Context, key string) (*document, error) {
	s.mu.Lock()
	d, ok := s.cache[key]
	complete := s.complete
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	if complete {
		return &document{key: key}, nil
	}
	msg, err := s.stream.GetLastMsgForSubject(ctx, streams.BucketSubject(s.bucket, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		d = &document{key: key}
	} else if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	} else {
		d, err = decodeDocument(key, msg.Sequence, msg.Header.Get("KV-Operation"), msg.Header.Get(streams.HeaderSeq), msg.Data)
		if err != nil {
			return nil, err
		}
	}
	s.remember(d)
	return d, nil
}

func (s *store) remember(d *document) {
	s.mu.Lock()
	s.cache[d.key] = d
	s.mu.Unlock()
}

func (s *store) forget(key string) {
	s.mu.Lock()
	delete(s.cache, key)
	s.mu.Unlock()
}

// documents returns a copy of the cache: every document there is once the
// cache is complete.
func (s *store) documents() map[string]*document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.cache)
}

// isComplete reports whether the cache holds every document.
func (s *store) isComplete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.complete
}

// reset drops the whole cache, for when another process may have written.
func (s *store) reset() {
	s.mu.Lock()
	s.cache = map[string]*document{}
	s.complete = false
	s.mu.Unlock()
}

// warm reads the last version of every document under the given key
// prefixes (every document for none) in one pass over the bucket's stream,
// then marks the cache complete for them. Loading keys one by one costs a
// round trip each; a replay into an empty bucket costs none.
func (s *store) warm(ctx context.Context, lattices []string) error {
	subjects := []string{streams.BucketSubject(s.bucket, ">")}
	if len(lattices) > 0 {
		subjects = subjects[:0]
		for _, l := range lattices {
			subjects = append(subjects, streams.BucketSubject(s.bucket, l+".>"))
		}
	}
	cons, err := s.js.OrderedConsumer(ctx, streams.BucketStream(s.bucket), jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", s.bucket, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", s.bucket, err)
	}
	docs := map[string]*document{}
	if info.NumPending > 0 {
		it, err := cons.Messages()
		if err != nil {
			return fmt.Errorf("read bucket %s: %w", s.bucket, err)
		}
		defer it.Stop()
		prefix := streams.BucketSubject(s.bucket, "")
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return fmt.Errorf("read bucket %s: %w", s.bucket, err)
			}
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read bucket %s: %w", s.bucket, err)
			}
			key := strings.TrimPrefix(m.Subject(), prefix)
			if docKind(key) != projections.TargetNone {
				h := m.Headers()
				d, err := decodeDocument(key, meta.Sequence.Stream, h.Get("KV-Operation"), h.Get(streams.HeaderSeq), m.Data())
				if err != nil {
					return err
				}
				docs[key] = d
			}
			if meta.NumPending == 0 {
				break
			}
		}
	}
	s.mu.Lock()
	s.cache, s.complete = docs, true
	s.mu.Unlock()
	return nil
}

// write publishes the new version of a document, expecting the key to be at
// revision prev.rev; a document that no longer exists becomes a delete
// marker carrying its seq. The future resolves to the new revision.
func (s *store) write(next *document, prev *document) (jetstream.PubAckFuture, error) {
	body, err := next.encode()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", next.key, err)
	}
	m := nats.NewMsg(streams.BucketSubject(s.bucket, next.key))
	if body == nil {
		m.Header.Set("KV-Operation", "DEL")
		m.Header.Set(streams.HeaderSeq, strconv.FormatUint(next.seq, 10))
	} else {
		m.Data = body
	}
	return s.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(prev.rev))
}
