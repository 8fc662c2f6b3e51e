package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"latticestate/internal/cli"
	"latticestate/internal/embedded"
	"latticestate/internal/server"
	"latticestate/streams"
)

// serveFlags are serve's flags: the server's Config, and what the command
// turns into it.
type serveFlags struct {
	cfg      server.Config
	sync     string
	logLevel string
	conn     cli.ConnFlags
}

// serveLong is serve's help text.
const serveLong = `serve captures wasmCloud lattice events (wasmbus.evt.>) in the JetStream stream
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
                          ?label=k=v (repeatable) ?status=up|stale ?q=text
      ?limit=N&after=<host id>: one page in {"hosts","total","next"}; pass
      next as after for the following page
  GET /api/v1/lattices/{lattice}/summary      counts: hosts by status, actor
      instances, providers by status, versions, contracts, labels
  GET /api/v1/lattices/{lattice}/hosts/{id}   one host (404 if unknown)
      both take ?as_of=<stream sequence | RFC 3339 time>: the state after
      exactly the events up to that point, rebuilt from the nearest snapshot;
      410 when its history is gone (naming the earliest point), 400 past the end
  GET /api/v1/lattices/{lattice}/watch        Server-Sent Events: every host, then
      one event per change (id = bucket revision; resumes with Last-Event-ID);
      the filters above and ?host=<id> (repeatable); ?mode=summary|both for
      summary events; a client too slow to keep up gets "resync" and the end
      of its stream; beyond --max-watchers streams: 503
  GET /api/v1/lattices/{lattice}/links        link definitions, sorted by key
  GET /api/v1/lattices/{lattice}/refmaps      ref maps, sorted by OCI reference
      both take ?as_of= too
  GET /api/v1/lattices/{lattice}/history      the earliest and last points of ?as_of=
  GET /api/v1/lattices                        lattices with documents in the bucket
  GET /api/v1/settings                        what readers need to know of this
      serve: {"host_expiry_seconds": N} (0: hosts never expire)
  GET /          the dashboard: hosts live, links and ref maps, the past with as of
  GET /healthz   200 once NATS, the streams and the bucket are in place
  GET /readyz    200 once every captured event was applied within a second of
                 the probe, else 503 with the lag
  GET /metrics   Prometheus metrics, the lattices' hosts, actor instances and
                 providers among them

Host lists, summaries, watch streams and the lattice gauges are answered from
an in-memory view of the bucket, kept by one watch on a NATS connection of its
own, so that watchers never slow the projector's connection.

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
that user may (the embedded server has no authentication).

serve runs until SIGINT or SIGTERM, then stops every part and exits 0. When a
part fails (a projector that cannot start, HTTP serving that stops, NATS or
JetStream setup), the others are stopped and serve exits 1 with the cause;
flags it refuses exit 2.`

