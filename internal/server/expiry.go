package server

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// RecordHostExpiry tells readers (the CLI's list and get) the host expiry
// a server runs with, in the meta bucket; a nil bucket records nothing.
func RecordHostExpiry(ctx context.Context, meta jetstream.KeyValue, d time.Duration) error {
	if meta == nil {
		return nil
	}
	if _, err := meta.PutString(ctx, streams.HostExpiryKey, d.String()); err != nil {
		return fmt.Errorf("record host expiry in %s: %w", streams.MetaBucket, err)
	}
	return nil
}
