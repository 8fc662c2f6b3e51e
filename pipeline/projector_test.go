package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/direct"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LibraryLeaks...)
}

// mustLines reads the non-empty lines of a testdata file.
func mustLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	require.NoError(tb, err)
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return lines
}

// startProjector runs a projector until the test ends.
func startProjector(tb testing.TB, js jetstream.JetStream, res *streams.Resources, opts ...pipeline.Option) *pipeline.Projector {
	tb.Helper()
	return runProjector(tb, js, res, opts...).p
}

// running is a projector whose Run ends when the test does, or earlier
// with stop.
type running struct {
	p       *pipeline.Projector
	metrics *pipeline.Metrics
	stop    func()
}

// runProjector runs a projector with opts and its own metrics.
func runProjector(tb testing.TB, js jetstream.JetStream, res *streams.Resources, opts ...pipeline.Option) *running {
	tb.Helper()
	m := pipeline.NewMetrics(nil)
	p, err := pipeline.New(context.Background(), js, res, append(opts, pipeline.WithMetrics(m))...)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	r := &running{p: p, metrics: m, stop: func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(tb, <-done)
		}
	}}
	tb.Cleanup(r.stop)
	return r
}

func mustHostDocs(tb testing.TB, js jetstream.JetStream, kv jetstream.KeyValue, lattice string) map[string]*projections.Host {
	tb.Helper()
	out := map[string]*projections.Host{}
	// Direct gets read what the bucket holds at the time, deterministically,
	// while the projector writes it (a key watcher can end its listing early
	// while keys are being replaced).
	_, err := direct.Last(context.Background(), js, kv.Bucket(), []string{streams.HostKeys(lattice)}, func(e direct.Entry) error {
		h, err := projections.UnmarshalHost(e.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
		out[h.HostID] = h
		return nil
	})
	require.NoError(tb, err)
	return out
}

func TestProjector_Run(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)

	lines := mustLines(t, "testdata/otp_sequence.jsonl")
	bad := [][]byte{[]byte(`{"nope":`), []byte(`{"specversion":"1.0","id":"x","source":"not.a key","type":"com.wasmcloud.lattice.host_heartbeat","data":{}}`)}
	var published [][]byte
	for i, l := range lines {
		published = append(published, l)
		require.NoError(t, nc.Publish(streams.HostEventSubject("default"), l))
		if i == 3 {
			for _, b := range bad {
				published = append(published, b)
				require.NoError(t, nc.Publish(streams.HostEventSubject("default"), b))
			}
		}
	}
	require.NoError(t, nc.Flush())

	p := startProjector(t, js, res, pipeline.WithBatchSize(3))

	folder := projections.NewFolder("default")
	for i, l := range published {
		_ = folder.Add(uint64(i+1), l)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := p.Status(ctx)
		if err != nil {
			return err
		}
		if !st.CaughtUp() {
			return errorf("not caught up: %+v", st)
		}
		return nil
	})
	got := mustHostDocs(t, js, res.State, "default")
	want := folder.Lattice.Hosts
	require.Len(t, got, len(want))
	for id, h := range want {
		wantJSON, err := projections.Marshal(h)
		require.NoError(t, err)
		gotJSON, err := projections.Marshal(got[id])
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(gotJSON))
	}
	info, err := res.DLQ.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(bad), info.State.Msgs)
	m, err := res.DLQ.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.NotEmpty(t, m.Header.Get(streams.HeaderDLQReason))
	require.Equal(t, "5", m.Header.Get(streams.HeaderDLQStreamSeq))
}
