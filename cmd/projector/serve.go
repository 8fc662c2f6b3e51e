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
	"latticestate/pipeline"
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
	hostExpiry  time.Duration
	demo        int
	otlp        string
	conn        cli.ConnFlags
	// Retention of the event stream; limitsSet when either was given.
	eventsMaxAge   time.Duration
	eventsMaxBytes int64
	limitsSet      bool
	snapshotEvery  uint64
	sync           string
}

func newServeCmd() *cobra.Command {
	cfg := serveConfig{natsListen: "127.0.0.1:4222", dataDir: "./data", httpAddr: "127.0.0.1:8080", batchSize: pipeline.DefaultBatchSize, flushWindow: pipeline.DefaultFlushWindow, replicas: 1, logLevel: "info", heartbeat: 30 * time.Second,
		eventsMaxAge: streams.DefaultMaxAge, snapshotEvery: streams.DefaultSnapshotEvery, hostExpiry: pipeline.DefaultHostExpiry}
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

A host whose heartbeats stop is recorded as stale after 3 --heartbeat-interval,
and removed once nothing about it has been captured for --host-expiry (default
15m; 0: never), both by events recorded in the stream, so that replay and
--as-of agree with the live state. A later event brings the host back.

HTTP (--http):
  GET /api/v1/lattices/{lattice}/hosts        every host, sorted by id
                          ?label=k=v (repeatable) ?status=up|stale
  GET /api/v1/lattices/{lattice}/hosts/{id}   one host (404 if unknown)
      both take ?as_of=<stream sequence | RFC 3339 time>: the state after
      exactly the events up to that point, rebuilt from the nearest snapshot;
      410 when its history is gone (naming the earliest point), 400 past the end
  GET /api/v1/lattices/{lattice}/watch        Server-Sent Events: every host, then
      one event per change (id = bucket revision; resumes with Last-Event-ID)
  GET /api/v1/lattices/{lattice}/links        link definitions, sorted by key
  GET /api/v1/lattices/{lattice}/refmaps      ref maps, sorted by OCI reference
      both take ?as_of= too
  GET /api/v1/lattices/{lattice}/history      the earliest and last points of ?as_of=
  GET /api/v1/lattices                        lattices with documents in the bucket
  GET /api/v1/settings                        what readers need to know of this
      serve: {"host_expiry_seconds": N} (0: hosts never expire)
  GET /          the dashboard: hosts live, links and ref maps, the past with as of
  GET /healthz   200 once NATS, the streams and the bucket are in place
  GET /readyz    200 while every captured event is applied, else 503 with the lag
  GET /metrics   Prometheus metrics

History: the stream keeps events for --events-max-age (and at most
--events-max-bytes); a stream that exists keeps the limits it has unless one of
these is given. Every --snapshot-every stream sequences at most, the projector
records a snapshot of each lattice with events in the object store
` + streams.SnapshotStore + `; ?as_of= and replay start from the nearest one, and
a point whose events are gone with no snapshot before it answers 410.

Durability (embedded server): --sync always writes every acknowledged event to
disk before acknowledging it; by default the server syncs every 2 minutes, and
acknowledged writes not yet synced are lost on a power cut (not on a crash of
the process).

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
			if cfg.demo < 0 {
				return cli.Exit(2, fmt.Errorf("--demo %d: want a number of simulated hosts, 0 (none) or more", cfg.demo))
			}
			for _, l := range cfg.lattices {
				if err := validateLatticeName(l); err != nil {
					return err
				}
			}
			if cfg.hostExpiry < 0 {
				return cli.Exit(2, fmt.Errorf("--host-expiry %v: use a duration >= 0 (0: hosts never expire)", cfg.hostExpiry))
			}
			if cfg.natsURL != "" {
				for name, set := range map[string]bool{"server-name": cfg.serverName != "",
					"cluster": cfg.cluster.Listen != "", "routes": len(cfg.cluster.Routes) > 0} {
					if set {
						return fmt.Errorf("--%s configures the embedded NATS server, which --nats-url replaces", name)
					}
				}
			}
			cfg.limitsSet = cmd.Flags().Changed("events-max-age") || cmd.Flags().Changed("events-max-bytes")
			if cfg.eventsMaxAge < 0 || cfg.eventsMaxBytes < 0 {
				return cli.Exit(2, errors.New("--events-max-age and --events-max-bytes must not be negative (0: unlimited)"))
			}
			if cfg.sync != "" && cfg.natsURL != "" {
				return cli.Exit(2, errors.New("--sync configures the embedded NATS server, which --nats-url replaces; set sync_interval in your server's jetstream block"))
			}
			if _, err := embedded.ParseSync(cfg.sync); err != nil {
				return cli.Exit(2, fmt.Errorf("--sync: %w", err))
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
	f.DurationVar(&cfg.eventsMaxAge, "events-max-age", cfg.eventsMaxAge, "how long the event stream keeps events (0: unlimited); an existing stream keeps its own limit unless this is given")
	f.Int64Var(&cfg.eventsMaxBytes, "events-max-bytes", 0, "the most bytes the event stream keeps, oldest dropped first (0: unlimited)")
	f.Uint64Var(&cfg.snapshotEvery, "snapshot-every", cfg.snapshotEvery, "most stream sequences between two snapshots of a lattice (0: none; time travel and replay then need the whole history)")
	f.StringVar(&cfg.sync, "sync", "", "embedded server: when JetStream syncs to disk: \"always\" (every write), or an interval such as 10s; empty: the server's default, every 2m")
	f.DurationVar(&cfg.heartbeat, "heartbeat-interval", cfg.heartbeat, "hosts' heartbeat interval; a host silent for 3 intervals is recorded as stale")
	f.DurationVar(&cfg.hostExpiry, "host-expiry", cfg.hostExpiry, "remove a stale host with nothing captured for this long, by recording host_expired; 0: never")
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
		syncPolicy, _ := embedded.ParseSync(cfg.sync)
		opts, err := embedded.Options(embedded.Config{Listen: cfg.natsListen, StoreDir: dir,
			ServerName: cfg.serverName, Cluster: cfg.cluster, Logs: cfg.serverLogs, Sync: syncPolicy})
		if err != nil {
			return fmt.Errorf("embedded NATS server: %w", err)
		}
		srv, err := embedded.StartWithOptions(opts)
		if errors.Is(err, embedded.ErrListen) {
			return fmt.Errorf("embedded NATS server: %w: set --nats-listen (or --cluster) to a free address, or --nats-url to use the server there", err)
		}
		if err != nil {
			return fmt.Errorf("start embedded NATS server: %w", err)
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
	so.MaxAge, so.MaxBytes, so.LimitsSet = cfg.eventsMaxAge, cfg.eventsMaxBytes, cfg.limitsSet
	so.Logger = log
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
	sweeper := pipeline.NewSweeper(js, res.State, cfg.heartbeat, log, pipeline.WithHostExpiry(cfg.hostExpiry))
	if err := recordHostExpiry(ctx, res.Meta, cfg.hostExpiry); err != nil {
		log.Warn("readers cannot tell when stale hosts expire", "err", err)
	}
	opts := []pipeline.Option{pipeline.WithBatchSize(cfg.batchSize), pipeline.WithFlushWindow(cfg.flushWindow),
		pipeline.WithLogger(log), pipeline.WithMetrics(metrics), pipeline.WithStreamOptions(so), pipeline.WithSnapshotEvery(cfg.snapshotEvery),
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

	history := pipeline.NewHistory(js)
	api := &httpapi.Server{
		State:      pipeline.NewStateReader(js),
		Healthy:    func() error { return connected(nc) },
		Progress:   progress,
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		AsOf:       history.Lattice,
		Window:     history.Window,
		HostExpiry: cfg.hostExpiry,
		Log:        log,
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
