package pipeline

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// AsOf is a point in the event stream: a stream sequence, or a capture
// time. The zero AsOf is the end of the stream.
type AsOf struct {
	Seq  uint64
	Time time.Time
}

// ErrBadAsOf is returned by ParseAsOf for anything but a sequence number or
// an RFC 3339 time.
var ErrBadAsOf = errors.New("as of must be a stream sequence or an RFC 3339 time")

// ParseAsOf reads "<stream sequence>" or "<RFC 3339 time>".
func ParseAsOf(s string) (AsOf, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return AsOf{}, fmt.Errorf("%w: sequences start at 1", ErrBadAsOf)
		}
		return AsOf{Seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return AsOf{}, fmt.Errorf("%w: %q", ErrBadAsOf, s)
	}
	return AsOf{Time: t}, nil
}

func (a AsOf) String() string {
	if a.Seq > 0 {
		return "seq " + strconv.FormatUint(a.Seq, 10)
	}
	if !a.Time.IsZero() {
		return a.Time.Format(time.RFC3339Nano)
	}
	return "now"
}

// includes reports whether an event at seq captured at t is in the state as
// of a.
func (a AsOf) includes(seq uint64, t time.Time) bool {
	switch {
	case a.Seq > 0:
		return seq <= a.Seq
	case !a.Time.IsZero():
		return !t.After(a.Time)
	}
	return true
}
