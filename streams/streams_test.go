package streams_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// Ensure run by many processes at once leaves one set of resources, and run
// again with other limits updates them in place.
func TestEnsure_ConcurrentAndIdempotent(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := streams.Ensure(ctx, js, streams.DefaultOptions())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	o := streams.DefaultOptions()
	o.MaxAge, o.LimitsSet = time.Hour, true
	res, err := streams.Ensure(ctx, js, o)
	require.NoError(t, err)
	info, err := res.Events.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Hour, info.Config.MaxAge)
	require.ElementsMatch(t, []string{"wasmbus.evt.>", "latticestate.evt.>"}, info.Config.Subjects)
	require.Equal(t, 2*time.Minute, info.Config.Duplicates)
	require.Equal(t, streams.StateBucket, res.State.Bucket())
	for _, name := range []string{streams.ConsumerName(""), streams.ConsumerName("default")} {
		lattice := ""
		if name != streams.ProjectorConsumer {
			lattice = "default"
		}
		c, err := streams.EnsureConsumer(ctx, res.Events, lattice, o)
		require.NoError(t, err)
		_, err = streams.EnsureConsumer(ctx, res.Events, lattice, o)
		require.NoError(t, err, "again")
		require.Equal(t, name, c.CachedInfo().Name)
	}
}

// Limits an operator set on the event stream survive Ensure with the
// default options; options given explicitly change them.
func TestEnsure_KeepsOperatorLimits(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, streams.DefaultMaxAge, res.Events.CachedInfo().Config.MaxAge)
	require.NotNil(t, res.Snapshots)

	cfg := res.Events.CachedInfo().Config
	cfg.MaxAge, cfg.MaxBytes, cfg.MaxMsgs = 30*24*time.Hour, 1<<30, 5_000_000
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	res, err = streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	got := res.Events.CachedInfo().Config
	require.Equal(t, 30*24*time.Hour, got.MaxAge)
	require.Equal(t, int64(1<<30), got.MaxBytes)
	require.Equal(t, int64(5_000_000), got.MaxMsgs)

	o := streams.DefaultOptions()
	o.MaxAge, o.MaxBytes, o.LimitsSet = 0, 0, true
	res, err = streams.Ensure(ctx, js, o)
	require.NoError(t, err)
	got = res.Events.CachedInfo().Config
	require.Zero(t, got.MaxAge, "0 is unlimited")
	require.Equal(t, int64(-1), got.MaxBytes)
	require.Equal(t, int64(5_000_000), got.MaxMsgs, "no flag for it: kept")
}

// A projector consumer made pinned to a priority group (as earlier
// versions made it) is updated in place to the plain pull consumer that
// projectors now take turns on through a lease, keeping its progress.
func TestEnsureConsumer_UpdatesPinnedConsumer(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	cfg := streams.ProjectorConsumerConfig("", streams.DefaultOptions())
	cfg.PriorityPolicy, cfg.PriorityGroups, cfg.PinnedTTL = jetstream.PriorityPolicyPinned, []string{"projectors"}, 5*time.Second
	old, err := res.Events.CreateConsumer(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, nc.Publish(streams.HostEventSubject("default"), []byte("{}")))
	require.NoError(t, nc.Flush())
	batch, err := old.Fetch(1, jetstream.FetchMaxWait(5*time.Second), jetstream.FetchPriorityGroup("projectors"))
	require.NoError(t, err)
	for m := range batch.Messages() {
		require.NoError(t, m.DoubleAck(ctx))
	}
	require.NoError(t, batch.Error())

	c, err := streams.EnsureConsumer(ctx, res.Events, "", streams.DefaultOptions())
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, jetstream.PriorityPolicyNone, info.Config.PriorityPolicy)
	require.Empty(t, info.Config.PriorityGroups)
	require.EqualValues(t, 1, info.AckFloor.Stream, "progress kept")
}

func TestLatticeOf(t *testing.T) {
	for subject, want := range map[string]string{
		"wasmbus.evt.default":                           "default",
		"wasmbus.evt.prod-1.host_heartbeat":             "prod-1",
		"latticestate.evt.default.host_labels_resolved": "default",
		"latticestate.evt.my_lattice.host_stale":        "my_lattice",
	} {
		got, err := streams.LatticeOf(subject)
		require.NoError(t, err, subject)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"wasmbus.evt", "wasmbus.ctl.default", "wasmbus.evt.bad=lattice", "other.evt.default"} {
		_, err := streams.LatticeOf(bad)
		require.Error(t, err, bad)
	}
}

