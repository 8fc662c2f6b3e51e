package direct

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Entry is one message of a key-value bucket: a value, or a delete or
// purge marker.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Created  time.Time
	Op       jetstream.KeyValueOp
}

// kvOperation is the header nats.go's KV marks deletes and purges with.
const kvOperation = "KV-Operation"

// KVStream is the stream behind bucket.
func KVStream(bucket string) string { return "KV_" + bucket }

func kvPrefix(bucket string) string { return "$KV." + bucket + "." }

// EntryOf decodes a message of bucket's stream.
func EntryOf(bucket string, m *jetstream.RawStreamMsg) Entry {
	e := Entry{Key: strings.TrimPrefix(m.Subject, kvPrefix(bucket)), Value: m.Data, Revision: m.Sequence, Created: m.Time, Op: jetstream.KeyValuePut}
	switch m.Header.Get(kvOperation) {
	case "DEL":
		e.Op = jetstream.KeyValueDelete
	case "PURGE":
		e.Op = jetstream.KeyValuePurge
	}
	return e
}

// Last calls f with the last entry of every key of bucket matching each of
// filters (key patterns, such as "default.hosts.*") that is not deleted,
// in revision order. It returns the revision after the last message read,
// from which Watch follows without a gap.
func Last(ctx context.Context, js jetstream.JetStream, bucket string, filters []string, f func(Entry) error) (uint64, error) {
	start, err := LastSeq(ctx, js, KVStream(bucket))
	if err != nil {
		return 0, err
	}
	next := start + 1
	for _, filter := range filters {
		// Keys whose message was read before they changed again: only the
		// last message counts. With a history of one, every message read
		// is already the last of its key.
		last := map[string]Entry{}
		var order []string
		n, err := Scan(ctx, js, KVStream(bucket), kvPrefix(bucket)+filter, 1, func(m *jetstream.RawStreamMsg) error {
			e := EntryOf(bucket, m)
			if _, ok := last[e.Key]; !ok {
				order = append(order, e.Key)
			}
			last[e.Key] = e
			return nil
		})
		if err != nil {
			return 0, err
		}
		next = max(next, n)
		for _, k := range order {
			if e := last[k]; e.Op == jetstream.KeyValuePut {
				if err := f(e); err != nil {
					return 0, err
				}
			}
		}
	}
	return next, nil
}

// Watch calls f with every entry of keys of bucket matching filter written
// at revision from or later, deletes included, until ctx ends; poll is how
// often it looks for new ones. From the revision Last returned, it misses
// nothing Last did not show.
func Watch(ctx context.Context, js jetstream.JetStream, bucket, filter string, from uint64, poll time.Duration, f func(Entry) error) error {
	return Follow(ctx, js, KVStream(bucket), kvPrefix(bucket)+filter, from, poll, func(m *jetstream.RawStreamMsg) error {
		return f(EntryOf(bucket, m))
	})
}
