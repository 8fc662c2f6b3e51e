package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// serveNode is one node of the README's cluster: a `projector serve`
// process whose embedded NATS server is routed to the other nodes.
type serveNode struct {
	*projectorProc
	url  string   // client URL of the embedded server
	args []string // serve's flags, to start the node again as itself
	name string   // the embedded server's name, from its log
}

var serverNameLine = regexp.MustCompile(`msg="embedded NATS server started" .*server_name=(\S+)`)

// startServeCluster starts n serve processes that form one cluster as the
// README starts them: each with its embedded server listening for routes at
// --cluster, the same --routes listing every node, a --data-dir of its own
// and --replicas 3; and waits until every one serves HTTP.
func startServeCluster(tb testing.TB, n int) []*serveNode {
	tb.Helper()
	ports := natstest.MustFreePorts(tb, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i])
	}
	nodes := make([]*serveNode, n)
	for i := range nodes {
		nodes[i] = &serveNode{url: fmt.Sprintf("nats://127.0.0.1:%d", ports[i]),
			args: []string{"--replicas", "3", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
				"--cluster", fmt.Sprintf("127.0.0.1:%d", ports[n+i]), "--routes", strings.Join(routes, ","),
				"--data-dir", tb.TempDir()}}
		nodes[i].projectorProc = startProjector(tb, "", nodes[i].args...)
	}
	// Each node waits for the others to elect a meta leader.
	for _, node := range nodes {
		node.mustServe(tb, 60*time.Second)
		m := serverNameLine.FindStringSubmatch(node.logs())
		require.NotNil(tb, m, "no server name in the log:\n%s", node.logs())
		node.name = m[1]
	}
	return nodes
}

// restart starts the node's serve process again with the same flags (the
// same ports and store), and requires it to come back as the same server.
func (n *serveNode) restart(tb testing.TB) {
	tb.Helper()
	n.projectorProc = startProjector(tb, "", n.args...)
	n.mustServe(tb, 60*time.Second)
	m := serverNameLine.FindStringSubmatch(n.logs())
	require.NotNil(tb, m, "no server name in the log:\n%s", n.logs())
	require.Equal(tb, n.name, m[1], "the restarted node's server name")
}

