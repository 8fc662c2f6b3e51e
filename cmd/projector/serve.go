package main

import (
	"context"
	"errors"
	"fmt"
	"latticestate/internal/cli"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"latticestate/internal/embedded"
	"latticestate/internal/httpapi"
	"latticestate/internal/sim"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

type serveConfig struct {
	natsURL     string
	natsListen  string
	dataDir     string
	serverName  string
	cluster     embedded.Cluster
	httpAddr    string
	lattices    []string
	batchSize   int
	flushWindow int
	replicas    int
	logLevel    string
	serverLogs  bool
	heartbeat   time.Duration
	demo        int
	maxWatchers int
	otlp        string
	conn        cli.ConnFlags
}

func newServeCmd() *cobra.Command {
	cfg := serveConfig{natsListen: "127.0.0.1:4222", dataDir: "./data", httpAddr: "127.0.0.1:8080", batchSize: pipeline.DefaultBatchSize, flushWindow: pipeline.DefaultFlushWindow, replicas: 1, logLevel: "info", heartbeat: 30 * time.Second, maxWatchers: view.DefaultMaxWatchers}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Project live lattice events from NATS JetStream into the KV bucket and serve them",
		Long: `serve captures wasmCloud lattice events (wasmbus.evt.>) in the JetStream stream
` + streams.EventsStream + `, folds them into one document per host in the KV bucket
` + streams.StateBucket + ` through a durable consumer, and serves the result over HTTP.

With no --nats-url it starts an embedded NATS server with JetStream, listening on
--nats-listen (hosts connect there) and storing under --data-dir, so one command
is a working system. State survives restarts: the stream, the consumer and the
bucket live in JetStream.

With --cluster the embedded server is a node of a JetStream cluster: it listens
for routes from the other nodes there and connects to them at --routes. Start
three such projectors with --replicas 3 and the stream and the bucket survive
the loss of any one node. Until the nodes have elected a leader, setup waits.

HTTP (--http):
  GET /api/v1/lattices/{lattice}/hosts        every host, sorted by id
                          ?label=k=v (repeatable) ?status=up|stale ?q=text
      ?limit=N&after=<host id>: one page in {"hosts","total","next"}; pass
      next as after for the following page
  GET /api/v1/lattices/{lattice}/summary      counts: hosts by status, actor
      instances, providers by status, versions, contracts, labels
  GET /api/v1/lattices/{lattice}/hosts/{id}   one host (404 if unknown)
      both take ?as_of=<stream sequence | RFC 3339 time>: the state after
      exactly the events up to that point, folded from the stream
  GET /api/v1/lattices/{lattice}/watch        Server-Sent Events: every host, then
      one event per change (id = bucket revision; resumes with Last-Event-ID);
      the filters above and ?host=<id> (repeatable); ?mode=summary|both for
      summary events; a client too slow to keep up gets "resync" and the end
      of its stream; beyond --max-watchers streams: 503
  GET /api/v1/lattices/{lattice}/links        link definitions, sorted by key
  GET /api/v1/lattices/{lattice}/refmaps      ref maps, sorted by OCI reference
      both take ?as_of= too
  GET /api/v1/lattices                        lattices with documents in the bucket
  GET /          the dashboard: hosts live, links and ref maps, the past with as of
  GET /healthz   200 once NATS, the streams and the bucket are in place
  GET /readyz    200 while every captured event is applied, else 503 with the lag
  GET /metrics   Prometheus metrics, the lattices' hosts, actor instances and
                 providers among them

Queries, the watch streams and the lattice gauges are answered from an
in-memory view of the bucket, kept by one watch on a NATS connection of its
own, so that watchers never slow the projector's connection.

Every flag can also be set in the environment as LATTICESTATE_<FLAG>, e.g.
LATTICESTATE_NATS_URL=nats://nats:4222.

` + cli.ConnHelp + `
The user needs the permissions of the projector user in deploy/nats/nats.conf.
--demo hosts connect with the same credentials, so they can publish only where
that user may (the embedded server has no authentication).`,
		Example: `  projector serve
  projector serve --nats-url nats://127.0.0.1:4222 --lattice default --http :8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := cfg.conn.Options(); err != nil {
				return cli.Exit(2, err)
			}
			for _, l := range cfg.lattices {
				if err := validateLatticeName(l); err != nil {
					return err
				}
			}
			if cfg.maxWatchers < 1 {
				return cli.Exit(2, fmt.Errorf("--max-watchers %d: want at least 1", cfg.maxWatchers))
			}
			if cfg.natsURL != "" {
				for name, set := range map[string]bool{"server-name": cfg.serverName != "",
					"cluster": cfg.cluster.Listen != "", "routes": len(cfg.cluster.Routes) > 0} {
					if set {
						return fmt.Errorf("--%s configures the embedded NATS server, which --nats-url replaces", name)
					}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, newLogger(cmd.ErrOrStderr(), cfg.logLevel))
		},
	}
	f := cmd.Flags()
	cfg.conn.Register(f)
	f.StringVar(&cfg.natsURL, "nats-url", "", "NATS server to use; empty starts an embedded JetStream server")
	f.StringVar(&cfg.natsListen, "nats-listen", cfg.natsListen, "client address of the embedded NATS server")
	f.StringVar(&cfg.dataDir, "data-dir", cfg.dataDir, "JetStream storage directory of the embedded NATS server")
	f.StringVar(&cfg.serverName, "server-name", "", "name of the embedded NATS server, unique in its cluster; empty: derived from the host name and --data-dir, and kept there")
	f.StringVar(&cfg.cluster.Listen, "cluster", "", "route address of the embedded NATS server in a cluster, e.g. 127.0.0.1:6222; empty: standalone")
	f.StringVar(&cfg.cluster.Name, "cluster-name", embedded.DefaultClusterName, "name of the cluster, the same on every node")
	f.StringSliceVar(&cfg.cluster.Routes, "routes", nil, "route URLs of the other cluster nodes (comma-separated or repeatable), e.g. nats-route://127.0.0.1:6223")
	f.StringVar(&cfg.httpAddr, "http", cfg.httpAddr, "HTTP listen address for the API, probes and metrics")
	f.StringSliceVar(&cfg.lattices, "lattice", nil, "lattice to project (repeatable); default: every lattice seen")
	f.IntVar(&cfg.batchSize, "batch-size", cfg.batchSize, "events decoded and folded per batch")
	f.IntVar(&cfg.flushWindow, "flush-window", cfg.flushWindow, "catching up, events folded before the documents they changed are written, each once (near the head every batch is written; 1: every batch)")
	f.IntVar(&cfg.replicas, "replicas", cfg.replicas, "replicas of the streams and bucket (3 in a cluster)")
	f.StringVar(&cfg.logLevel, "log-level", cfg.logLevel, "debug, info, warn or error")
	f.BoolVar(&cfg.serverLogs, "server-logs", false, "print the embedded NATS server's own logs")
	f.StringVar(&cfg.otlp, "otlp-endpoint", "", "trace every event (continuing its traceparent) through decode and KV write, exporting OTLP/HTTP here, e.g. http://localhost:4318; empty: no tracing")
	f.IntVar(&cfg.demo, "demo", 0, "also run N simulated hosts in-process (lattice \"default\", lifecycle churn), to watch without wasmCloud")
	f.IntVar(&cfg.maxWatchers, "max-watchers", cfg.maxWatchers, "most /watch streams served at once; more are answered 503")
	f.DurationVar(&cfg.heartbeat, "heartbeat-interval", cfg.heartbeat, "hosts' heartbeat interval; a host silent for 3 intervals is recorded as stale")
	return cmd
}

// setupTimeout bounds how long serve waits for JetStream to place the
// streams and the bucket.
const setupTimeout = 2 * time.Minute

func newLogger(w interface{ Write([]byte) (int, error) }, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	url := cfg.natsURL
	if url == "" {
		dir, err := filepath.Abs(cfg.dataDir)
		if err != nil {
			return err
		}
		opts, err := embedded.Options(embedded.Config{Listen: cfg.natsListen, StoreDir: dir,
			ServerName: cfg.serverName, Cluster: cfg.cluster, Logs: cfg.serverLogs})
		if err != nil {
			return fmt.Errorf("embedded NATS server: %w", err)
		}
		srv, err := embedded.StartWithOptions(opts)
		if err != nil {
			return fmt.Errorf("start embedded NATS server (is %s in use? set --nats-listen or --nats-url): %w", cfg.natsListen, err)
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		url = srv.ClientURL()
		attrs := []any{"url", url, "data_dir", dir, "server_name", opts.ServerName}
		if addr := srv.ClusterAddr(); addr != nil {
			attrs = append(attrs, "cluster", opts.Cluster.Name, "routes_listen", addr.String(), "routes", len(opts.Routes))
		}
		log.Info("embedded NATS server started", attrs...)
	}
	sec, err := cfg.conn.Options()
	if err != nil {
		return cli.Exit(2, err)
	}
	nc, err := nats.Connect(url, append(cli.NATSOptions("latticestate-projector", log), sec...)...)
	if errors.Is(err, nats.ErrAuthorization) {
		return authError(url, err)
	}
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	defer nc.Close()
	js, err := streams.NewJetStream(nc)
	if err != nil {
		return err
	}
	so := streams.DefaultOptions()
	so.Replicas = cfg.replicas
	so.OnRetry = func(err error, wait time.Duration) {
		log.Warn("JetStream not available yet, retrying", "err", err, "wait", wait)
	}
	// A cluster's nodes may be started minutes apart; Ensure waits for them.
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	res, err := streams.Ensure(setupCtx, js, so)
	cancel()
	if err != nil {
		return fmt.Errorf("set up JetStream at %s: %w", url, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := pipeline.NewMetrics(reg)
	lattices := cfg.lattices
	if len(lattices) == 0 {
		lattices = []string{""}
	}
	enricher := pipeline.NewEnricher(nc, js, pipeline.EnricherConfig{Logger: log, Metrics: pipeline.NewEnricherMetrics(reg)})
	enricher.Start(ctx)
	defer enricher.Stop()
	sweeper := pipeline.NewSweeper(js, res.State, cfg.heartbeat, log)
	opts := []pipeline.Option{pipeline.WithBatchSize(cfg.batchSize), pipeline.WithFlushWindow(cfg.flushWindow),
		pipeline.WithLogger(log), pipeline.WithMetrics(metrics), pipeline.WithStreamOptions(so),
		pipeline.WithIntentHandler(enricher.Handle), pipeline.WithObserver(sweeper.Observe)}
	if cfg.otlp != "" {
		tracer, shutdown, err := newTracer(ctx, cfg.otlp)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(sctx); err != nil {
				log.Warn("flush traces", "err", err)
			}
		}()
		opts = append(opts, pipeline.WithTracer(tracer))
		log.Info("tracing events", "otlp_endpoint", cfg.otlp)
	}
	var projectors []*pipeline.Projector
	byLattice := map[string]*pipeline.Projector{}
	for _, l := range lattices {
		p, err := pipeline.New(ctx, js, res, append(opts, pipeline.WithLattice(l))...)
		if err != nil {
			return err
		}
		projectors = append(projectors, p)
		byLattice[l] = p
	}
	progress := lagOf(projectors)
	sweeper.Active = func(ctx context.Context, lattice string) bool {
		p := projectors[0]
		if len(projectors) > 1 {
			if p = byLattice[lattice]; p == nil {
				return false
			}
		}
		st, err := p.Status(ctx)
		return err == nil && st.Active && st.CaughtUp()
	}
	if err := sweeper.Start(ctx); err != nil {
		return fmt.Errorf("start staleness sweeper: %w", err)
	}
	defer sweeper.Stop()

	// The view reads the bucket on a connection of its own: a burst of
	// changes queues there, never in front of the projector's messages.
	vnc, err := nats.Connect(url, append(cli.NATSOptions("latticestate-view", log), sec...)...)
	if err != nil {
		return fmt.Errorf("connect the state view to NATS at %s: %w", url, err)
	}
	defer vnc.Close()
	stateView, err := startView(ctx, vnc, cfg.maxWatchers, log)
	if err != nil {
		return err
	}
	defer stateView.Stop()
	reg.MustRegister(stateView.Metrics())

	api := &httpapi.Server{
		State:    pipeline.NewStateReader(js, res.Meta),
		View:     stateView,
		Healthy:  func() error { return errors.Join(connected(nc), connected(vnc)) },
		Progress: progress,
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		AsOf: func(ctx context.Context, lattice string, asOf pipeline.AsOf) (*projections.Lattice, error) {
			return pipeline.FoldStream(ctx, js, lattice, asOf)
		},
		Log: log,
	}
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("listen for HTTP on %s: %w", cfg.httpAddr, err)
	}
	// Requests (server-sent event streams among them) end when serve does.
	httpSrv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	log.Info("serving HTTP", "addr", "http://"+ln.Addr().String())

	var wg sync.WaitGroup
	for _, p := range projectors {
		wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				log.Error("projector", "err", err)
			}
		})
	}
	if cfg.demo > 0 {
		demo, err := startDemo(ctx, url, sec, cfg.demo, cfg.heartbeat, log)
		if err != nil {
			return err
		}
		defer demo()
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	wg.Wait()
	if drainErr := nc.Drain(); drainErr != nil {
		log.Warn("drain NATS connection", "err", drainErr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// startDemo runs n simulated hosts on their own connection, as real hosts
// would be; the returned function stops them (publishing host_stopped).
func startDemo(ctx context.Context, url string, sec []nats.Option, n int, interval time.Duration, log *slog.Logger) (func(), error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("latticestate-demo-hosts")}, sec...)...)
	if err != nil {
		return nil, fmt.Errorf("demo hosts: %w", err)
	}
	lattice, err := sim.New(nc, sim.Config{
		Hosts: n, Interval: interval, Scenario: sim.ScenarioChurn, SilentRatio: 0.2,
		Logger: log.With("component", "demo"),
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("demo hosts: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- lattice.Run(ctx) }()
	log.Info("demo hosts started", "hosts", n, "lattice", sim.DefaultLattice)
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn("demo hosts", "err", err)
		}
		nc.Close()
	}, nil
}

// startView starts the in-memory view of the active state bucket on nc.
func startView(ctx context.Context, nc *nats.Conn, maxWatchers int, log *slog.Logger) (*view.View, error) {
	js, err := streams.NewJetStream(nc)
	if err != nil {
		return nil, err
	}
	meta, err := js.KeyValue(ctx, streams.MetaBucket)
	if err != nil {
		return nil, fmt.Errorf("state view: open bucket %s: %w", streams.MetaBucket, err)
	}
	v, err := view.New(js, meta, view.WithLogger(log.With("component", "view")), view.WithMaxWatchers(maxWatchers))
	if err != nil {
		return nil, err
	}
	v.Start(ctx)
	return v, nil
}

func connected(nc *nats.Conn) error {
	if !nc.IsConnected() {
		return fmt.Errorf("not connected to NATS (%s)", nc.Status())
	}
	return nil
}

type projectorsLag []*pipeline.Projector

func lagOf(ps []*pipeline.Projector) httpapi.Progress { return projectorsLag(ps) }

func (ps projectorsLag) Lag(ctx context.Context) (uint64, error) {
	var total uint64
	for _, p := range ps {
		st, err := p.Status(ctx)
		if err != nil {
			return 0, err
		}
		total += st.Pending + uint64(st.AckPending)
	}
	return total, nil
}
