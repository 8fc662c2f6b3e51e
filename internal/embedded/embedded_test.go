package embedded_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/embedded"
)

func TestOptions_Cluster(t *testing.T) {
	dir := t.TempDir()
	opts, err := embedded.Options(embedded.Config{
		Listen: "127.0.0.1:4222", StoreDir: dir, ServerName: "n1",
		Cluster: embedded.Cluster{Listen: "127.0.0.1:6222",
			Routes: []string{"nats-route://127.0.0.1:6222", " nats-route://127.0.0.1:6223"}},
	})
	require.NoError(t, err)
	require.Equal(t, "n1", opts.ServerName)
	require.Equal(t, "127.0.0.1", opts.Cluster.Host)
	require.Equal(t, 6222, opts.Cluster.Port)
	require.Equal(t, embedded.DefaultClusterName, opts.Cluster.Name)
	require.Len(t, opts.Routes, 2)
	require.Equal(t, "127.0.0.1:6223", opts.Routes[1].Host)

	opts, err = embedded.Options(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: dir, ServerName: "n1"})
	require.NoError(t, err)
	require.Zero(t, opts.Cluster.Port, "standalone")
	require.Empty(t, opts.Routes)
}

func TestOptions_Invalid(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  embedded.Config
		want string
	}{
		"listen without port": {embedded.Config{Listen: "localhost"}, "listen address"},
		"listen port":         {embedded.Config{Listen: "127.0.0.1:http"}, "not a number"},
		"routes alone": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Routes: []string{"nats-route://127.0.0.1:6222"}}}, "routes need a cluster listen address"},
		"cluster port": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:70000", Routes: []string{"nats-route://127.0.0.1:6222"}}}, "cluster listen address"},
		"route scheme": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:-1", Routes: []string{"http://127.0.0.1:6222"}}}, "want nats-route://host:port"},
		"route without port": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:-1", Routes: []string{"nats-route://127.0.0.1"}}}, "want nats-route://host:port"},
		"route unparsable": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:-1", Routes: []string{"nats-route://[::1"}}}, "route"},
		"cluster name": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:-1", Name: "my cluster", Routes: []string{"nats-route://127.0.0.1:6222"}}}, "invalid cluster name"},
		"cluster without routes": {embedded.Config{Listen: "127.0.0.1:-1",
			Cluster: embedded.Cluster{Listen: "127.0.0.1:-1"}}, "needs routes"},
		"server name": {embedded.Config{Listen: "127.0.0.1:-1", ServerName: "a b"}, "invalid server name"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.StoreDir = t.TempDir()
			_, err := embedded.Options(tc.cfg)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, tc.cfg.Validate(), tc.want, "Validate refuses what Options does")
		})
	}
}

// Validate accepts what Options does, without writing the derived server
// name into the store directory.
func TestConfig_Validate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	require.NoError(t, embedded.Config{Listen: "127.0.0.1:-1", StoreDir: dir}.Validate())
	require.NoError(t, embedded.Config{Listen: "127.0.0.1:4222", StoreDir: dir, ServerName: "n1",
		Cluster: embedded.Cluster{Listen: "127.0.0.1:6222", Routes: []string{"nats-route://127.0.0.1:6223"}}}.Validate())
	require.NoDirExists(t, dir)
}

// A derived server name is the same on every start from one store, kept in
// it, and differs between stores on one machine.
func TestStableServerName(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	nameA, err := embedded.StableServerName(a)
	require.NoError(t, err)
	require.Regexp(t, `^[A-Za-z0-9_-]+-[0-9a-f]{8}$`, nameA)
	again, err := embedded.StableServerName(a)
	require.NoError(t, err)
	require.Equal(t, nameA, again)
	nameB, err := embedded.StableServerName(b)
	require.NoError(t, err)
	require.NotEqual(t, nameA, nameB)

	require.NoError(t, os.WriteFile(filepath.Join(a, "server-name"), []byte("kept-name\n"), 0o644))
	kept, err := embedded.StableServerName(a)
	require.NoError(t, err)
	require.Equal(t, "kept-name", kept, "a kept name wins over the derived one")
	require.NoError(t, os.WriteFile(filepath.Join(a, "server-name"), []byte("bad name"), 0o644))
	_, err = embedded.StableServerName(a)
	require.ErrorContains(t, err, "invalid server name")

	opts, err := embedded.Options(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: b})
	require.NoError(t, err)
	require.Equal(t, nameB, opts.ServerName)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A taken port is reported at once and by name, not after the ten seconds
// the server takes to give up becoming ready.
func TestStartWithOptions_PortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().(*net.TCPAddr)

	for name, opts := range map[string]*server.Options{
		"client":  {Host: "127.0.0.1", Port: addr.Port},
		"cluster": {Host: "127.0.0.1", Port: -1, Cluster: server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: addr.Port}},
		"monitor": {Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: addr.Port},
	} {
		t.Run(name, func(t *testing.T) {
			opts.NoLog, opts.NoSigs = true, true
			start := time.Now()
			s, err := embedded.StartWithOptions(opts)
			require.Nil(t, s)
			require.ErrorIs(t, err, embedded.ErrListen)
			require.ErrorContains(t, err, fmt.Sprintf("127.0.0.1:%d: another process", addr.Port))
			require.Less(t, time.Since(start), time.Second)
		})
	}
}
