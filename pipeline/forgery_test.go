package pipeline_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// latticestate's own events published where hosts publish are forged: they
// are dead-lettered with the reason, counted, and never applied, while the
// same events on latticestate's own subjects are; the as-of fold of the
// stream agrees with the bucket.
func TestProjector_RejectsForgedEvents(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)

	a, b := eventtest.HostID(1), eventtest.HostID(2)
	hosts := streams.HostEventSubject("default")
	publish := func(subject string, line []byte) {
		t.Helper()
		_, err := js.Publish(ctx, subject, line)
		require.NoError(t, err)
	}
	publish(hosts, eventtest.HostHeartbeat(a, eventtest.Heartbeat{}))
	publish(hosts, eventtest.HostHeartbeat(b, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}))
	// Host b marks host a stale and gives it labels, on a host subject of
	// either generation.
	publish(hosts, eventtest.HostStale(a))
	publish(streams.HostEventKindSubject("default", "host_labels_resolved"),
		eventtest.HostLabelsResolved(a, map[string]string{"forged": "yes"}, projections.OutcomeOK))
	// The genuine outcome, recorded by latticestate.
	publish(streams.RecordedEventSubject("default", "host_labels_resolved"),
		eventtest.HostLabelsResolved(a, map[string]string{"zone": "b"}, projections.OutcomeOK))

	r := runProjector(t, js, res)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := r.p.Status(ctx)
		if err != nil {
			return err
		}
		if !st.CaughtUp() {
			return errorf("not caught up: %+v", st)
		}
		return nil
	})

	docs := mustHostDocs(t, js, res.State, "default")
	require.Equal(t, projections.StatusUp, docs[a].Status, "not stale")
	require.Equal(t, map[string]string{"zone": "b"}, docs[a].Labels, "the recorded outcome, not the forged one")
	require.Equal(t, uint64(5), docs[a].Seq)
	require.Equal(t, 2.0, testutil.ToFloat64(r.metrics.Rejected.WithLabelValues("forged")))

	info, err := res.DLQ.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs)
	for i, seq := range []uint64{3, 4} {
		m, err := res.DLQ.GetMsg(ctx, uint64(i+1))
		require.NoError(t, err)
		require.Equal(t, strconv.FormatUint(seq, 10), m.Header.Get(streams.HeaderDLQStreamSeq))
		require.Contains(t, m.Header.Get(streams.HeaderDLQReason), "forged event: ")
	}

	l, err := pipeline.NewHistory(js).Lattice(ctx, "default", pipeline.AsOf{})
	require.NoError(t, err)
	want, err := projections.Marshal(l.Hosts[a])
	require.NoError(t, err)
	got, err := projections.Marshal(docs[a])
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got), "as of now = the bucket")
	require.NoError(t, nc.Flush())
}
