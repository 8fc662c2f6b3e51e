package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// docStore keeps what the applier writes: the documents of the state, the
// dead letters and the checkpoint. The applier's exactly-once rules rest on
// three of its promises: a write that expects a revision fails, with an
// error for which isRevisionMismatch holds, when the key is at another
// one; a dead letter is stored once per stream sequence however often it
// is sent; and a saved checkpoint is read back as saved.
type docStore interface {
	// Load returns the stored version of the document at key: an empty one
	// at revision 0 when the key was never written, and a deleted one that
	// keeps its seq when it was deleted.
	Load(ctx context.Context, key string) (*document, error)
	// LoadAll returns the stored version of every document of lattices
	// (of every lattice for none).
	LoadAll(ctx context.Context, lattices []string) (map[string]*document, error)
	// Write stores next expecting its key to be at base.rev; a document
	// that is not live is stored deleted, keeping its seq. The write
	// resolves to the new revision.
	Write(next, base *document) (pendingWrite, error)
	// DeadLetter stores an event that could not be decoded, with the
	// reason, once per stream sequence.
	DeadLetter(seq uint64, subject string, data []byte, reason error) (pendingWrite, error)
	// Checkpoint returns the saved checkpoint; the zero checkpoint when
	// none was saved.
	Checkpoint(ctx context.Context) (checkpoint, error)
	// SaveCheckpoint records cp; the store holds it once it returns nil.
	SaveCheckpoint(ctx context.Context, cp checkpoint) error
}

// checkpoint is how far the state in a store is complete: every event of
// the consumer at or below seq is applied, counted in the event stream
// whose identity (streamIdentity of its creation time) is stream, "" when
// it was recorded without one.
type checkpoint struct {
	seq    uint64
	stream string
}

// pendingWrite is a write sent to a store and not yet confirmed.
type pendingWrite interface {
	// wait returns the revision the write stored, or why it failed.
	wait(ctx context.Context) (uint64, error)
}

// kvStore is the docStore of a projector in JetStream: documents and the
// checkpoint in the state bucket, dead letters in the dead-letter stream.
// Writes are published asynchronously, so a flush has all of its
// documents in flight at once.
type kvStore struct {
	js jetstream.JetStream
	// stream is the state bucket's stream.
	stream jetstream.Stream
	bucket string
	// checkpointKey is the key of the consumer's checkpoint.
	checkpointKey string
}

var _ docStore = (*kvStore)(nil)

func newKVStore(js jetstream.JetStream, stream jetstream.Stream, bucket, consumer string) *kvStore {
	return &kvStore{js: js, stream: stream, bucket: bucket, checkpointKey: streams.CheckpointKey(consumer)}
}

// Load reads the last message of the key's subject (a delete marker
// included, which keeps the seq of the event that removed the document).
func (s *kvStore) Load(ctx context.Context, key string) (*document, error) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, streams.BucketSubject(s.bucket, key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return &document{key: key}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	return decodeDocument(key, msg.Sequence, msg.Header.Get(streams.HeaderKVOperation), msg.Header.Get(streams.HeaderSeq), msg.Data)
}

// LoadAll reads the last version of every document under the lattices'
// key prefixes in one pass over the bucket's stream: loading keys one by
// one costs a round trip each.
func (s *kvStore) LoadAll(ctx context.Context, lattices []string) (map[string]*document, error) {
	subjects := []string{streams.BucketSubject(s.bucket, ">")}
	if len(lattices) > 0 {
		subjects = subjects[:0]
		for _, l := range lattices {
			subjects = append(subjects, streams.BucketSubject(s.bucket, streams.LatticeKeys(l)))
		}
	}
	cons, err := s.js.OrderedConsumer(ctx, streams.BucketStream(s.bucket), jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", s.bucket, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", s.bucket, err)
	}
	docs := map[string]*document{}
	if info.NumPending == 0 {
		return docs, nil
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("read bucket %s: %w", s.bucket, err)
	}
	defer it.Stop()
	prefix := streams.BucketSubject(s.bucket, "")
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read bucket %s: %w", s.bucket, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("read bucket %s: %w", s.bucket, err)
		}
		key := strings.TrimPrefix(m.Subject(), prefix)
		if docKind(key) != projections.TargetNone {
			h := m.Headers()
			d, err := decodeDocument(key, meta.Sequence.Stream, h.Get(streams.HeaderKVOperation), h.Get(streams.HeaderSeq), m.Data())
			if err != nil {
				return nil, err
			}
			docs[key] = d
		}
		if meta.NumPending == 0 {
			return docs, nil
		}
	}
}

