package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// TestCluster_LeaderLoss runs the projector against a three-node cluster
// with every stream and the bucket on three replicas, and while 5k events
// (20k under soak) stream in (heartbeats and lifecycle churn, published
// with acknowledgement and published again when not acknowledged) shuts down
// the leader of the event stream, then the meta leader, restarting each
// from its store. The stream must hold every event exactly once and the
// bucket must equal the fold of the stream.
func TestCluster_LeaderLoss(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	// The rate leaves events to publish after each failover, which takes
	// seconds: a fifth of the events, then three fifths, are acknowledged
	// before the two losses.
	events, rate := soakSize(5_000, 20_000), soakSize(500, 2500)
	start := time.Now()
	c := natstest.MustRunCluster(t, 3)
	urls := c.ClientURLs()
	_, js := natstest.MustConnectURL(t, urls)
	t.Logf("cluster of 3 ready in %v, meta leader %s", time.Since(start).Round(time.Millisecond), c.Name(c.MetaLeader()))

	p := mustStartProjector(t, urls, "--replicas", "3", "--batch-size", "500")
	for _, name := range []string{streams.EventsStream, streams.DLQStream, streams.BucketStream(streams.StateBucket), streams.BucketStream(streams.MetaBucket)} {
		requireReplicas(t, js, name, 3)
	}
	cons, err := js.Consumer(context.Background(), streams.EventsStream, streams.ProjectorConsumer)
	require.NoError(t, err)
	require.Equal(t, 3, cons.CachedInfo().Config.Replicas, "consumer replicas")

	lines := workload(23, 200, events, 30)
	// Paced so that both failovers happen while events still stream in.
	pub := startAckedPublisher(t, urls, streams.HostEventSubject("default"), lines, 500, rate)

	require.True(t, pub.waitAcked(events/5), "publisher ended before the first failover")
	require.Less(t, pub.acked.Load(), int64(events), "publisher done before the stream leader was lost")
	leader := mustStreamLeader(t, js, streams.EventsStream)
	lost := c.Index(leader)
	at := pub.acked.Load()
	killed := time.Now()
	c.Shutdown(lost)
	next := waitNewStreamLeader(t, js, streams.EventsStream, leader)
	elected := time.Since(killed)
	t.Logf("stream leader %s shut down after %d events acknowledged; %s elected in %v",
		leader, at, next, elected.Round(time.Millisecond))
	c.MustStart(lost)
	mustWaitClusterCurrent(t, c, js)
	t.Logf("%s restarted and current after %v", leader, time.Since(killed).Round(time.Millisecond))

	require.True(t, pub.waitAcked(events*3/5), "publisher ended before the second failover")
	require.Less(t, pub.acked.Load(), int64(events), "publisher done before the meta leader was lost")
	lost = c.MetaLeader()
	require.NotEqual(t, -1, lost, "no meta leader")
	at = pub.acked.Load()
	killed = time.Now()
	c.Shutdown(lost)
	natstest.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if c.MetaLeader() == -1 {
			return errNotYet
		}
		return nil
	})
	elected = time.Since(killed)
	t.Logf("meta leader %s shut down after %d events acknowledged; %s elected in %v",
		c.Name(lost), at, c.Name(c.MetaLeader()), elected.Round(time.Millisecond))
	c.MustStart(lost)
	mustWaitClusterCurrent(t, c, js)
	t.Logf("%s restarted and current after %v", c.Name(lost), time.Since(killed).Round(time.Millisecond))

	pub.wait(t)
	for _, s := range pub.stalls {
		t.Logf("publisher stalled %v at %v", s.lasted.Round(time.Millisecond), s.at.Round(time.Millisecond))
	}
	t.Logf("published %d events in %v (%.0f/s), %d publishes again after no acknowledgement",
		events, pub.took.Round(time.Millisecond), float64(events)/pub.took.Seconds(), pub.retries.Load())

	caughtUp := time.Now()
	waitCaughtUp(t, p, 2*time.Minute)
	t.Logf("projector caught up %v after the last acknowledgement", time.Since(caughtUp).Round(time.Millisecond))
	pub.requireStreamHoldsExactly(t, js)
	f := requireKVEqualsFold(t, js, "default")
	require.NotEmpty(t, f.Lattice.Hosts)
	requireAPIHostsOf(t, p, "default", len(f.Lattice.Hosts))
	logs := p.logs()
	t.Logf("%d hosts; projector: %d batches retried, %d gap fills, %d reconnects, %d pull requests lost; total %v",
		len(f.Lattice.Hosts), strings.Count(logs, "batch not applied, retrying"), strings.Count(logs, "filling gap"),
		strings.Count(logs, "NATS reconnected"), strings.Count(logs, "no pull request at the consumer leader"),
		time.Since(start).Round(time.Millisecond))
	p.stop(t)
}

