package streams_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

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
	o.MaxAge = time.Hour
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
