package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// Label requests live in memory only: a projector that starts (after a
// crash, or taking over) asks again every host whose document has neither
// labels nor a recorded outcome, and no other.
func TestProjector_AsksAgainFromState(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	hosts := streams.HostEventSubject("default")
	recorded := streams.RecordedEventSubject("default", string(projections.KindHostLabelsResolved))
	publish := func(subject string, data []byte) {
		t.Helper()
		_, err := js.Publish(ctx, subject, data)
		require.NoError(t, err)
	}
	for i := range 4 {
		publish(hosts, eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{}))
	}
	publish(hosts, eventtest.HostHeartbeat(eventtest.HostID(4), eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}))
	publish(recorded, eventtest.HostLabelsResolved(eventtest.HostID(1), nil, projections.OutcomeTimeout))
	publish(recorded, eventtest.HostLabelsResolved(eventtest.HostID(2), map[string]string{"zone": "b"}, projections.OutcomeOK))

	// The first projector applies everything and asks nobody: it stands
	// for one that crashed before its requests were recorded.
	caughtUp := func(p *pipeline.Projector) func() error {
		return func() error {
			st, err := p.Status(ctx)
			if err != nil {
				return err
			}
			if !st.CaughtUp() {
				return fmt.Errorf("not caught up: %+v", st)
			}
			return nil
		}
	}
	first := runProjector(t, js, res)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, caughtUp(first.p))
	first.stop()

	var mu sync.Mutex
	asked := map[string]int{}
	second := runProjector(t, js, res, pipeline.WithIntentHandler(func(in []projections.Intent) {
		mu.Lock()
		defer mu.Unlock()
		for _, i := range in {
			asked[i.HostID]++
		}
	}))
	want := map[string]int{eventtest.HostID(0): 1, eventtest.HostID(3): 1}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(asked) < len(want) {
			return fmt.Errorf("asked %v", asked)
		}
		return nil
	})
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, caughtUp(second.p))
	second.stop()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, want, asked, "hosts without labels and without a recorded outcome, once")
}
