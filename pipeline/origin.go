package pipeline

import (
	"latticestate/projections"
	"latticestate/streams"
)

// OriginOf is where an event captured on subject comes from: latticestate's
// own subjects, or the hosts'. Decoding by origin rejects latticestate's
// own event types from hosts as forged, live, in as-of folds and in tests
// that fold the stream alike.
func OriginOf(subject string) projections.Origin {
	if streams.IsRecordedSubject(subject) {
		return projections.FromLatticestate
	}
	return projections.FromHost
}
