package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

// natsConfig is the accounts configuration the dev stack runs with.
const natsConfig = "../deploy/nats/nats.conf"

// configUser is one user of natsConfig, with its password as the file
// spells it, so the tests follow the file.
func configUser(tb testing.TB, user string) (name, password string) {
	tb.Helper()
	opts, err := server.ProcessConfigFile(natsConfig)
	require.NoError(tb, err)
	for _, u := range opts.Users {
		if u.Username == user {
			require.NotNil(tb, u.Account, "user %s has an account", user)
			require.Equal(tb, "LATTICE", u.Account.Name)
			return u.Username, u.Password
		}
	}
	tb.Fatalf("%s has no user %s", natsConfig, user)
	return "", ""
}

// userConn is a connection as one user of natsConfig, with the errors the
// server reported asynchronously (permissions violations).
type userConn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func mustConnectAs(tb testing.TB, s *server.Server, user string) *userConn {
	tb.Helper()
	name, password := configUser(tb, user)
	errs := make(chan error, 64)
	nc, js := natstest.MustConnect(tb, s, nats.UserInfo(name, password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	return &userConn{nc: nc, js: js, errs: errs}
}

// requireRefused waits for the server's permissions violation on subject.
func (u *userConn) requireRefused(tb testing.TB, op, subject string) {
	tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-u.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
			tb.Logf("%s: other async error: %v", op, err)
		case <-timeout:
			tb.Fatalf("%s: the server reported no permissions violation for %s", op, subject)
		}
	}
}

// runCLI runs the projector binary and returns its stdout, failing the test
// on a non-zero exit or on a permissions violation printed on stderr.
func runCLI(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(projectorBin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(tb, err, "projector %s\nstderr: %s", strings.Join(args, " "), stderr.String())
	require.NotContains(tb, strings.ToLower(stderr.String()), "permissions violation", "projector %s", strings.Join(args, " "))
	return string(out)
}

// mustStartEmitter runs the emitter binary; stop ends it with SIGTERM and
// returns its log (it is also stopped when the test ends).
func mustStartEmitter(tb testing.TB, args ...string) (stop func() string) {
	tb.Helper()
	cmd := exec.Command(emitterBin, args...)
	var logs strings.Builder
	cmd.Stderr = &logs
	require.NoError(tb, cmd.Start())
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
		return logs.String()
	}
	tb.Cleanup(func() {
		if l := stop(); tb.Failed() {
			tb.Logf("emitter log:\n%s", l)
		}
	})
	return stop
}

