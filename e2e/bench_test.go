package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// benchEnv is the environment without LATTICESTATE_* settings, so that
// the bench runs with the flags a test gives it.
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATTICESTATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestBench_Smoke runs `projector bench --smoke --format json` with its
// embedded server: it exits 0, and its JSON report has every field a
// script reads, with a number above zero for every stage.
func TestBench_Smoke(t *testing.T) {
	cmd := exec.Command(projectorBin, "bench", "--smoke", "--format", "json", "--data-dir", t.TempDir())
	cmd.Env = benchEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())

	var report map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &report), "stdout is one JSON report:\n%s", stdout.String())
	for _, field := range []string{"report_version", "started", "machine", "server", "params", "stream", "stages", "targets"} {
		require.Contains(t, report, field)
	}
	machine := report["machine"].(map[string]any)
	for _, field := range []string{"go_version", "goos", "goarch", "num_cpu", "gomaxprocs"} {
		require.Contains(t, machine, field)
	}
	params := report["params"].(map[string]any)
	require.Equal(t, true, params["smoke"])
	require.EqualValues(t, 2000, params["events"])
	positive(t, report["stream"], "stream", "events", "bytes", "seconds")

	seen := map[string]int{}
	for _, s := range report["stages"].([]any) {
		stage := s.(map[string]any)
		name := stage["stage"].(string)
		seen[name]++
		positive(t, stage, name, "events", "seconds", "events_per_s")
		switch name {
		case "raw", "naive":
			positive(t, stage, name, "ratio_to_raw", "ratio_to_naive")
		case "replay":
			positive(t, stage, name, "ratio_to_raw", "ratio_to_naive", "kv_writes", "kv_writes_per_s")
		case "live", "floor":
			positive(t, stage, name, "cpu_percent")
			positive(t, stage["live"], name, "offered_per_s", "published_per_s", "samples", "p50_ms", "p99_ms", "max_ms")
			require.EqualValues(t, 0, stage["live"].(map[string]any)["unapplied"])
		case "memory":
			positive(t, stage["memory"], name, "rss_kib", "quarter_events", "quarter_rss_kib", "growth_ratio")
		case "asof":
			positive(t, stage["as_of"], name, "hosts", "live_list_ms", "worst_ratio")
			positive(t, stage["as_of"].(map[string]any)["snapshots"], name, "every", "bytes", "stream_bytes", "share_of_stream")
			require.Len(t, stage["as_of"].(map[string]any)["points"], 3)
		}
	}
	require.Equal(t, map[string]int{"raw": 1, "naive": 1, "replay": 1, "live": 1, "floor": 1, "memory": 1, "asof": 1}, seen)

	targets := report["targets"].([]any)
	require.Len(t, targets, 7)
	for _, tg := range targets {
		for _, field := range []string{"name", "goal", "measured", "pass"} {
			require.Contains(t, tg, field)
		}
	}
	positive(t, report["live_break"], "live_break", "p99_ms", "applied_per_s")
	require.Contains(t, stderr.String(), "bench: replay:", "progress goes to stderr")
}

// positive requires each field of obj to be a number above zero.
func positive(tb testing.TB, obj any, what string, fields ...string) {
	tb.Helper()
	m, ok := obj.(map[string]any)
	require.True(tb, ok, "%s is an object: %v", what, obj)
	for _, f := range fields {
		v, ok := m[f].(float64)
		require.True(tb, ok, "%s.%s is a number: %v", what, f, m[f])
		require.Positive(tb, v, "%s.%s", what, f)
	}
}

// TestBench_RefusesAStreamInUse: bench writes into the event stream, so
// against a server whose stream already holds events it exits 2 and says
// why, leaving the stream as it was.
func TestBench_RefusesAStreamInUse(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	_, err = js.Publish(ctx, streams.HostEventSubject("default"), []byte(`{}`))
	require.NoError(t, err)

	cmd := exec.Command(projectorBin, "bench", "--smoke", "--nats-url", nc.ConnectedUrl())
	cmd.Env = benchEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "bench fails: %v\n%s", err, out)
	require.Equal(t, 2, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), "is not empty (messages: 1)")
	info, err := res.Events.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
}
