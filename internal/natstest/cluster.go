package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"latticestate/internal/embedded"
)

// ClusterName is the name of every cluster the helpers start.
const ClusterName = "natstest"

// Cluster is a JetStream cluster of in-process servers on 127.0.0.1, each
// storing under its own directory. Shutdown and Restart lose and recover a
// node: a restarted node keeps its name, ports and store.
type Cluster struct {
	tb testing.TB

	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server // nil while a node is down
}

// MustRunCluster starts an n-node JetStream cluster and waits until every
// node is routed to every other and a meta leader is elected; the cluster
// is shut down when the test ends.
func MustRunCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := NewCluster(tb, n)
	for i := range n {
		c.MustStart(i)
	}
	c.MustWaitReady(30 * time.Second)
	return c
}

// NewCluster configures an n-node cluster without starting any node: every
// node gets free client and route ports, a store under tb.TempDir(), and
// routes to all nodes, so a node expects n peers and no minority elects a
// leader. Start the nodes with MustStart.
func NewCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	ports := MustFreePorts(tb, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats-route://127.0.0.1:" + strconv.Itoa(ports[n+i])
	}
	c := &Cluster{tb: tb, opts: make([]*server.Options, n), servers: make([]*server.Server, n)}
	for i := range n {
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   tb.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
	}
	tb.Cleanup(func() {
		for i := range n {
			c.Shutdown(i)
		}
	})
	return c
}

// MustFreePorts returns n ports on 127.0.0.1 that were free a moment ago,
// for servers that must know each other's ports before any of them starts.
func MustFreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	listeners := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("find a free port: %v", err)
		}
		listeners[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	return ports
}

// MustStart starts node i (again, after Shutdown) from its store.
func (c *Cluster) MustStart(i int) *server.Server {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.servers[i] != nil {
		c.tb.Fatalf("node %d is already running", i)
	}
	s, err := embedded.StartWithOptions(c.opts[i].Clone())
	if err != nil {
		c.tb.Fatalf("start node %d: %v", i, err)
	}
	c.servers[i] = s
	return s
}

// Shutdown stops node i and waits until it is down; a node already down
// is left so.
func (c *Cluster) Shutdown(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart stops node i and starts it again from its store.
func (c *Cluster) Restart(i int) *server.Server {
	c.tb.Helper()
	c.Shutdown(i)
	return c.MustStart(i)
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.opts) }

// Server returns node i, nil while it is down.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Name is node i's server name, as stream and consumer infos report
// leaders and replicas.
func (c *Cluster) Name(i int) string { return c.opts[i].ServerName }

// Index returns the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// ClientURLs lists every node's client URL, comma-separated, as
// nats.Connect and --nats-url take them.
func (c *Cluster) ClientURLs() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = (&url.URL{Scheme: "nats", Host: net.JoinHostPort(o.Host, strconv.Itoa(o.Port))}).String()
	}
	return strings.Join(urls, ",")
}

// MetaLeader returns the node that is the JetStream meta leader, or -1.
func (c *Cluster) MetaLeader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil && s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// Ready returns nil once every running node is routed to every other
// running node, one of them is the meta leader knowing every node as a
// peer, and every running node is current with the meta group.
func (c *Cluster) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := map[string]bool{}
	for i, s := range c.servers {
		if s != nil {
			running[c.opts[i].ServerName] = true
		}
	}
	leaders := 0
	for i, s := range c.servers {
		if s == nil {
			continue
		}
		name := c.opts[i].ServerName
		rz, err := s.Routez(nil)
		if err != nil {
			return fmt.Errorf("routes of %s: %w", name, err)
		}
		routed := map[string]bool{}
		for _, r := range rz.Routes {
			routed[r.RemoteName] = true
		}
		for other := range running {
			if other != name && !routed[other] {
				return fmt.Errorf("%s has no route to %s", name, other)
			}
		}
		if !s.JetStreamIsCurrent() {
			return fmt.Errorf("%s is not current with the meta group", name)
		}
		if s.JetStreamIsLeader() {
			leaders++
			if peers := len(s.JetStreamClusterPeers()); peers != len(c.opts) {
				return fmt.Errorf("meta leader %s knows %d of %d peers", name, peers, len(c.opts))
			}
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d meta leaders among %d running nodes", leaders, len(running))
	}
	return nil
}

// MustWaitReady waits until Ready, failing the test after total.
func (c *Cluster) MustWaitReady(total time.Duration) {
	c.tb.Helper()
	CheckFor(c.tb, total, 25*time.Millisecond, c.Ready)
}
