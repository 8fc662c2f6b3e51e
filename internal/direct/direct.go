// Package direct reads JetStream streams, key-value buckets and object
// stores with direct gets ($JS.API.DIRECT.GET.<stream>) only. A direct get
// needs no consumer: a user allowed nothing else can list, read and follow
// a bucket, and, unlike with a consumer, cannot name a subject for the
// server to deliver to.
package direct

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// batchSize is how many messages one batched direct get asks for; the
// server also stops a batch at its max_pending bytes.
const batchSize = 1000

// batchTimeout bounds one batched direct get. A batch ends with an
// end-of-batch message; the client library ends one that times out (or
// that nothing answers, as when permissions refuse the request) the same
// way, without an error, so a batch is bounded here and one that ran out
// of time is an error, never a short answer.
const batchTimeout = 10 * time.Second

// ErrBatchTimeout is returned when a batched direct get was not answered
// in full in time.
var ErrBatchTimeout = errors.New("direct get not answered in time")

// Scan calls f with every message of stream whose subject matches filter,
// from sequence from on, in order, until a batch finds nothing more. It
// returns the sequence after the last message seen (from when none).
func Scan(ctx context.Context, js jetstream.JetStream, stream, filter string, from uint64, f func(*jetstream.RawStreamMsg) error) (uint64, error) {
	if from == 0 {
		from = 1
	}
	for {
		n, next, err := Batch(ctx, js, stream, filter, from, f)
		from = next
		if err != nil || n == 0 {
			return from, err
		}
	}
}

// Batch calls f with the messages of one batch of stream matching filter,
// from sequence from on: it returns how many there were (0: none left) and
// the sequence after the last.
func Batch(ctx context.Context, js jetstream.JetStream, stream, filter string, from uint64, f func(*jetstream.RawStreamMsg) error) (int, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(ctx, js, stream, batchSize,
		jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(filter))
	if err != nil {
		return 0, from, fmt.Errorf("read %s of stream %s: %w", filter, stream, err)
	}
	n := 0
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return n, from, nil
		}
		if err != nil {
			return n, from, fmt.Errorf("read %s of stream %s: %w", filter, stream, err)
		}
		n++
		from = m.Sequence + 1
		if err := f(m); err != nil {
			return n, from, err
		}
	}
	if ctx.Err() != nil {
		return n, from, fmt.Errorf("read %s of stream %s from sequence %d: %w (%w)", filter, stream, from, ErrBatchTimeout, ctx.Err())
	}
	return n, from, nil
}

// LastSeq is the last sequence of stream.
func LastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

// Follow calls f with every message of stream matching filter from
// sequence from on, as they are written, looking for new ones every poll,
// until ctx ends (nil) or f or a read fails.
func Follow(ctx context.Context, js jetstream.JetStream, stream, filter string, from uint64, poll time.Duration, f func(*jetstream.RawStreamMsg) error) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next, err := Scan(ctx, js, stream, filter, from, f)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		from = next
		t.Reset(poll)
	}
}
