package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/embedded"
	"latticestate/internal/natstest"
)

// TestDevStack_NATSConfig starts nats-server as the dev stack's nats
// service does: its command line from docker-compose.yml, parsed by
// nats-server's own flag parser, with the configuration file the service
// mounts (only the listen ports and the store directory are moved to fit a
// test). Then the service's health check URL answers 200 and the projector
// user has JetStream in its account.
func TestDevStack_NATSConfig(t *testing.T) {
	svc := composeProject(t).Services["nats"]
	require.Equal(t, "nats-server", svc.Command[0])
	args := slices.Clone([]string(svc.Command[1:]))
	i := slices.Index(args, "--config")
	require.True(t, i >= 0 && i+1 < len(args), "the nats service names its configuration: %v", args)
	args[i+1] = composeMount(t, svc, args[i+1]).Source

	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	none := func() { t.Fatalf("nats-server %v asks for help or its version", args) }
	opts, err := server.ConfigureOptions(fs, args, none, none, none)
	require.NoError(t, err, "nats-server %v", args)
	require.True(t, opts.JetStream)
	require.Equal(t, "/data", opts.StoreDir, "the configuration stores on the service's volume")
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.HTTPHost, opts.HTTPPort = "127.0.0.1", -1
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	s, err := embedded.StartWithOptions(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})

	// The health check as the service runs it (wget on its URL), against
	// wherever this server's monitoring listens.
	require.NotNil(t, svc.HealthCheck)
	check, err := url.Parse(svc.HealthCheck.Test[len(svc.HealthCheck.Test)-1])
	require.NoError(t, err)
	check.Host = s.MonitorAddr().String()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		resp, err := client.Get(check.String())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health check %s: %s: %s", check, resp.Status, body)
		}
		return nil
	})

	_, password := configUser(t, "projector")
	_, js := natstest.MustConnect(t, s, nats.UserInfo("projector", password), nats.CustomInboxPrefix(inboxPrefix(t, "projector")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := js.AccountInfo(ctx)
	require.NoError(t, err, "JetStream for the projector's account")
	require.Zero(t, info.Streams)
}