func newServeCmd() *cobra.Command {
	flags := serveFlags{cfg: server.DefaultConfig(), logLevel: "info"}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Project live lattice events from NATS JetStream into the KV bucket and serve them",
		Long:  serveLong,
		Example: `  projector serve
  projector serve --nats-url nats://127.0.0.1:4222 --lattice default --http :8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.check(cmd.Flags()); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, flags, newLogger(cmd.ErrOrStderr(), flags.logLevel))
		},
	}
	flags.register(cmd.Flags())
	return cmd
}

// register defines serve's flags on f.
func (s *serveFlags) register(f *pflag.FlagSet) {
	c := &s.cfg
	s.conn.Register(f)
	f.StringVar(&c.NATSURL, "nats-url", "", "NATS server to use; empty starts an embedded JetStream server")
	s.registerEmbedded(f)
	f.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address for the API, probes and metrics")
	f.StringSliceVar(&c.Lattices, "lattice", nil, "lattice to project (repeatable); default: every lattice seen")
	f.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "events decoded and folded per batch")
	f.IntVar(&c.FlushWindow, "flush-window", c.FlushWindow, "catching up, events folded before the documents they changed are written, each once (near the head every batch is written; 1: every batch)")
	f.IntVar(&c.Replicas, "replicas", c.Replicas, "replicas of the streams and bucket (3 in a cluster)")
	f.StringVar(&s.logLevel, "log-level", s.logLevel, "debug, info, warn or error")
	f.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "trace every event (continuing its traceparent) through decode and KV write, exporting OTLP/HTTP here, e.g. http://localhost:4318; empty: no tracing")
	f.IntVar(&c.MaxWatchers, "max-watchers", c.MaxWatchers, "most /watch streams served at once; more are answered 503")
	f.IntVar(&c.DemoHosts, "demo", 0, "also run N simulated hosts in-process (lattice \"default\", lifecycle churn), to watch without wasmCloud")
	f.DurationVar(&c.EventsMaxAge, "events-max-age", c.EventsMaxAge, "how long the event stream keeps events (0: unlimited); an existing stream keeps its own limit unless this is given")
	f.Int64Var(&c.EventsMaxBytes, "events-max-bytes", 0, "the most bytes the event stream keeps, oldest dropped first (0: unlimited)")
	f.Uint64Var(&c.SnapshotEvery, "snapshot-every", c.SnapshotEvery, "most stream sequences between two snapshots of a lattice (0: none; time travel and replay then need the whole history)")
	f.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "hosts' heartbeat interval; a host silent for 3 intervals is recorded as stale")
	f.DurationVar(&c.HostExpiry, "host-expiry", c.HostExpiry, "remove a stale host with nothing captured for this long, by recording host_expired; 0: never")
	f.DurationVar(&c.LabelTimeout, "label-timeout", c.LabelTimeout, "how long one inventory request for a new host's labels waits for the reply (3 attempts, then the timeout is recorded)")
}

// registerEmbedded defines the flags of the embedded NATS server.
func (s *serveFlags) registerEmbedded(f *pflag.FlagSet) {
	e := &s.cfg.Embedded
	f.StringVar(&e.Listen, "nats-listen", e.Listen, "client address of the embedded NATS server")
	f.StringVar(&e.StoreDir, "data-dir", e.StoreDir, "JetStream storage directory of the embedded NATS server")
	f.StringVar(&e.ServerName, "server-name", "", "name of the embedded NATS server, unique in its cluster; empty: derived from the host name and --data-dir, and kept there")
	f.StringVar(&e.Cluster.Listen, "cluster", "", "route address of the embedded NATS server in a cluster, e.g. 127.0.0.1:6222; empty: standalone")
	f.StringVar(&e.Cluster.Name, "cluster-name", e.Cluster.Name, "name of the cluster, the same on every node")
	f.StringSliceVar(&e.Cluster.Routes, "routes", nil, "route URLs of the other cluster nodes (comma-separated or repeatable), e.g. nats-route://127.0.0.1:6223")
	f.BoolVar(&e.Logs, "server-logs", false, "print the embedded NATS server's own logs")
	f.StringVar(&s.sync, "sync", "", "embedded server: when JetStream syncs to disk: \"always\" (every write), or an interval such as 10s; empty: the server's default, every 2m")
}

// check refuses flags that cannot work together, naming them, and
// completes the Config from what the flags say.
func (s *serveFlags) check(f *pflag.FlagSet) error {
	c := &s.cfg
	sec, err := s.conn.Options()
	if err != nil {
		return cli.Exit(2, err)
	}
	c.NATSOptions = sec
	for _, l := range c.Lattices {
		if err := validateLatticeName(l); err != nil {
			return err
		}
	}
	if c.HostExpiry < 0 {
		return cli.Exit(2, fmt.Errorf("--host-expiry %v: use a duration >= 0 (0: hosts never expire)", c.HostExpiry))
	}
	if c.HeartbeatInterval <= 0 {
		return cli.Exit(2, fmt.Errorf("--heartbeat-interval %v: use a positive duration", c.HeartbeatInterval))
	}
	if c.LabelTimeout <= 0 {
		return cli.Exit(2, fmt.Errorf("--label-timeout %v: use a positive duration", c.LabelTimeout))
	}
	if c.NATSURL != "" {
		for name, set := range map[string]bool{"server-name": c.Embedded.ServerName != "",
			"cluster": c.Embedded.Cluster.Listen != "", "routes": len(c.Embedded.Cluster.Routes) > 0} {
			if set {
				return fmt.Errorf("--%s configures the embedded NATS server, which --nats-url replaces", name)
			}
		}
	}
	c.LimitsSet = f.Changed("events-max-age") || f.Changed("events-max-bytes")
	if c.EventsMaxAge < 0 || c.EventsMaxBytes < 0 {
		return cli.Exit(2, errors.New("--events-max-age and --events-max-bytes must not be negative (0: unlimited)"))
	}
	if s.sync != "" && c.NATSURL != "" {
		return cli.Exit(2, errors.New("--sync configures the embedded NATS server, which --nats-url replaces; set sync_interval in your server's jetstream block"))
	}
	if c.Embedded.Sync, err = embedded.ParseSync(s.sync); err != nil {
		return cli.Exit(2, fmt.Errorf("--sync: %w", err))
	}
	return nil
}

// runServe runs the server until ctx ends: a Config it refuses exits 2, a
// failure while it runs exits 1.
func runServe(ctx context.Context, flags serveFlags, log *slog.Logger) error {
	srv, err := server.New(flags.cfg, server.WithLogger(log))
	if err != nil {
		return cli.Exit(2, err)
	}
	err = srv.Run(ctx)
	if errors.Is(err, nats.ErrAuthorization) {
		err = fmt.Errorf("%w: check --creds, --nkey or --user/--password (or their LATTICESTATE_* variables)", err)
	}
	if err != nil {
		return cli.Exit(1, err)
	}
	return nil
}

// newLogger writes text logs at level (info when it is not one) to w.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
