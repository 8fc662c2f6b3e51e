package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
	"latticestate/streams"
)

// Intents wait for the head of the stream, one per host, and those that a
// later recorded host_labels_resolved answers are dropped.
func TestHeldIntents(t *testing.T) {
	h1, h2 := eventtest.HostID(1), eventtest.HostID(2)
	request := func(host string, seq uint64) projections.Intent {
		return projections.Intent{Lattice: "default", HostID: host, Seq: seq}
	}
	resolved := func(host string, seq uint64) capturedEvent {
		subject := streams.RecordedEventSubject("default", string(projections.KindHostLabelsResolved))
		events := []capturedEvent{{seq: seq, subject: subject, data: eventtest.HostLabelsResolved(host, map[string]string{"os": "linux"}, "ok")}}
		decodeEvents(nil, events, 1, nil)
		require.NoError(t, events[0].err)
		return events[0]
	}
	cases := []struct {
		name   string
		events []capturedEvent
		raised []projections.Intent
		want   []projections.Intent
	}{
		{"held until released, in the order raised", nil,
			[]projections.Intent{request(h2, 5), request(h1, 3)}, []projections.Intent{request(h1, 3), request(h2, 5)}},
		{"one per host, the latest", nil,
			[]projections.Intent{request(h1, 3), request(h1, 8)}, []projections.Intent{request(h1, 8)}},
		{"answered by a later recorded outcome", []capturedEvent{resolved(h1, 9)},
			[]projections.Intent{request(h1, 3), request(h2, 4)}, []projections.Intent{request(h2, 4)}},
		{"an outcome recorded before the request answers nothing", []capturedEvent{resolved(h1, 2)},
			[]projections.Intent{request(h1, 3)}, []projections.Intent{request(h1, 3)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(nil)
			h := newHeldIntents(m)
			h.hold(tc.events, tc.raised)
			require.Equal(t, float64(len(tc.want)), testutil.ToFloat64(m.HeldIntents))
			var got []projections.Intent
			h.release(func(in []projections.Intent) { got = in })
			require.Equal(t, tc.want, got)
			require.Zero(t, h.len())
			require.Zero(t, testutil.ToFloat64(m.HeldIntents))
			h.release(func([]projections.Intent) { t.Fatal("released twice") })
		})
	}
}
