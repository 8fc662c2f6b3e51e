package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/embedded"
	"latticestate/internal/natstest"
	"latticestate/internal/server"
	"latticestate/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

// failWithin is how soon after a part fails Run must return its cause.
const failWithin = 2 * time.Second

// testConfig is a server against natsURL (empty: an embedded server in a
// temporary directory) with HTTP on a free port, whose sweeper is quiet.
func testConfig(tb testing.TB, natsURL string) server.Config {
	tb.Helper()
	cfg := server.DefaultConfig()
	cfg.NATSURL = natsURL
	cfg.Embedded.Listen, cfg.Embedded.StoreDir = "127.0.0.1:-1", tb.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.HeartbeatInterval = time.Hour
	return cfg
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mustNew returns a server of cfg with opts and a quiet logger.
func mustNew(tb testing.TB, cfg server.Config, opts ...server.Option) *server.Server {
	tb.Helper()
	srv, err := server.New(cfg, append([]server.Option{server.WithLogger(quietLogger())}, opts...)...)
	require.NoError(tb, err)
	return srv
}

// goRun runs srv until the test ends (or until it returns), returning
// where its result arrives.
func goRun(tb testing.TB, srv *server.Server) <-chan error {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done, returned := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(returned)
		done <- srv.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(30 * time.Second):
			tb.Error("server did not stop within 30s")
		}
	})
	return done
}

// mustReturnWithin waits for Run's result.
func mustReturnWithin(tb testing.TB, done <-chan error, d time.Duration) error {
	tb.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		tb.Fatalf("Run did not return within %v", d)
		return nil
	}
}

// mustGet polls url until it answers 200.
func mustGet(tb testing.TB, url string) {
	tb.Helper()
	natstest.CheckFor(tb, 30*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// A projector whose Run fails (here: its checkpoint in the bucket is not a
// number) stops the whole server, which returns the cause.
func TestServer_Run_ProjectorFails(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	_, err = res.State.PutString(ctx, streams.CheckpointKey(streams.ConsumerName("")), "not a number")
	require.NoError(t, err)

	start := time.Now()
	done := goRun(t, mustNew(t, testConfig(t, s.ClientURL())))
	err = mustReturnWithin(t, done, failWithin)
	require.ErrorContains(t, err, "projector of every lattice")
	require.ErrorContains(t, err, `"not a number"`)
	t.Logf("Run returned the cause %v after it started", time.Since(start).Round(time.Millisecond))
}

// HTTP serving that fails after start-up (its listener closed under it)
// stops the projector and the embedded NATS server; Run returns the cause.
func TestServer_Run_HTTPFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := goRun(t, mustNew(t, testConfig(t, ""), server.WithHTTPListener(ln)))
	mustGet(t, "http://"+ln.Addr().String()+"/readyz")

	require.NoError(t, ln.Close())
	closed := time.Now()
	err = mustReturnWithin(t, done, failWithin)
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorContains(t, err, "serve HTTP on "+ln.Addr().String())
	t.Logf("Run returned the cause %v after the listener closed", time.Since(closed).Round(time.Millisecond))
}

// Cancelling Run's context stops every part and returns nil; a server runs
// once.
func TestServer_Run_Cancel(t *testing.T) {
	s := natstest.MustRunServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := testConfig(t, s.ClientURL())
	cfg.Lattices = []string{"a", "b"}
	srv := mustNew(t, cfg, server.WithHTTPListener(ln))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	mustGet(t, "http://"+ln.Addr().String()+"/readyz")

	cancel()
	require.NoError(t, mustReturnWithin(t, done, 30*time.Second))
	_, err = http.Get("http://" + ln.Addr().String() + "/healthz")
	require.Error(t, err, "nothing serves once Run returned")
	require.ErrorIs(t, srv.Run(context.Background()), server.ErrAlreadyRun)
}

// Setup failures are returned at once, with what failed.
func TestServer_Run_SetupFails(t *testing.T) {
	cfg := testConfig(t, "nats://127.0.0.1:1")
	err := mustNew(t, cfg).Run(context.Background())
	require.ErrorContains(t, err, "connect to NATS at nats://127.0.0.1:1")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg = testConfig(t, "")
	cfg.HTTPAddr = busy.Addr().String()
	err = mustNew(t, cfg).Run(context.Background())
	require.ErrorContains(t, err, "listen for HTTP on "+busy.Addr().String())
}

// New refuses a Config or an option that could only fail later.
func TestNew_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*server.Config)
		opt    server.Option
		want   string
	}{
		{"lattice name", func(c *server.Config) { c.Lattices = []string{"a.b"} }, nil, "lattice"},
		{"heartbeat interval", func(c *server.Config) { c.HeartbeatInterval = 0 }, nil, "heartbeat interval 0s"},
		{"host expiry", func(c *server.Config) { c.HostExpiry = -time.Second }, nil, "host expiry -1s"},
		{"stream limits", func(c *server.Config) { c.EventsMaxBytes = -1 }, nil, "must not be negative"},
		{"replicas", func(c *server.Config) { c.Replicas = 0 }, nil, "replicas 0"},
		{"demo hosts", func(c *server.Config) { c.DemoHosts = -1 }, nil, "demo hosts -1"},
		{"batch size", func(c *server.Config) { c.BatchSize = 0 }, nil, "batch size"},
		{"flush window", func(c *server.Config) { c.FlushWindow = 0 }, nil, "flush window"},
		{"embedded listen", func(c *server.Config) { c.Embedded.Listen = "nowhere" }, nil, "embedded NATS server: listen address"},
		{"embedded cluster", func(c *server.Config) {
			c.Embedded.Cluster = embedded.Cluster{Routes: []string{"nats-route://127.0.0.1:6222"}}
		}, nil, "routes need a cluster listen address"},
		{"nil logger", nil, server.WithLogger(nil), "nil logger"},
		{"nil listener", nil, server.WithHTTPListener(nil), "nil HTTP listener"},
		{"setup timeout", nil, server.WithSetupTimeout(0), "setup timeout 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			if tt.change != nil {
				tt.change(&cfg)
			}
			var opts []server.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			srv, err := server.New(cfg, opts...)
			require.ErrorIs(t, err, server.ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, srv)
		})
	}
	cfg := testConfig(t, "nats://127.0.0.1:4222")
	cfg.Embedded.Listen = "ignored with a NATS URL"
	_, err := server.New(cfg)
	require.NoError(t, err)
}
