package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

// TestServe_ConsumerHijack: a privileged client rewrites the projector's
// durable consumer (a filter that matches no event, one event in flight)
// and events keep arriving. /readyz never says ready while the documents
// miss events: it reports the lag measured on the stream; the projector
// sets its consumer back within seconds, logs and counts it, and the
// documents catch up to the fold of the stream.
func TestServe_ConsumerHijack(t *testing.T) {
	t.Parallel() // waits on the projector's drift check more than it computes
	const before, during = 10, 20
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	beats := func(from, to int) [][]byte {
		var out [][]byte
		for i := from; i < to; i++ {
			out = append(out, eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
				HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%d", i), Labels: map[string]string{"zone": "a"}}}))
		}
		return out
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), beats(0, before))
	waitCaughtUp(t, p, 10*time.Second)

	ctx := context.Background()
	want := streams.ProjectorConsumerConfig("", streams.DefaultOptions())
	hijack := want
	hijack.FilterSubject, hijack.MaxAckPending = "wasmbus.evt.nothing-here", 1
	_, err := js.UpdateConsumer(ctx, streams.EventsStream, hijack)
	require.NoError(t, err)
	// Published with JetStream's acknowledgement, so that the stream holds
	// every event before the first /readyz.
	for _, b := range beats(before, before+during) {
		_, err := js.Publish(ctx, streams.HostEventSubject("default"), b)
		require.NoError(t, err)
	}
	published := time.Now()

	hosts := func() int { return len(mustKVHosts(t, js, "default")) }
	samples, lagging := 0, 0
	natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		code, body, err := p.get("/readyz")
		if err != nil {
			return err
		}
		samples++
		var r struct {
			Status string `json:"status"`
			Lag    uint64 `json:"lag"`
		}
		require.NoError(t, json.Unmarshal(body, &r), "%s", body)
		if code == http.StatusOK {
			require.Zero(t, r.Lag)
			require.Equal(t, before+during, hosts(), "ready while documents miss events")
			return nil
		}
		require.Equal(t, http.StatusServiceUnavailable, code, "%s", body)
		// Every event is a host of its own: the events not applied when
		// the lag was measured number at least those still missing from
		// the documents after.
		require.LessOrEqual(t, r.Lag, uint64(during), "%s", body)
		require.GreaterOrEqual(t, r.Lag, uint64(before+during-hosts()), "lag under-reported: %s", body)
		if samples == 1 {
			t.Logf("first /readyz after the events: %s", body)
		}
		lagging++
		return fmt.Errorf("readyz %d: %s", code, body)
	})
	t.Logf("ready again %v after the events, /readyz reported the lag in %d of %d samples",
		time.Since(published), lagging, samples)
	require.Less(t, time.Since(published), 10*time.Second)
	requireKVEqualsFold(t, js, "default")

	_, metrics, err := p.get("/metrics")
	require.NoError(t, err)
	require.Contains(t, string(metrics), "\nlatticestate_consumer_drift_total 1\n")
	require.Contains(t, string(metrics), "\nlatticestate_consumer_lag 0\n")
	require.True(t, strings.Contains(p.logs(), "consumer was changed by someone else"), "logged")
	info, err := js.Consumer(ctx, streams.EventsStream, want.Durable)
	require.NoError(t, err)
	require.Empty(t, info.CachedInfo().Config.FilterSubject)
	require.Equal(t, want.MaxAckPending, info.CachedInfo().Config.MaxAckPending)
	p.stop(t)
}
