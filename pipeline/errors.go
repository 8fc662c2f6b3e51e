package pipeline

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStopped is returned by Run after Stop or cancellation once the batch in
// flight has been finished.
var ErrStopped = errors.New("pipeline stopped")

// isRevisionMismatch reports whether err is a failed compare-and-set: the
// document changed since it was read.
func isRevisionMismatch(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
