package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	s.mu.Unlock()
	if ok {
		return d, nil
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

// reset drops the whole cache, for when another process may have written.
func (s *store) reset() {
	s.mu.Lock()
	s.cache = map[string]*document{}
	s.mu.Unlock()
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
