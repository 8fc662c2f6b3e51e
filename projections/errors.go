package projections

import (
	"errors"
	"fmt"
)

// Categories of decode failures; every *DecodeError wraps exactly one of them,
// so callers can tell them apart with errors.Is.
var (
	// ErrMalformed: the bytes are not one JSON object in valid UTF-8.
	ErrMalformed = errors.New("malformed event")
	// ErrEnvelope: the JSON is not a valid CloudEvents 1.0 envelope.
	ErrEnvelope = errors.New("invalid CloudEvents envelope")
	// ErrData: the event's data does not have the shape its kind requires.
	ErrData = errors.New("invalid event data")
	// ErrInvalidHostID: the host id is not a valid server public nkey.
	ErrInvalidHostID = errors.New("invalid host id")
	// ErrForged: an event of latticestate's own type (dev.latticestate.*)
	// captured where hosts publish.
	ErrForged = errors.New("forged event")
)

// DecodeError is the typed error for an event that cannot be decoded. Reason
// is a short human-readable explanation suitable for logs and dead letters.
type DecodeError struct {
	Category error
	Reason   string
}

func (e *DecodeError) Error() string { return e.Category.Error() + ": " + e.Reason }

// Unwrap lets errors.Is match the category.
func (e *DecodeError) Unwrap() error { return e.Category }

func reject(category error, format string, args ...any) *DecodeError {
	return &DecodeError{Category: category, Reason: fmt.Sprintf(format, args...)}
}