// TestCluster_ServeFormsCluster starts three projectors, each with an
// embedded server given --cluster and --routes: the servers form one
// cluster, the streams and the bucket get three replicas on it, and the
// events of three lattices, each published to another node, are projected
// and served by all three. As in the README, the projectors share one
// durable consumer: one of them applies every event, the others stand by.
func TestCluster_ServeFormsCluster(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	start := time.Now()
	nodes := startServeCluster(t, 3)
	t.Logf("3 projectors serving in %v", time.Since(start).Round(time.Millisecond))
	require.Contains(t, nodes[0].logs(), "cluster=latticestate")
	var urls, lattices []string
	procs := make([]*projectorProc, len(nodes))
	for i, n := range nodes {
		urls = append(urls, n.url)
		lattices = append(lattices, fmt.Sprintf("lattice-%d", i))
		procs[i] = n.projectorProc
	}

	_, js := natstest.MustConnectURL(t, strings.Join(urls, ","))
	for _, name := range []string{streams.EventsStream, streams.BucketStream(streams.StateBucket)} {
		info := requireReplicas(t, js, name, 3)
		require.Equal(t, "latticestate", info.Cluster.Name)
	}
	cons, err := js.Consumer(context.Background(), streams.EventsStream, streams.ProjectorConsumer)
	require.NoError(t, err)
	require.Equal(t, 3, cons.CachedInfo().Config.Replicas, "consumer replicas")
	for i, lattice := range lattices {
		lines := workload(uint64(31+i), 50, soakSize(300, 1000), 30)
		pub := startAckedPublisher(t, urls[(i+1)%3], streams.HostEventSubject(lattice), lines, 500, 0)
		pub.wait(t)
		pub.requireStreamHoldsExactly(t, js)
	}
	// A standby is caught up once the active one is, but only the active
	// one knows of its label requests in flight: wait for all.
	for _, p := range procs {
		waitCaughtUp(t, p, time.Minute)
	}
	active := 0
	for _, p := range procs {
		for _, lattice := range lattices {
			f := requireKVEqualsFold(t, js, lattice)
			require.NotEmpty(t, f.Lattice.Hosts)
			requireAPIHostsOf(t, p, lattice, len(f.Lattice.Hosts))
		}
		n, err := p.applied()
		require.NoError(t, err)
		if n > 0 {
			active++
		}
	}
	require.Equal(t, 1, active, "one projector applies the events, the others stand by")
	t.Logf("projected in %v", time.Since(start).Round(time.Millisecond))
	// One at a time: the last nodes keep a quorum for the batches the
	// first ones finish.
	for _, p := range procs {
		p.stop(t)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// requireReplicas requires stream name to have n replicas, all current,
// on distinct servers of one cluster.
func requireReplicas(tb testing.TB, js jetstream.JetStream, name string, n int) *jetstream.StreamInfo {
	tb.Helper()
	var info *jetstream.StreamInfo
	natstest.CheckFor(tb, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		if info, err = streamInfo(js, name); err != nil {
			return err
		}
		return replicasCurrent(info)
	})
	require.Equal(tb, n, info.Config.Replicas, name)
	servers := map[string]bool{info.Cluster.Leader: true}
	for _, r := range info.Cluster.Replicas {
		servers[r.Name] = true
	}
	require.Len(tb, servers, n, "%s is on %v", name, servers)
	return info
}

func streamInfo(js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// replicasCurrent returns nil when info shows a leader and every other
// replica online and current.
func replicasCurrent(info *jetstream.StreamInfo) error {
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader", info.Config.Name)
	}
	if len(info.Cluster.Replicas) != info.Config.Replicas-1 {
		return fmt.Errorf("stream %s has %d followers", info.Config.Name, len(info.Cluster.Replicas))
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return fmt.Errorf("replica %s of %s is not current", r.Name, info.Config.Name)
		}
	}
	return nil
}

// mustStreamLeader returns the server that leads stream name.
func mustStreamLeader(tb testing.TB, js jetstream.JetStream, name string) string {
	tb.Helper()
	return waitNewStreamLeader(tb, js, name, "")
}

// waitNewStreamLeader waits until stream name is led by a server other
// than old ("" for any), and returns it.
func waitNewStreamLeader(tb testing.TB, js jetstream.JetStream, name, old string) string {
	tb.Helper()
	var leader string
	natstest.CheckFor(tb, 30*time.Second, 5*time.Millisecond, func() error {
		info, err := streamInfo(js, name)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || info.Cluster.Leader == old {
			return fmt.Errorf("stream %s has no leader other than %q", name, old)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// mustWaitClusterCurrent waits until every node is routed and current and
// every replica of the projector's streams has caught up, so that losing
// another node leaves a quorum.
func mustWaitClusterCurrent(tb testing.TB, c *natstest.Cluster, js jetstream.JetStream) {
	tb.Helper()
	c.MustWaitReady(30 * time.Second)
	for _, name := range []string{streams.EventsStream, streams.DLQStream, streams.BucketStream(streams.StateBucket), streams.BucketStream(streams.MetaBucket)} {
		natstest.CheckFor(tb, 30*time.Second, 20*time.Millisecond, func() error {
			info, err := streamInfo(js, name)
			if err != nil {
				return err
			}
			return replicasCurrent(info)
		})
	}
}

// requireAPIHostsOf requires the projector's HTTP API to list n hosts of
// lattice.
func requireAPIHostsOf(tb testing.TB, p *projectorProc, lattice string, n int) {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices/" + lattice + "/hosts")
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, code, string(body))
	var hosts []json.RawMessage
	require.NoError(tb, json.Unmarshal(body, &hosts))
	require.Len(tb, hosts, n)
}