// ValidateLattice accepts exactly the names the pattern of a subject token
// that is also a KV key token matches, and LatticeOf finds the third token
// of the subjects of events as splitting them does.
func TestValidateLattice_AsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	latticeOf := func(subject string) (string, bool) {
		parts := strings.SplitN(subject, ".", 4)
		if len(parts) < 3 || (parts[0] != "wasmbus" && parts[0] != "latticestate") || parts[1] != "evt" {
			return "", false
		}
		return parts[2], pattern.MatchString(parts[2])
	}
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.OneOf(rapid.StringMatching(`[A-Za-z0-9_-]{0,130}`), rapid.String()).Draw(t, "name")
		if got, want := streams.ValidateLattice(name) == nil, pattern.MatchString(name); got != want {
			t.Fatalf("ValidateLattice(%q) accepts: %v, pattern: %v", name, got, want)
		}
		prefix := rapid.SampledFrom([]string{"wasmbus.evt.", "latticestate.evt.", "wasmbus.ctl.", "wasmbus.evt", "evt.", ""}).Draw(t, "prefix")
		suffix := rapid.SampledFrom([]string{"", ".", ".host_heartbeat", ".a.b"}).Draw(t, "suffix")
		subject := prefix + name + suffix
		lattice, err := streams.LatticeOf(subject)
		want, ok := latticeOf(subject)
		if (err == nil) != ok || ok && lattice != want {
			t.Fatalf("LatticeOf(%q) = %q, %v; want %q, %v", subject, lattice, err, want, ok)
		}
	})
}

func TestLatticeOfKey(t *testing.T) {
	for key, want := range map[string]string{
		"default.hosts.NABC":                       "default",
		"prod-1.links.MB/wasmcloud=3Ahttp/default": "prod-1",
		"my_lattice.refmaps.ghcr=2Eio/echo":        "my_lattice",
	} {
		got, ok := streams.LatticeOfKey(key)
		require.True(t, ok, key)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"_meta.checkpoint", "_meta.checkpoint.other", "default.hosts", "default.hosts.", "default.other.x", "nodots"} {
		_, ok := streams.LatticeOfKey(bad)
		require.False(t, ok, bad)
	}
}

func TestEscapeKey(t *testing.T) {
	require.Equal(t, "MB/wasmcloud=3Ahttpserver/default", streams.EscapeKey("MB/wasmcloud:httpserver/default"))
	require.Equal(t, "wasmcloud=2Eazurecr=2Eio/echo=3A0=2E3=2E4", streams.EscapeKey("wasmcloud.azurecr.io/echo:0.3.4"))
	require.Equal(t, "a=3Db=20c", streams.EscapeKey("a=b c"))
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

// Ensure started against one node of a three-node cluster cannot place R3
// resources, nor can the node elect a meta leader alone; Ensure waits, and
// succeeds once the other nodes join.
func TestEnsure_WaitsForClusterQuorum(t *testing.T) {
	c := natstest.NewCluster(t, 3)
	c.MustStart(0)
	_, js := natstest.MustConnect(t, c.Server(0))
	o := streams.DefaultOptions()
	o.Replicas = 3
	var retries atomic.Int64
	start := time.Now()
	o.OnRetry = func(err error, _ time.Duration) {
		retries.Add(1)
		t.Logf("%v: %v", time.Since(start), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		res *streams.Resources
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := streams.Ensure(ctx, js, o)
		done <- result{res, err}
	}()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if retries.Load() == 0 {
			return errors.New("Ensure has not retried")
		}
		return nil
	})
	require.Equal(t, -1, c.MetaLeader(), "one node of three elected itself")
	select {
	case r := <-done:
		t.Fatalf("Ensure returned without a quorum: %v", r.err)
	default:
	}
	c.MustStart(1)
	c.MustStart(2)
	r := <-done
	require.NoError(t, r.err)
	t.Logf("Ensure retried %d times", retries.Load())
	for _, s := range []jetstream.Stream{r.res.Events, r.res.DLQ, r.res.StateStream} {
		info, err := s.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, info.Config.Replicas, info.Config.Name)
		require.NotNil(t, info.Cluster, info.Config.Name)
		require.Equal(t, natstest.ClusterName, info.Cluster.Name)
	}
	meta, err := js.Stream(ctx, streams.BucketStream(streams.MetaBucket))
	require.NoError(t, err)
	require.Equal(t, 3, meta.CachedInfo().Config.Replicas)
	cons, err := streams.EnsureConsumer(ctx, r.res.Events, "", o)
	require.NoError(t, err)
	require.Equal(t, 3, cons.CachedInfo().Config.Replicas)
}

// A request JetStream refuses for good is not retried.
func TestEnsure_FailsFastOnInvalidConfig(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	o := streams.DefaultOptions()
	o.Replicas = 3 // a single server cannot hold three replicas
	var retries atomic.Int64
	o.OnRetry = func(error, time.Duration) { retries.Add(1) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := streams.Ensure(ctx, js, o)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Ensure ran until the deadline")
	require.Zero(t, retries.Load(), "retried %v", err)
}
