package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"latticestate/internal/cli"
	"latticestate/internal/httpapi"
	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/streams"
)

// running is one Run: the connection, the resources and the parts.
type running struct {
	*Server
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
	res *streams.Resources

	reg        *prometheus.Registry
	vnc        *nats.Conn
	view       *view.View
	enricher   *pipeline.Enricher
	sweeper    *pipeline.Sweeper
	projectors []namedProjector
	// byLattice holds the projectors by the lattice they project ("":
	// every lattice), for the sweeper's activation policy.
	byLattice projectorSet
	// stops stop what outlives the group, in reverse order.
	stops []func()
}

// namedProjector is a projector and how errors name it.
type namedProjector struct {
	*pipeline.Projector
	name string
}

// start sets up every part, then runs in g those that run until the
// server stops: the projectors, the HTTP server and the demo hosts. Parts
// that run on their own goroutines (enricher, sweeper) are stopped by the
// returned function, which also undoes a start that failed half-way. Only
// once everything is set up does anything run in g.
func (r *running) start(ctx, gctx context.Context, g *errgroup.Group) (func(), error) {
	stop := func() {
		for _, f := range slices.Backward(r.stops) {
			f()
		}
	}
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := r.startEnricherAndSweeper(gctx); err != nil {
		return stop, err
	}
	if err := RecordHostExpiry(ctx, r.res.Meta, r.cfg.HostExpiry); err != nil {
		r.log.Warn("readers cannot tell when stale hosts expire", "err", err)
	}
	if err := r.newProjectors(ctx); err != nil {
		return stop, err
	}
	if err := r.sweeper.Start(gctx); err != nil {
		return stop, fmt.Errorf("start staleness sweeper: %w", err)
	}
	r.stops = append(r.stops, r.sweeper.Stop)
	if err := r.startView(gctx); err != nil {
		return stop, err
	}
	httpSrv, ln, err := r.newHTTP(gctx)
	if err != nil {
		return stop, err
	}
	var demo *demoHosts
	if r.cfg.DemoHosts > 0 {
		if demo, err = r.newDemo(); err != nil {
			_ = ln.Close()
			return stop, err
		}
	}
	for _, p := range r.projectors {
		goPart(g, gctx, p.name, p.Run)
	}
	goPart(g, gctx, "HTTP server", r.serveHTTP(httpSrv, ln))
	if demo != nil {
		goPart(g, gctx, "demo hosts", demo.run)
	}
	return stop, nil
}

// startEnricherAndSweeper starts the label enricher and makes the staleness sweeper,
// which the projectors feed.
func (r *running) startEnricherAndSweeper(gctx context.Context) error {
	var err error
	r.enricher, err = pipeline.NewEnricher(r.nc, r.js, pipeline.WithEnricherLogger(r.log),
		pipeline.WithEnricherMetrics(pipeline.NewEnricherMetrics(r.reg)), pipeline.WithRequestTimeout(r.cfg.LabelTimeout))
	if err != nil {
		return err
	}
	r.enricher.Start(gctx)
	r.stops = append(r.stops, r.enricher.Stop)
	r.byLattice = projectorSet{}
	r.sweeper, err = pipeline.NewSweeper(r.js, r.res.State, r.cfg.HeartbeatInterval,
		pipeline.WithHostExpiry(r.cfg.HostExpiry), pipeline.WithSweeperLogger(r.log),
		pipeline.WithLatticeActive(r.byLattice.sweeps))
	return err
}

// newProjectors makes a projector for each configured lattice (one for
// every lattice when none is), tracing when configured.
func (r *running) newProjectors(ctx context.Context) error {
	opts := append(slices.Clone(r.projectorOptions), pipeline.WithMetrics(pipeline.NewMetrics(r.reg)),
		pipeline.WithStreamOptions(r.streamOptions()), pipeline.WithIntentHandler(r.enricher.Handle),
		pipeline.WithObserver(r.sweeper.Observe))
	if r.cfg.OTLPEndpoint != "" {
		tracer, shutdown, err := newTracer(ctx, r.cfg.OTLPEndpoint)
		if err != nil {
			return err
		}
		r.stops = append(r.stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(sctx); err != nil {
				r.log.Warn("flush traces", "err", err)
			}
		})
		opts = append(opts, pipeline.WithTracer(tracer))
		r.log.Info("tracing events", "otlp_endpoint", r.cfg.OTLPEndpoint)
	}
	lattices := r.cfg.Lattices
	if len(lattices) == 0 {
		lattices = []string{""}
	}
	for _, l := range lattices {
		p, err := pipeline.New(ctx, r.js, r.res, append(opts, pipeline.WithLattice(l))...)
		if err != nil {
			return err
		}
		name := "projector of every lattice"
		if l != "" {
			name = fmt.Sprintf("projector of lattice %q", l)
		}
		r.projectors = append(r.projectors, namedProjector{p, name})
		r.byLattice[l] = p
	}
	return nil
}