// gauge reads one unlabelled sample from the process's /metrics.
func (p *projectorProc) gauge(name string) (float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("metrics %d", code)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(rest, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// mustLeaseHolder waits until exactly one of nodes holds the projector's
// lease, and returns it.
func mustLeaseHolder(tb testing.TB, nodes []*serveNode, total time.Duration) *serveNode {
	tb.Helper()
	var holder *serveNode
	natstest.CheckFor(tb, total, 20*time.Millisecond, func() error {
		holder = nil
		for _, n := range nodes {
			v, err := n.gauge("latticestate_leases_held")
			if err != nil {
				return err
			}
			if v == 1 {
				if holder != nil {
					return fmt.Errorf("%s and %s both hold the lease", holder.name, n.name)
				}
				holder = n
			}
		}
		if holder == nil {
			return errors.New("no node holds the lease")
		}
		return nil
	})
	return holder
}

// raftGroup names a stream, or with consumer set one of its consumers:
// each is replicated by a Raft group of its own, with its own leader.
type raftGroup struct{ stream, consumer string }

func (g raftGroup) String() string {
	if g.consumer == "" {
		return "stream " + g.stream
	}
	return "consumer " + g.stream + "/" + g.consumer
}

// leader returns the server that leads g.
func (g raftGroup) leader(js jetstream.JetStream) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var cluster *jetstream.ClusterInfo
	if g.consumer == "" {
		info, err := streamInfo(js, g.stream)
		if err != nil {
			return "", err
		}
		cluster = info.Cluster
	} else {
		c, err := js.Consumer(ctx, g.stream, g.consumer)
		if err != nil {
			return "", err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return "", err
		}
		cluster = info.Cluster
	}
	if cluster == nil || cluster.Leader == "" {
		return "", fmt.Errorf("%v has no leader", g)
	}
	return cluster.Leader, nil
}

// stepdownSubject is the JetStream API subject that asks g's leader to
// step down.
func (g raftGroup) stepdownSubject() string {
	if g.consumer == "" {
		return "$JS.API.STREAM.LEADER.STEPDOWN." + g.stream
	}
	return "$JS.API.CONSUMER.LEADER.STEPDOWN." + g.stream + "." + g.consumer
}

// mustMoveLeaders makes server the leader of every group: it asks each
// leader to step down in favour of server (a stepdown with a preferred
// placement), all at once and again while one has not, until it has.
func mustMoveLeaders(tb testing.TB, nc *nats.Conn, js jetstream.JetStream, server string, groups ...raftGroup) {
	tb.Helper()
	body, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": server}})
	require.NoError(tb, err)
	asked := map[raftGroup]time.Time{}
	natstest.CheckFor(tb, 30*time.Second, 20*time.Millisecond, func() error {
		var errs []error
		for _, g := range groups {
			leader, err := g.leader(js)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if leader == server {
				continue
			}
			errs = append(errs, fmt.Errorf("%v is led by %s", g, leader))
			// A stepdown takes an election: ask again only when the
			// last one has had time to end.
			if time.Since(asked[g]) < 3*time.Second {
				continue
			}
			asked[g] = time.Now()
			msg, err := nc.Request(g.stepdownSubject(), body, 2*time.Second)
			if err != nil {
				errs = append(errs, fmt.Errorf("stepdown of %v: %w", g, err))
				continue
			}
			var resp struct {
				Success bool `json:"success"`
			}
			if err := json.Unmarshal(msg.Data, &resp); err != nil || !resp.Success {
				errs = append(errs, fmt.Errorf("stepdown of %v to %s refused: %s", g, server, msg.Data))
			}
		}
		return errors.Join(errs...)
	})
}

// TestCluster_NodeKilled runs the README's cluster, three serve processes
// with embedded NATS servers routed to each other, and SIGKILLs the worst
// node while events stream in: the one holding the projector's lease that
// also leads the event stream, the projector's consumer, the state bucket
// and the lease's bucket. The other two go on: they elect new leaders, and
// a standby takes the lease over, and the killed node, started again while
// events still stream in, rejoins as itself. Every acknowledged event is
// in the stream, once, at the sequence acknowledged; the bucket, read
// through a surviving node, equals the fold of the stream; and every node
// serves its hosts.
func TestCluster_NodeKilled(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	events, rate := 4000, 1500
	start := time.Now()
	nodes := startServeCluster(t, 3)
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	t.Logf("3 nodes serving in %v", time.Since(start).Round(time.Millisecond))
	nc, js := natstest.MustConnectURL(t, strings.Join(urls, ","))
	for _, name := range []string{streams.EventsStream, streams.BucketStream(streams.StateBucket), streams.BucketStream(streams.MetaBucket)} {
		requireReplicas(t, js, name, 3)
	}

	victim := mustLeaseHolder(t, nodes, 30*time.Second)
	moving := time.Now()
	groups := map[string]raftGroup{"stream": {streams.EventsStream, ""},
		"consumer": {streams.EventsStream, streams.ProjectorConsumer},
		"state":    {streams.BucketStream(streams.StateBucket), ""},
		"lease":    {streams.BucketStream(streams.MetaBucket), ""}}
	mustMoveLeaders(t, nc, js, victim.name, slices.Collect(maps.Values(groups))...)
	var survivors []*serveNode
	var survivorURLs []string
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
			survivorURLs = append(survivorURLs, n.url)
		}
	}
	t.Logf("%s holds the lease and leads the event stream, the consumer and both buckets (moved in %v)",
		victim.name, time.Since(moving).Round(time.Millisecond))

	lines := workload(41, 200, events, 30)
	pub := startAckedPublisher(t, strings.Join(urls, ","), streams.HostEventSubject("default"), lines, 500, rate)
	require.True(t, pub.waitAcked(events/3), "publisher ended before the kill")
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n, err := victim.applied(); err != nil || n == 0 {
			return fmt.Errorf("the lease holder has applied nothing yet: %v", err)
		}
		return nil
	})
	at := pub.acked.Load()
	require.Less(t, at, int64(events), "publisher done before the kill")
	leaders := map[string]string{}
	for what, g := range groups {
		leaders[what], _ = g.leader(js)
	}
	killed := time.Now()
	victim.kill(t)
	t.Logf("SIGKILLed %s after %d events acknowledged; leaders then: %v", victim.name, at, leaders)

	_, sjs := natstest.MustConnectURL(t, strings.Join(survivorURLs, ","))
	next := waitNewStreamLeader(t, sjs, streams.EventsStream, victim.name)
	t.Logf("%s leads the event stream %v after the kill", next, time.Since(killed).Round(time.Millisecond))
	holder := mustLeaseHolder(t, survivors, 30*time.Second)
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n, err := holder.applied(); err != nil || n == 0 {
			return fmt.Errorf("%s holds the lease and has applied nothing yet: %v", holder.name, err)
		}
		return nil
	})
	t.Logf("%s took the lease over and applied its first events %v after the kill (lease TTL %v)",
		holder.name, time.Since(killed).Round(time.Millisecond), streams.LeaseTTL)
	require.Contains(t, holder.logs(), "taking over from another projector")

	// Started again while events still stream in, the node catches up
	// with the others.
	restarted := time.Now()
	victim.restart(t)
	t.Logf("%s serving again %v after the kill", victim.name, time.Since(killed).Round(time.Millisecond))

	pub.wait(t)
	for _, s := range pub.stalls {
		t.Logf("publisher stalled %v at %v", s.lasted.Round(time.Millisecond), s.at.Round(time.Millisecond))
	}
	t.Logf("published %d events in %v, %d publishes again after no acknowledgement",
		events, pub.took.Round(time.Millisecond), pub.retries.Load())
	for _, n := range survivors {
		waitCaughtUp(t, n.projectorProc, time.Minute)
	}
	t.Logf("survivors caught up %v after the kill", time.Since(killed).Round(time.Millisecond))
	pub.requireStreamHoldsExactly(t, sjs)
	f := requireKVEqualsFold(t, sjs, "default")
	require.NotEmpty(t, f.Lattice.Hosts)
	for _, n := range survivors {
		requireAPIHostsOf(t, n.projectorProc, "default", len(f.Lattice.Hosts))
	}

	for _, name := range []string{streams.EventsStream, streams.DLQStream, streams.BucketStream(streams.StateBucket), streams.BucketStream(streams.MetaBucket)} {
		info := requireReplicas(t, sjs, name, 3)
		servers := []string{info.Cluster.Leader}
		for _, r := range info.Cluster.Replicas {
			servers = append(servers, r.Name)
		}
		require.Contains(t, servers, victim.name, "%s has a replica on the restarted node", name)
	}
	waitCaughtUp(t, victim.projectorProc, time.Minute)
	requireAPIHostsOf(t, victim.projectorProc, "default", len(f.Lattice.Hosts))
	t.Logf("%s rejoined and current %v after its restart; %s holds the lease", victim.name,
		time.Since(restarted).Round(time.Millisecond), mustLeaseHolder(t, nodes, 30*time.Second).name)

	for _, n := range nodes {
		n.stop(t)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
