package pipeline

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// isRevisionMismatch reports whether err is a failed compare-and-set: the
// document changed since it was read.
func isRevisionMismatch(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