// startView starts the in-memory view of the state bucket that answers the
// host lists, summaries, watches and lattice gauges, on a NATS connection
// of its own: a burst of changes queues there, never in front of the
// projector's messages.
func (r *running) startView(ctx context.Context) error {
	opts := append(cli.NATSOptions("latticestate-view", r.log), r.cfg.NATSOptions...)
	vnc, err := nats.Connect(r.url, opts...)
	if err != nil {
		return fmt.Errorf("connect the state view to NATS at %s: %w", r.url, err)
	}
	r.stops = append(r.stops, vnc.Close)
	js, err := streams.NewJetStream(vnc)
	if err != nil {
		return err
	}
	v, err := view.New(js, view.WithLogger(r.log.With("component", "view")), view.WithMaxWatchers(r.cfg.MaxWatchers))
	if err != nil {
		return err
	}
	if err := r.reg.Register(v.Metrics()); err != nil {
		return fmt.Errorf("state view metrics: %w", err)
	}
	v.Start(ctx)
	r.stops = append(r.stops, v.Stop)
	r.vnc, r.view = vnc, v
	return nil
}

// newHTTP makes the HTTP server of the API, probes and metrics, and its
// listener. Requests (server-sent event streams among them) end when the
// server stops: their base context is gctx.
func (r *running) newHTTP(gctx context.Context) (*http.Server, net.Listener, error) {
	// The view answers host lists, counts and watches from memory; one
	// host, links and ref maps are read from the bucket, on the
	// projectors' connection, as is the history.
	live := read.NewViewSource(r.view, read.NewBucket(r.js, streams.StateBucket))
	api := &httpapi.Server{
		Read:       read.New(live, pipeline.NewHistory(r.js)),
		View:       r.view,
		Healthy:    func() error { return errors.Join(connected(r.nc), connected(r.vnc)) },
		Progress:   r.byLattice,
		Metrics:    promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}),
		HostExpiry: r.cfg.HostExpiry,
		Log:        r.log,
	}
	ln := r.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", r.cfg.HTTPAddr); err != nil {
			return nil, nil, fmt.Errorf("listen for HTTP on %s: %w", r.cfg.HTTPAddr, err)
		}
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return gctx }}
	r.log.Info("serving HTTP", "addr", "http://"+ln.Addr().String())
	return srv, ln, nil
}

// httpShutdownGrace bounds how long requests in progress may take to end
// once the server stops.
const httpShutdownGrace = 10 * time.Second

// serveHTTP serves on ln until ctx ends, then shuts the server down. A
// listener that fails (closed under it, say) ends the part with its error.
func (r *running) serveHTTP(srv *http.Server, ln net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		addr := ln.Addr().String()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			// Connections still open are closed; their requests end with
			// the group's context.
			_ = srv.Close()
			return fmt.Errorf("serve HTTP on %s: %w", addr, err)
		case <-ctx.Done():
		}
		r.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			r.log.Warn("HTTP requests still running at shutdown", "err", err)
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP on %s: %w", addr, err)
		}
		return nil
	}
}

// goPart runs a part in g until ctx ends. A part that fails, or that ends
// while ctx is live, ends the group with the cause; a part that ends
// because ctx did has done its job.
func goPart(g *errgroup.Group, ctx context.Context, name string, run func(context.Context) error) {
	g.Go(func() error {
		err := run(ctx)
		switch {
		case ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
			return nil
		case err == nil:
			return fmt.Errorf("%s: %w", name, ErrPartStopped)
		default:
			return fmt.Errorf("%s: %w", name, err)
		}
	})
}

func connected(nc *nats.Conn) error {
	if !nc.IsConnected() {
		return fmt.Errorf("not connected to NATS (%s)", nc.Status())
	}
	return nil
}
