// Package embedded starts an in-process NATS server with JetStream, so one
// projector binary (or one test) is a working system without an external
// server. Servers started with a Cluster join a JetStream cluster.
package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config is what an embedded server needs to be told.
type Config struct {
	// Listen is host:port for client connections; port -1 picks a free one.
	Listen string
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// ServerName names the server (and the node in a cluster); empty:
	// StableServerName(StoreDir).
	ServerName string
	// Cluster, when its Listen is set, makes the server a node of a
	// JetStream cluster.
	Cluster Cluster
	// Logs routes the server's own log lines to the process's stderr.
	Logs bool
	// Sync is when JetStream syncs its files to disk (see ParseSync); the
	// zero Sync keeps the server's default.
	Sync Sync
}

// Sync is a JetStream sync policy: Always, or every Interval; the zero
// Sync is the server's default (every 2 minutes).
type Sync struct {
	Always   bool
	Interval time.Duration
}

// ParseSync reads "always", an interval such as "10s", or "" (the
// server's default).
func ParseSync(s string) (Sync, error) {
	switch s {
	case "":
		return Sync{}, nil
	case "always":
		return Sync{Always: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Sync{}, fmt.Errorf("%q: want \"always\" or a positive interval such as 10s", s)
	}
	return Sync{Interval: d}, nil
}

// Cluster is how a server joins a cluster.
type Cluster struct {
	// Listen is host:port for route connections from the other nodes; empty
	// runs the server standalone. Port -1 picks a free one.
	Listen string
	// Name is the cluster's name, the same on every node; empty:
	// DefaultClusterName.
	Name string
	// Routes are the nodes' route URLs (nats-route://host:port), at least
	// one; a node may list itself, which the server ignores, so every node
	// can be given the same list.
	Routes []string
}

// DefaultClusterName is the cluster name unless one is given.
const DefaultClusterName = "latticestate"

// serverNameFile keeps a derived server name in the store directory, so the
// node keeps its JetStream identity when the host is renamed.
const serverNameFile = "server-name"

// Start starts a JetStream server and waits until it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	opts, err := Options(cfg)
	if err != nil {
		return nil, err
	}
	return StartWithOptions(opts)
}

// Options turns cfg into the server's options, deriving the server name
// when none is given.
func Options(cfg Config) (*server.Options, error) {
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address: %w", err)
	}
	opts := &server.Options{
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      !cfg.Logs,
		MaxPayload: 8 << 20,
	}
	switch {
	case cfg.Sync.Always:
		opts.SyncAlways = true
	case cfg.Sync.Interval > 0:
		opts.SyncInterval = cfg.Sync.Interval
	}
	if err := cfg.Cluster.apply(opts); err != nil {
		return nil, err
	}
	opts.ServerName = cfg.ServerName
	if opts.ServerName == "" {
		if opts.ServerName, err = StableServerName(cfg.StoreDir); err != nil {
			return nil, err
		}
	}
	if err := validateName("server name", opts.ServerName); err != nil {
		return nil, err
	}
	return opts, nil
}

// Validate checks cfg as Options does, without touching the store
// directory: a command refuses its flags before anything starts.
func (cfg Config) Validate() error {
	if _, _, err := splitHostPort(cfg.Listen); err != nil {
		return fmt.Errorf("listen address: %w", err)
	}
	if err := cfg.Cluster.apply(&server.Options{}); err != nil {
		return err
	}
	if cfg.ServerName != "" {
		return validateName("server name", cfg.ServerName)
	}
	return nil
}

// apply sets the cluster options of opts: the route listener, the cluster
// name (JetStream clustering needs it, and the server name) and the routes.
func (c Cluster) apply(opts *server.Options) error {
	if c.Listen == "" {
		if len(c.Routes) > 0 {
			return errors.New("routes need a cluster listen address")
		}
		return nil
	}
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("cluster listen address: %w", err)
	}
	name := c.Name
	if name == "" {
		name = DefaultClusterName
	}
	if err := validateName("cluster name", name); err != nil {
		return err
	}
	// A JetStream node that knows no other node would never learn of one.
	if len(c.Routes) == 0 {
		return errors.New("a cluster node needs routes to the other nodes (nats-route://host:port)")
	}
	for _, r := range c.Routes {
		if err := validateRoute(r); err != nil {
			return err
		}
	}
	opts.Cluster.Host = host
	opts.Cluster.Port = port
	opts.Cluster.Name = name
	opts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from -1 to 65535", addr, portStr)
	}
	return host, port, nil
}

// validateRoute accepts nats-route://host:port (or nats://), as a route
// URL that RoutesFromStr would otherwise pass on unparsed.
func validateRoute(r string) error {
	u, err := url.Parse(strings.TrimSpace(r))
	if err != nil {
		return fmt.Errorf("route %q: %w", r, err)
	}
	if u.Scheme != "nats-route" && u.Scheme != "nats" {
		return fmt.Errorf("route %q: want nats-route://host:port", r)
	}
	if _, _, err := splitHostPort(u.Host); err != nil || u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("route %q: want nats-route://host:port", r)
	}
	return nil
}

var (
	namePattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	notInNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

func validateName(what, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid %s %q: use 1-128 letters, digits, '.', '-' or '_'", what, name)
	}
	return nil
}

// StableServerName returns the server name kept in storeDir, or derives
// one from the host name and the store directory's absolute path and keeps
// it there: a node restarted on the same store is the same JetStream peer,
// and nodes on one machine (which cannot share a store) differ.
func StableServerName(storeDir string) (string, error) {
	dir, err := filepath.Abs(storeDir)
	if err != nil {
		return "", fmt.Errorf("store directory %q: %w", storeDir, err)
	}
	file := filepath.Join(dir, serverNameFile)
	if b, err := os.ReadFile(file); err == nil {
		name := strings.TrimSpace(string(b))
		if err := validateName("server name in "+file, name); err != nil {
			return "", err
		}
		return name, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read server name: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.Trim(notInNameChars.ReplaceAllString(host, "-"), "-")
	if len(host) > 64 {
		host = host[:64]
	}
	if host == "" {
		host = "latticestate"
	}
	sum := sha256.Sum256([]byte(dir))
	name := host + "-" + hex.EncodeToString(sum[:4])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create store directory: %w", err)
	}
	if err := os.WriteFile(file, []byte(name+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("keep server name: %w", err)
	}
	return name, nil
}

// ErrListen is returned by StartWithOptions when an address the server is to
// listen on cannot be bound, typically because another process holds it.
var ErrListen = errors.New("cannot listen")

// StartWithOptions starts a server from full options (clusters, accounts).
// An address it cannot listen on is reported at once, as ErrListen: the
// server itself would only fail to become ready.
func StartWithOptions(opts *server.Options) (*server.Server, error) {
	for _, l := range []struct {
		what string
		host string
		port int
	}{{"client address", opts.Host, opts.Port}, {"cluster address", opts.Cluster.Host, opts.Cluster.Port}, {"monitoring address", opts.HTTPHost, opts.HTTPPort}} {
		if err := checkListen(l.what, l.host, l.port); err != nil {
			return nil, err
		}
	}
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

// checkListen binds host:port and lets it go again; port 0 or -1 (any free
// port) needs no check.
func checkListen(what, host string, port int) error {
	if port <= 0 {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w on %s %s: another process (a NATS server, another projector) is listening there", ErrListen, what, addr)
	case err != nil:
		return fmt.Errorf("%w on %s %s: %w", ErrListen, what, addr, err)
	}
	return ln.Close()
}
