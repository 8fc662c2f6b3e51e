// Package server runs latticestate as one process: an embedded NATS server
// (or a connection to one), the JetStream resources, a projector per
// lattice, the label enricher, the staleness sweeper, the HTTP API and
// optional demo hosts. A Server owns these parts and their lifetimes: when
// one fails, or ends on its own, the others are stopped and Run returns
// the cause.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"latticestate/internal/embedded"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/streams"
)

// Config is what a Server runs with. DefaultConfig gives the defaults of
// `projector serve`.
type Config struct {
	// NATSURL is the NATS server to use; empty starts an embedded one
	// configured by Embedded, which is otherwise ignored.
	NATSURL  string
	Embedded embedded.Config
	// NATSOptions are added to the connection's own (credentials, TLS);
	// the demo hosts connect with them too.
	NATSOptions []nats.Option
	// HTTPAddr is where the HTTP API listens, unless WithHTTPListener.
	HTTPAddr string
	// Lattices are the lattices to project, one projector each; empty:
	// one projector for every lattice seen.
	Lattices []string
	// BatchSize and FlushWindow tune the projectors (pipeline.WithBatchSize,
	// pipeline.WithFlushWindow).
	BatchSize   int
	FlushWindow int
	// Replicas of the streams and buckets.
	Replicas int
	// EventsMaxAge and EventsMaxBytes limit the event stream (0:
	// unlimited); an existing stream keeps its own limits unless LimitsSet.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	LimitsSet      bool
	// SnapshotEvery is the most stream sequences between two snapshots of
	// a lattice (0: none).
	SnapshotEvery uint64
	// HeartbeatInterval is the hosts' heartbeat interval: a host silent for
	// pipeline.StaleAfter of them is recorded as stale.
	HeartbeatInterval time.Duration
	// HostExpiry removes a stale host with nothing captured for this long
	// (0: never).
	HostExpiry time.Duration
	// DemoHosts simulated hosts run in-process (0: none).
	DemoHosts int
	// LabelTimeout is how long one inventory request for a host's labels
	// waits for its reply (pipeline.WithRequestTimeout).
	LabelTimeout time.Duration
	// MaxWatchers is the most /watch streams served at once; more are
	// answered 503.
	MaxWatchers int
	// OTLPEndpoint, when set, receives a trace of every event (OTLP/HTTP).
	OTLPEndpoint string
}

// DefaultConfig returns the defaults of `projector serve`: an embedded
// server on 127.0.0.1:4222 storing in ./data, HTTP on 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		Embedded:          embedded.Config{Listen: "127.0.0.1:4222", StoreDir: "./data", Cluster: embedded.Cluster{Name: embedded.DefaultClusterName}},
		HTTPAddr:          "127.0.0.1:8080",
		BatchSize:         pipeline.DefaultBatchSize,
		FlushWindow:       pipeline.DefaultFlushWindow,
		Replicas:          1,
		EventsMaxAge:      streams.DefaultMaxAge,
		SnapshotEvery:     streams.DefaultSnapshotEvery,
		HeartbeatInterval: 30 * time.Second,
		HostExpiry:        pipeline.DefaultHostExpiry,
		MaxWatchers:       view.DefaultMaxWatchers,
		LabelTimeout:      pipeline.DefaultRequestTimeout,
	}
}

// DefaultSetupTimeout bounds how long Run waits for JetStream to place the
// streams and the buckets: a cluster's nodes may start minutes apart.
const DefaultSetupTimeout = 2 * time.Minute

// Option configures a Server; an invalid one fails New.
type Option func(*Server) error

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error {
		if l == nil {
			return errors.New("nil logger")
		}
		s.log = l
		return nil
	}
}

// WithHTTPListener serves the HTTP API on ln instead of listening on
// Config.HTTPAddr; Run closes it when it returns.
func WithHTTPListener(ln net.Listener) Option {
	return func(s *Server) error {
		if ln == nil {
			return errors.New("nil HTTP listener")
		}
		s.ln = ln
		return nil
	}
}

// WithSetupTimeout bounds how long Run waits for JetStream at start
// (DefaultSetupTimeout).
func WithSetupTimeout(d time.Duration) Option {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("setup timeout %v: want a positive duration", d)
		}
		s.setupTimeout = d
		return nil
	}
}

// Server is latticestate as one process; see the package doc. Run it once.
type Server struct {
	cfg          Config
	log          *slog.Logger
	ln           net.Listener
	setupTimeout time.Duration
	// projectorOptions are the options every projector shares.
	projectorOptions []pipeline.Option
	ran              atomic.Bool
}

// New checks cfg and returns a Server that Run starts; nothing is started
// or touched before Run.
// Options: WithLogger, WithHTTPListener, WithSetupTimeout. A Config or an
// option New refuses is an error that wraps ErrInvalidConfig.
func New(cfg Config, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: slog.Default(), setupTimeout: DefaultSetupTimeout}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	if err := s.checkConfig(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if s.cfg.NATSURL == "" {
		dir, err := filepath.Abs(s.cfg.Embedded.StoreDir)
		if err != nil {
			return nil, fmt.Errorf("%w: embedded NATS server: store directory: %w", ErrInvalidConfig, err)
		}
		s.cfg.Embedded.StoreDir = dir
	}
	return s, nil
}

// checkConfig refuses what Run could only fail on later.
func (s *Server) checkConfig() error {
	c := s.cfg
	for _, l := range c.Lattices {
		if err := streams.ValidateLattice(l); err != nil {
			return err
		}
	}
	switch {
	case c.HeartbeatInterval <= 0:
		return fmt.Errorf("heartbeat interval %v: want a positive duration", c.HeartbeatInterval)
	case c.HostExpiry < 0:
		return fmt.Errorf("host expiry %v: want a duration >= 0 (0: hosts never expire)", c.HostExpiry)
	case c.EventsMaxAge < 0 || c.EventsMaxBytes < 0:
		return errors.New("the event stream's limits must not be negative (0: unlimited)")
	case c.Replicas < 1:
		return fmt.Errorf("replicas %d: want at least 1", c.Replicas)
	case c.DemoHosts < 0:
		return fmt.Errorf("demo hosts %d: want 0 or more", c.DemoHosts)
	case c.MaxWatchers < 1:
		return fmt.Errorf("max watchers %d: want at least 1", c.MaxWatchers)
	case c.LabelTimeout <= 0:
		return fmt.Errorf("label request timeout %v: want a positive duration", c.LabelTimeout)
	}
	if c.NATSURL == "" {
		if err := c.Embedded.Validate(); err != nil {
			return fmt.Errorf("embedded NATS server: %w", err)
		}
	}
	s.projectorOptions = []pipeline.Option{pipeline.WithBatchSize(c.BatchSize), pipeline.WithFlushWindow(c.FlushWindow),
		pipeline.WithLogger(s.log), pipeline.WithSnapshotEvery(c.SnapshotEvery)}
	return pipeline.CheckOptions(s.projectorOptions...)
}

// streamOptions are the options of the JetStream resources.
func (s *Server) streamOptions() streams.Options {
	so := streams.DefaultOptions()
	so.Replicas = s.cfg.Replicas
	so.MaxAge, so.MaxBytes, so.LimitsSet = s.cfg.EventsMaxAge, s.cfg.EventsMaxBytes, s.cfg.LimitsSet
	so.Logger = s.log
	so.OnRetry = func(err error, wait time.Duration) {
		s.log.Warn("JetStream not available yet, retrying", "err", err, "wait", wait)
	}
	return so
}