// TestSecurity_ConfigLoads: the dev stack's configuration is a valid
// nats-server configuration with JetStream, the LATTICE account and its
// three users, and no user without a password.
func TestSecurity_ConfigLoads(t *testing.T) {
	opts, err := server.ProcessConfigFile(natsConfig)
	require.NoError(t, err)
	require.True(t, opts.JetStream)
	require.Equal(t, 4222, opts.Port)
	require.Equal(t, 8222, opts.HTTPPort)
	require.Empty(t, opts.NoAuthUser, "every client must authenticate")
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
		require.NotEmpty(t, u.Password, u.Username)
		require.NotNil(t, u.Permissions, "user %s has permissions", u.Username)
	}
	require.ElementsMatch(t, []string{"emitter", "projector", "reader"}, keysOf(users))
	require.NotNil(t, users["emitter"].Permissions.Response, "the emitter may answer requests")
	require.Nil(t, users["reader"].Permissions.Response)
	require.Nil(t, users["projector"].Permissions.Response)
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSecurity_LeastPrivilege runs the real binaries as the users of the
// dev stack's configuration: each does its job with no permissions
// violation, and each operation outside it is refused by the server.
func TestSecurity_LeastPrivilege(t *testing.T) {
	s := natstest.MustRunServerFromConfig(t, natsConfig)
	url := s.ClientURL()
	_, projectorPassword := configUser(t, "projector")
	_, emitterPassword := configUser(t, "emitter")
	_, readerPassword := configUser(t, "reader")

	// The projector's password comes from the environment, as in the
	// compose file; the CLI runs below give theirs as a flag, which wins.
	t.Setenv("LATTICESTATE_PASSWORD", projectorPassword)
	p := mustStartProjector(t, url, "--user", "projector")
	stopEmitter := mustStartEmitter(t, "--nats-url", url, "--user", "emitter", "--password", emitterPassword,
		"--hosts", "3", "--schema", "v1", "--interval", "500ms", "--seed", "7")

	reader := []string{"--nats-url", url, "--user", "reader", "--password", readerPassword}
	var hosts []struct {
		HostID string `json:"host_id"`
		Labels map[string]string
	}
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		out := runCLI(t, append([]string{"list", "hosts", "-o", "json"}, reader...)...)
		if err := json.Unmarshal([]byte(out), &hosts); err != nil {
			return err
		}
		if len(hosts) != 3 {
			return errNotYet
		}
		return nil
	})
	projector := mustConnectAs(t, s, "projector")
	emitter := mustConnectAs(t, s, "emitter")
	readerConn := mustConnectAs(t, s, "reader")
	ctx := context.Background()

	// A host without labels makes the projector ask for them and record the
	// outcome; a line that is no event is dead-lettered.
	silent := eventtest.HostID(999)
	mustPublish(t, emitter.nc, streams.HostEventSubject("default"),
		[][]byte{eventtest.HostHeartbeat(silent, eventtest.Heartbeat{}), []byte("not an event")})
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		for _, r := range mustRecorded(t, readerConn.js, "default", "host_labels_resolved") {
			if r.HostID == silent {
				return nil
			}
		}
		return errNotYet
	})
	waitCaughtUp(t, p, 30*time.Second)
	dlq, err := readerConn.js.Stream(ctx, streams.DLQStream)
	require.NoError(t, err)
	require.Equal(t, uint64(1), dlq.CachedInfo().State.Msgs, "dead letter recorded")

	id := hosts[0].HostID
	require.NotEmpty(t, hosts[0].Labels, "labels projected")
	require.Contains(t, runCLI(t, append([]string{"get", "host", id}, reader...)...), "Host:       "+id)
	require.Contains(t, runCLI(t, append([]string{"list", "hosts", "--as-of", "3"}, reader...)...), "HOST ID")
	out := runCLI(t, "replay", "--nats-url", url, "--user", "projector", "--password", projectorPassword)
	require.Contains(t, out, "rebuilt "+streams.StateBucket)
	require.Contains(t, runCLI(t, append([]string{"replay", "--to-seq", "3", "--lattice", "default"}, reader...)...), `"lattice": "default"`)

	t.Run("emitter answers an inventory request", func(t *testing.T) {
		msg, err := projector.nc.Request(streams.V1InventorySubject("default", id), nil, 5*time.Second)
		require.NoError(t, err)
		var reply struct {
			Success  bool `json:"success"`
			Response struct {
				HostID string `json:"host_id"`
			} `json:"response"`
		}
		require.NoError(t, json.Unmarshal(msg.Data, &reply))
		require.True(t, reply.Success)
		require.Equal(t, id, reply.Response.HostID)
	})

	t.Run("reader reads a host from the bucket", func(t *testing.T) {
		kv, err := readerConn.js.KeyValue(ctx, streams.StateBucket)
		require.NoError(t, err)
		e, err := kv.Get(ctx, streams.HostKey("default", id))
		require.NoError(t, err)
		require.Contains(t, string(e.Value()), id)
	})

	t.Run("emitter cannot write the bucket", func(t *testing.T) {
		subject := streams.BucketSubject(streams.StateBucket, streams.HostKey("default", id))
		require.NoError(t, emitter.nc.Publish(subject, []byte(`{"forged":true}`)))
		require.NoError(t, emitter.nc.Flush())
		emitter.requireRefused(t, "KV put", subject)
		kv, err := projector.js.KeyValue(ctx, streams.StateBucket)
		require.NoError(t, err)
		e, err := kv.Get(ctx, streams.HostKey("default", id))
		require.NoError(t, err)
		require.NotContains(t, string(e.Value()), "forged")
	})

	t.Run("emitter cannot create a stream", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := emitter.js.CreateStream(cctx, jetstream.StreamConfig{Name: "ROGUE", Subjects: []string{"rogue.>"}})
		require.Error(t, err)
		emitter.requireRefused(t, "stream create", "$JS.API.STREAM.CREATE.ROGUE")
		_, err = projector.js.Stream(ctx, "ROGUE")
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	})

	t.Run("reader cannot purge the stream", func(t *testing.T) {
		st, err := readerConn.js.Stream(ctx, streams.EventsStream)
		require.NoError(t, err, "the reader may look the stream up")
		before := st.CachedInfo().State.Msgs
		require.NotZero(t, before)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		require.Error(t, st.Purge(cctx))
		readerConn.requireRefused(t, "stream purge", "$JS.API.STREAM.PURGE."+streams.EventsStream)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, info.State.Msgs, before, "nothing purged")
	})

	t.Run("reader cannot delete a key", func(t *testing.T) {
		kv, err := readerConn.js.KeyValue(ctx, streams.StateBucket)
		require.NoError(t, err)
		key := streams.HostKey("default", id)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		require.Error(t, kv.Delete(cctx, key))
		readerConn.requireRefused(t, "KV delete", streams.BucketSubject(streams.StateBucket, key))
		_, err = kv.Get(ctx, key)
		require.NoError(t, err, "the key is still there")
	})

	t.Run("reader cannot delete the projector's consumer", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		require.Error(t, readerConn.js.DeleteConsumer(cctx, streams.EventsStream, streams.ProjectorConsumer))
		readerConn.requireRefused(t, "consumer delete", "$JS.API.CONSUMER.DELETE."+streams.EventsStream+"."+streams.ProjectorConsumer)
		_, err := projector.js.Consumer(ctx, streams.EventsStream, streams.ProjectorConsumer)
		require.NoError(t, err, "the consumer is still there")
	})

	t.Run("projector cannot publish host events", func(t *testing.T) {
		require.NoError(t, projector.nc.Publish("wasmbus.evt.x", []byte("{}")))
		require.NoError(t, projector.nc.Flush())
		projector.requireRefused(t, "publish", "wasmbus.evt.x")
	})

	require.NotContains(t, strings.ToLower(p.logs()), "permissions violation", "the projector did its job within its permissions")
	require.NotContains(t, strings.ToLower(stopEmitter()), "permissions violation", "the emitter did its job within its permissions")
}
