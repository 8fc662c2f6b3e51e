// Package embedded starts an in-process NATS server with JetStream, so one
// projector binary (or one test) is a working system without an external
// server.
package embedded

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config is what an embedded server needs to be told.
type Config struct {
	// Listen is host:port for client connections; port -1 picks a free one.
	Listen string
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// ServerName names the server (and the node in a cluster).
	ServerName string
	// Logs routes the server's own log lines to the process's stderr.
	Logs bool
}

// Start starts a JetStream server and waits until it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("listen port %q: %w", portStr, err)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      !cfg.Logs,
		MaxPayload: 8 << 20,
	}
	return StartWithOptions(opts)
}

// StartWithOptions starts a server from full options (clusters, accounts).
func StartWithOptions(opts *server.Options) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS server: %w", err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server on %s:%d not ready after 10s", opts.Host, opts.Port)
	}
	return s, nil
}
