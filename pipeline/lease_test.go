package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

func (r *running) active(tb testing.TB) bool {
	tb.Helper()
	st, err := r.p.Status(context.Background())
	require.NoError(tb, err)
	return st.Active
}

// TestProjector_Lease runs two projectors on one consumer: one holds the
// lease and pulls, the other stands by. A holder whose lease is taken over
// stops pulling; a lease nobody renews is taken over after LeaseTTL; a
// lease released on shutdown is taken over at once.
func TestProjector_Lease(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	key := streams.LeaseKey(streams.ProjectorConsumer)
	lines := mustLines(t, "testdata/otp_sequence.jsonl")
	publish := func() {
		for _, l := range lines {
			require.NoError(t, nc.Publish(streams.HostEventSubject("default"), l))
		}
		require.NoError(t, nc.Flush())
	}
	caughtUp := func(r *running) {
		natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			st, err := r.p.Status(ctx)
			if err == nil && !st.CaughtUp() {
				err = errorf("not caught up: %+v", st)
			}
			return err
		})
	}
	activeOnly := func(want *running, all ...*running) {
		natstest.CheckFor(t, 3*streams.LeaseTTL, 20*time.Millisecond, func() error {
			for _, r := range all {
				if r.active(t) != (r == want) {
					return errorf("projector %p active: %v", r, r.active(t))
				}
				if held := testutil.ToFloat64(r.metrics.LeasesHeld); held != map[bool]float64{true: 1}[r == want] {
					return errorf("projector %p leases held: %v", r, held)
				}
			}
			return nil
		})
	}

	a := runProjector(t, js, res)
	activeOnly(a, a)
	b := runProjector(t, js, res)
	publish()
	caughtUp(a)
	time.Sleep(2 * time.Second)
	activeOnly(a, a, b)

	// Another holder's write: the holder finds out at its next renewal
	// and stops pulling. Events published meanwhile wait.
	_, err = res.Meta.Put(ctx, key, []byte("elsewhere/1/gone"))
	require.NoError(t, err)
	activeOnly(nil, a, b)
	publish()
	// Published is not yet stored: the lag is measured on the stream.
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		info, err := res.Events.Info(ctx)
		if err == nil && info.State.LastSeq < uint64(2*len(lines)) {
			err = errorf("%d events stored of %d", info.State.LastSeq, 2*len(lines))
		}
		return err
	})
	st, err := a.p.Status(ctx)
	require.NoError(t, err)
	require.NotZero(t, st.Lag, "nobody pulls while another holds the lease")

	// That holder never renews: after LeaseTTL one of the two takes the
	// lease over and catches up.
	lost := time.Now()
	var next, other *running
	natstest.CheckFor(t, 3*streams.LeaseTTL, 20*time.Millisecond, func() error {
		switch {
		case a.active(t):
			next, other = a, b
		case b.active(t):
			next, other = b, a
		default:
			return errorf("no projector active")
		}
		return nil
	})
	require.GreaterOrEqual(t, time.Since(lost), streams.LeaseTTL-time.Second, "taken over only once the lease expired")
	activeOnly(next, a, b)
	caughtUp(next)

	// Released on shutdown: the standby takes over well within LeaseTTL.
	next.stop()
	released := time.Now()
	activeOnly(other, other)
	require.Less(t, time.Since(released), streams.LeaseTTL, "a released lease is taken over at once")
	publish()
	caughtUp(other)
}
