// Package natstest starts real embedded NATS servers with JetStream for
// tests: one helper that every package's tests and the e2e suite share.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/embedded"
	"latticestate/streams"
)

// MustRunServer starts a JetStream server on a free port with file storage
// in a temporary directory, shut down when the test ends.
func MustRunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return MustRunServerIn(tb, tb.TempDir(), -1)
}

// MustRunServerIn starts a server storing in dir on port (-1: any free
// port); restarting one on the same dir and port keeps its streams.
func MustRunServerIn(tb testing.TB, dir string, port int) *server.Server {
	tb.Helper()
	s, err := embedded.StartWithOptions(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		tb.Fatalf("start nats-server: %v", err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// MustRunServerFromConfig starts a server configured by the nats-server
// configuration file path (accounts, users, permissions), listening on a
// free loopback port with its monitoring port off and storing in a
// temporary directory, whatever the file says.
func MustRunServerFromConfig(tb testing.TB, path string) *server.Server {
	tb.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = tb.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	s, err := embedded.StartWithOptions(opts)
	if err != nil {
		tb.Fatalf("start nats-server from %s: %v", path, err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// MustConnect connects to s, closed when the test ends.
func MustConnect(tb testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	return MustConnectURL(tb, s.ClientURL(), opts...)
}

// MustConnectURL connects to the servers at urls (comma-separated),
// reconnecting forever, closed when the test ends.
func MustConnectURL(tb testing.TB, urls string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		tb.Fatalf("connect to nats-server: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := streams.NewJetStream(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// CheckFor polls f every interval until it returns nil, failing the test
// with f's last error once total has passed.
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	tb.Fatalf("condition not met after %v: %v", total, err)
}
