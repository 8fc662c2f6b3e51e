package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// A client with consumer rights rewrites the projector's durable consumer
// (a filter that matches no event, one event in flight) or deletes it, and
// events keep arriving: the projector's status reports the lag measured on the stream
// (never "caught up" while documents miss events), the projector notices
// the drift within seconds, sets the consumer back, counts it, and applies
// the events the rewritten consumer passed by: the documents are then the
// fold of the stream.
func TestProjector_ConsumerHijackRepaired(t *testing.T) {
	for _, tc := range []struct {
		lattice string
		delete  bool
	}{{"", false}, {"default", true}} {
		lattice := tc.lattice
		t.Run(fmt.Sprintf("lattice=%s,delete=%v", lattice, tc.delete), func(t *testing.T) {
			s := natstest.MustRunServer(t)
			_, js := natstest.MustConnect(t, s)
			_, other := natstest.MustConnect(t, s)
			ctx := context.Background()
			so := streams.DefaultOptions()
			res, err := streams.Ensure(ctx, js, so)
			require.NoError(t, err)
			hosts := streams.HostEventSubject("default")
			publish := func(from, to int) {
				t.Helper()
				for i := from; i < to; i++ {
					_, err := js.Publish(ctx, hosts, eventtest.HostHeartbeat(eventtest.HostID(i),
						eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"n": fmt.Sprint(i)}}}))
					require.NoError(t, err)
				}
			}
			// Another lattice's events: the per-lattice projector's lag
			// counts only its own.
			_, err = js.Publish(ctx, streams.HostEventSubject("other"), eventtest.HostHeartbeat(eventtest.HostID(99), eventtest.Heartbeat{}))
			require.NoError(t, err)
			publish(0, 3)
			r := runProjector(t, js, res, pipeline.WithLattice(lattice))
			caughtUp := func() error {
				st, err := r.p.Status(ctx)
				if err != nil {
					return err
				}
				if !st.CaughtUp() {
					return fmt.Errorf("not caught up: %+v", st)
				}
				return nil
			}
			natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, caughtUp)

			want := streams.ProjectorConsumerConfig(lattice, so)
			hijack := want
			hijack.FilterSubjects, hijack.FilterSubject = nil, "wasmbus.evt.nothing-here"
			hijack.MaxAckPending = 1
			if tc.delete {
				require.NoError(t, other.DeleteConsumer(ctx, streams.EventsStream, want.Durable))
			} else {
				_, err = other.UpdateConsumer(ctx, streams.EventsStream, hijack)
				require.NoError(t, err)
			}
			publish(3, 8)
			published := time.Now()

			// The status never reports less lag than there is: every
			// event is a host of its own, so the events not yet applied
			// when it was measured number at least those still missing
			// from the documents after.
			natstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
				st, err := r.p.Status(ctx)
				if err != nil {
					return err
				}
				docs := mustHostDocs(t, js, res.State, "default")
				require.LessOrEqual(t, st.Lag, uint64(5), "%+v", st)
				require.GreaterOrEqual(t, st.Lag, uint64(8-len(docs)), "lag under-reported: %+v", st)
				if st.CaughtUp() {
					return nil
				}
				return fmt.Errorf("lag %d, %d documents", st.Lag, len(docs))
			})
			t.Logf("repaired and caught up %v after the events", time.Since(published))
			require.Less(t, time.Since(published), 10*time.Second)
			require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.ConsumerDrift))
			require.Zero(t, testutil.ToFloat64(r.metrics.Lag))

			info, err := other.Consumer(ctx, streams.EventsStream, want.Durable)
			require.NoError(t, err)
			require.Equal(t, want.FilterSubjects, info.CachedInfo().Config.FilterSubjects)
			require.Empty(t, info.CachedInfo().Config.FilterSubject)
			require.Equal(t, want.MaxAckPending, info.CachedInfo().Config.MaxAckPending)
			if tc.delete {
				// Created anew after the checkpoint, not from the start.
				require.Equal(t, jetstream.DeliverByStartSequencePolicy, info.CachedInfo().Config.DeliverPolicy)
				require.Greater(t, info.CachedInfo().Config.OptStartSeq, uint64(1))
			}

			l, err := pipeline.NewHistory(js).Lattice(ctx, "default", pipeline.AsOf{})
			require.NoError(t, err)
			docs := mustHostDocs(t, js, res.State, "default")
			require.Len(t, l.Hosts, len(docs))
			for id, h := range l.Hosts {
				want, err := projections.Marshal(h)
				require.NoError(t, err)
				got, err := projections.Marshal(docs[id])
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(got), "host %s: the fold of the stream", id)
			}

			// Events after the repair flow through the consumer again.
			publish(8, 10)
			natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if n := len(mustHostDocs(t, js, res.State, "default")); n != 10 {
					return fmt.Errorf("%d documents", n)
				}
				return caughtUp()
			})
			r.stop()
		})
	}
}
