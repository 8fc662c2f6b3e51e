package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"latticestate/internal/cli"
	"latticestate/internal/embedded"
	"latticestate/streams"
)

// drainTimeout bounds how long the connection may take to deliver what it
// holds when the server stops.
const drainTimeout = 10 * time.Second

// Run starts the server and serves until ctx ends, then stops every part
// and returns nil. When a part fails, or ends on its own (ErrPartStopped),
// Run stops the others and returns that cause. Setup failures (the
// embedded server, the connection, JetStream) are returned as they happen.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	if s.ln != nil {
		// Run owns the listener it was given, whatever happens.
		defer s.ln.Close()
	}
	url, stopNATS, err := s.startNATS()
	if err != nil {
		return err
	}
	defer stopNATS()
	nc, closed, err := s.connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Runs after every part has stopped: what they published is delivered.
	defer s.drain(nc, closed)
	js, err := streams.NewJetStream(nc)
	if err != nil {
		return err
	}
	res, err := s.ensure(ctx, js, url)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	r := &running{Server: s, url: url, nc: nc, js: js, res: res}
	stopParts, err := r.start(ctx, gctx, g)
	// Stops what outlives the group (sweeper, enricher, tracer) once the
	// group has ended.
	defer stopParts()
	if err != nil {
		return err
	}
	err = g.Wait()
	if err != nil {
		s.log.Error("a part of serve failed; stopped the others", "err", err)
	}
	return err
}

// startNATS starts the embedded server unless Config.NATSURL names one; it
// returns the URL to connect to and how to stop what it started.
func (s *Server) startNATS() (string, func(), error) {
	if s.cfg.NATSURL != "" {
		return s.cfg.NATSURL, func() {}, nil
	}
	cfg := s.cfg.Embedded
	opts, err := embedded.Options(cfg)
	if err != nil {
		return "", nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	srv, err := embedded.StartWithOptions(opts)
	if errors.Is(err, embedded.ErrListen) {
		return "", nil, fmt.Errorf("embedded NATS server: %w: set --nats-listen (or --cluster) to a free address, or --nats-url to use the server there", err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("start embedded NATS server: %w", err)
	}
	url := srv.ClientURL()
	attrs := []any{"url", url, "data_dir", cfg.StoreDir, "server_name", opts.ServerName}
	if addr := srv.ClusterAddr(); addr != nil {
		attrs = append(attrs, "cluster", opts.Cluster.Name, "routes_listen", addr.String(), "routes", len(opts.Routes))
	}
	s.log.Info("embedded NATS server started", attrs...)
	return url, func() { shutdown(srv) }, nil
}

func shutdown(srv *natsserver.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// connect opens the server's connection; closed is closed once it is.
func (s *Server) connect(url string) (*nats.Conn, <-chan struct{}, error) {
	closed := make(chan struct{})
	opts := append(cli.NATSOptions("latticestate-projector", s.log), s.cfg.NATSOptions...)
	opts = append(opts, nats.DrainTimeout(drainTimeout), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, nil, fmt.Errorf("NATS at %s refused the credentials: %w", url, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, closed, nil
}

// drain delivers what the connection holds and closes it, waiting at most
// a little longer than the drain timeout.
func (s *Server) drain(nc *nats.Conn, closed <-chan struct{}) {
	if err := nc.Drain(); err != nil {
		if !errors.Is(err, nats.ErrConnectionClosed) {
			s.log.Warn("drain NATS connection", "err", err)
		}
		return
	}
	select {
	case <-closed:
	case <-time.After(drainTimeout + time.Second):
		s.log.Warn("drain NATS connection: not closed in time")
	}
}

// ensure creates or updates the streams and buckets, waiting for a
// cluster's nodes up to the setup timeout.
func (s *Server) ensure(ctx context.Context, js jetstream.JetStream, url string) (*streams.Resources, error) {
	ctx, cancel := context.WithTimeout(ctx, s.setupTimeout)
	defer cancel()
	res, err := streams.Ensure(ctx, js, s.streamOptions())
	if err != nil {
		return nil, fmt.Errorf("set up JetStream at %s: %w", url, err)
	}
	return res, nil
}
