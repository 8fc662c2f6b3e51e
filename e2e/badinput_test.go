package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

// hostile are events that must be dead-lettered, never applied, never able
// to stall the consumer.
func hostile() [][]byte {
	hb := func(opts ...eventtest.Option) []byte {
		return eventtest.HostHeartbeat(eventtest.HostID(1), eventtest.Heartbeat{}, opts...)
	}
	return [][]byte{
		[]byte(`{"specversion":"1.0",`),
		[]byte(`not json at all`),
		[]byte(`[]`),
		[]byte("{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\"}"),
		[]byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)),
		[]byte(`{"a":1}{"b":2}`),
		hb(eventtest.Set("specversion", 1.0)),
		hb(eventtest.Set("source", "NBAD.*>")),
		hb(eventtest.Set("source", "N host with spaces")),
		hb(eventtest.Set("data", map[string]any{"actors": "lots"})),
		hb(eventtest.Set("data", map[string]any{"uptime_seconds": "5253"})),
		hb(eventtest.Set("data", map[string]any{"labels": map[string]any{"a": 1}})),
		hb(eventtest.Set("time", "yesterday")),
		hb(eventtest.Delete("id")),
	}
}

// TestServe_BadInputDeadLettered interleaves hostile messages with a valid
// workload: each bad one is in LATTICE_DLQ with its reason, subject and
// sequence, every good one is applied, and the consumer never stalls.
func TestServe_BadInputDeadLettered(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL(), "--batch-size", "64")

	good := workload(3, 20, 2000, 40)
	bad := hostile()
	subject := streams.HostEventSubject("default")
	badSeqs := map[uint64]string{}
	var seq uint64
	for i, g := range good {
		if i%100 == 50 {
			b := bad[(i/100)%len(bad)]
			seq++
			badSeqs[seq] = string(b)
			require.NoError(t, nc.Publish(subject, b))
		}
		seq++
		require.NoError(t, nc.Publish(subject, g))
	}
	// An event on a subject whose lattice token cannot be a key.
	seq++
	badSeqs[seq] = string(good[0])
	require.NoError(t, nc.Publish("wasmbus.evt.bad=lattice", good[0]))
	require.NoError(t, nc.Flush())
	requireStreamHas(t, js, seq)
	waitCaughtUp(t, p, 30*time.Second)

	f := requireKVEqualsFold(t, js, "default")
	require.NotEmpty(t, f.Lattice.Hosts)

	ctx := context.Background()
	dlq, err := js.Stream(ctx, streams.DLQStream)
	require.NoError(t, err)
	info, err := dlq.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(badSeqs), info.State.Msgs)
	cons, err := dlq.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for range len(badSeqs) {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		h := m.Headers()
		n, err := strconv.ParseUint(h.Get(streams.HeaderDLQStreamSeq), 10, 64)
		require.NoError(t, err)
		want, ok := badSeqs[n]
		require.True(t, ok, "dead letter for seq %d, which was good", n)
		require.Equal(t, want, string(m.Data()))
		require.NotEmpty(t, h.Get(streams.HeaderDLQReason))
		require.True(t, strings.HasPrefix(h.Get(streams.HeaderDLQSubject), "wasmbus.evt."))
		delete(badSeqs, n)
	}
	require.Empty(t, badSeqs)

	code, body, err := p.get("/metrics")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "latticestate_events_dead_lettered_total "+strconv.Itoa(int(info.State.Msgs)))
	p.stop(t)
}
