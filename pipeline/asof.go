package pipeline

import (
	"strconv"
	"time"
)

// AsOf is a point in the event stream: a stream sequence, or a capture
// time. The zero AsOf is the end of the stream. read.ParseAsOf reads one.
type AsOf struct {
	Seq  uint64
	Time time.Time
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
