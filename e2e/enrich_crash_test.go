package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

// TestServe_EnrichmentSurvivesCrash: 500 new hosts without labels, 30% of
// which never answer their inventory request; the projector is killed
// with SIGKILL while it asks them. Restarted, it asks again every host
// whose document has neither labels nor a recorded outcome (derived from
// the state, not from memory): every host ends with labels or a recorded
// host_labels_resolved, and the documents are the fold of the stream.
func TestServe_EnrichmentSurvivesCrash(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	const hosts = 500
	const timeout = "500ms"
	silent := func(i int) bool { return i%10 < 3 }
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	for i := range hosts {
		id := eventtest.HostID(i)
		labels := map[string]string{"answered": "yes"}
		var err error
		switch {
		case silent(i):
			_, err = nc.Subscribe(streams.OTPInventorySubject("default", id), func(*nats.Msg) {})
		case i%2 == 0:
			_, err = nc.Subscribe(streams.OTPInventorySubject("default", id), func(m *nats.Msg) {
				b, _ := json.Marshal(map[string]any{"host_id": id, "labels": labels})
				_ = m.Respond(b)
			})
		default:
			_, err = nc.Subscribe(streams.V1InventorySubject("default", id), func(m *nats.Msg) {
				b, _ := json.Marshal(map[string]any{"success": true, "message": "", "response": map[string]any{"host_id": id, "labels": labels}})
				_ = m.Respond(b)
			})
		}
		require.NoError(t, err)
	}
	require.NoError(t, nc.Flush())

	p := mustStartProjector(t, s.ClientURL(), "--label-timeout", timeout)
	var beats [][]byte
	for i := range hosts {
		beats = append(beats, eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%d", i), Version: "0.56.0"}}))
	}
	start := time.Now()
	mustPublish(t, nc, streams.HostEventSubject("default"), beats)
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if v := metricValue(t, p, "latticestate_label_requests_in_flight"); v == 0 {
			return fmt.Errorf("no label request in flight")
		}
		return nil
	})
	// Killed 0.8 s in: the answering hosts' outcomes are partly recorded,
	// the silent ones are waiting for their replies.
	time.Sleep(time.Until(start.Add(800 * time.Millisecond)))
	inFlight := metricValue(t, p, "latticestate_label_requests_in_flight")
	p.kill(t)
	killed := time.Since(start)
	recorded := len(mustRecorded(t, js, "default", "host_labels_resolved"))
	t.Logf("killed %v in, %v label requests in flight, %d of %d outcomes recorded", killed, inFlight, recorded, hosts)
	require.NotZero(t, inFlight, "killed during enrichment")
	require.Less(t, recorded, hosts, "killed before every outcome was recorded")

	restarted := time.Now()
	p = mustStartProjector(t, s.ClientURL(), "--label-timeout", timeout)
	var pending int
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		pending = 0
		for _, doc := range mustKVHosts(t, js, "default") {
			var h struct {
				Labels  map[string]string `json:"labels"`
				Outcome string            `json:"labels_outcome"`
			}
			require.NoError(t, json.Unmarshal([]byte(doc), &h))
			if len(h.Labels) == 0 && h.Outcome == "" {
				pending++
			}
		}
		if pending > 0 {
			return fmt.Errorf("%d hosts with neither labels nor a recorded outcome", pending)
		}
		return nil
	})
	t.Logf("every host has labels or a recorded outcome %v after the restart", time.Since(restarted))

	outcomes := map[string]string{}
	for _, r := range mustRecorded(t, js, "default", "host_labels_resolved") {
		outcomes[r.HostID] = r.Outcome
	}
	live := mustKVHosts(t, js, "default")
	require.Len(t, live, hosts)
	for i := range hosts {
		id := eventtest.HostID(i)
		var h struct {
			Labels  map[string]string `json:"labels"`
			Outcome string            `json:"labels_outcome"`
		}
		require.NoError(t, json.Unmarshal([]byte(live[id]), &h))
		if silent(i) {
			require.Empty(t, h.Labels, "silent host %d", i)
			require.Equal(t, "timeout", h.Outcome, "silent host %d", i)
			require.Equal(t, "timeout", outcomes[id], "silent host %d: recorded in the stream", i)
		} else {
			require.Equal(t, "yes", h.Labels["answered"], "answering host %d", i)
		}
	}
	waitCaughtUp(t, p, 30*time.Second)
	requireKVEqualsFold(t, js, "default")
	p.stop(t)
}