// Write publishes the new version of a document with the expected last
// sequence of its subject; a deleted document becomes a delete marker
// carrying its seq.
func (s *kvStore) Write(next, base *document) (pendingWrite, error) {
	body, err := next.encode()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", next.key, err)
	}
	m := nats.NewMsg(streams.BucketSubject(s.bucket, next.key))
	if body == nil {
		m.Header.Set(streams.HeaderKVOperation, streams.KVOpDelete)
		m.Header.Set(streams.HeaderSeq, strconv.FormatUint(next.Seq, 10))
	} else {
		m.Data = body
	}
	f, err := s.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(base.rev))
	if err != nil {
		return nil, err
	}
	return publishedWrite{f}, nil
}

// DeadLetter publishes the event to the dead-letter stream with the
// reason, the original subject and stream sequence. The message id makes a
// retried batch store each dead letter once.
func (s *kvStore) DeadLetter(seq uint64, subject string, data []byte, reason error) (pendingWrite, error) {
	lattice, _ := streams.LatticeOf(subject)
	m := nats.NewMsg(streams.DLQSubject(lattice))
	m.Data = data
	m.Header.Set(streams.HeaderDLQReason, reason.Error())
	m.Header.Set(streams.HeaderDLQSubject, subject)
	m.Header.Set(streams.HeaderDLQStreamSeq, strconv.FormatUint(seq, 10))
	f, err := s.js.PublishMsgAsync(m, jetstream.WithMsgID("dlq-"+strconv.FormatUint(seq, 10)))
	if err != nil {
		return nil, fmt.Errorf("dead-letter seq %d: %w", seq, err)
	}
	return publishedWrite{f}, nil
}

// Checkpoint reads the consumer's checkpoint from the bucket.
func (s *kvStore) Checkpoint(ctx context.Context) (checkpoint, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, streams.BucketSubject(s.bucket, s.checkpointKey))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return checkpoint{}, nil
	case err != nil:
		return checkpoint{}, fmt.Errorf("read checkpoint: %w", err)
	}
	if streams.IsKVRemoval(m.Header.Get(streams.HeaderKVOperation)) {
		return checkpoint{}, nil
	}
	n, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint %q: %w", m.Data, err)
	}
	return checkpoint{seq: n, stream: m.Header.Get(streams.HeaderStreamCreated)}, nil
}

// SaveCheckpoint records the checkpoint; the value is the sequence alone,
// as `nats kv get` shows it, and the stream's identity is in a header.
func (s *kvStore) SaveCheckpoint(ctx context.Context, cp checkpoint) error {
	m := nats.NewMsg(streams.BucketSubject(s.bucket, s.checkpointKey))
	m.Data = strconv.AppendUint(nil, cp.seq, 10)
	if cp.stream != "" {
		m.Header.Set(streams.HeaderStreamCreated, cp.stream)
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// publishedWrite is a message published to JetStream, waiting for the
// stream's acknowledgement.
type publishedWrite struct{ f jetstream.PubAckFuture }

func (w publishedWrite) wait(ctx context.Context) (uint64, error) {
	select {
	case ack := <-w.f.Ok():
		return ack.Sequence, nil
	case err := <-w.f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
