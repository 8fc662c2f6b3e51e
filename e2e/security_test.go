package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
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
	"latticestate/projections"
	"latticestate/streams"
)

// natsConfig is the accounts configuration the dev stack runs with.
const natsConfig = "../deploy/nats/nats.conf"

// userAccounts is the account each user of natsConfig belongs to.
var userAccounts = map[string]string{"emitter": "HOSTS", "projector": "LATTICE", "reader": "READ"}

// mustConfigUser is one user of natsConfig, as the file spells it, so the
// tests follow the file.
func mustConfigUser(tb testing.TB, user string) *server.User {
	tb.Helper()
	opts, err := server.ProcessConfigFile(natsConfig)
	require.NoError(tb, err)
	for _, u := range opts.Users {
		if u.Username == user {
			require.NotNil(tb, u.Account, "user %s has an account", user)
			require.Equal(tb, userAccounts[user], u.Account.Name, "account of %s", user)
			return u
		}
	}
	tb.Fatalf("%s has no user %s", natsConfig, user)
	return nil
}

// configUser is the name and password of one user of natsConfig.
func configUser(tb testing.TB, user string) (name, password string) {
	tb.Helper()
	u := mustConfigUser(tb, user)
	return u.Username, u.Password
}

// inboxPrefix is the reply subject prefix natsConfig lets user subscribe
// to: its own _INBOX_<user>, or nats.go's default _INBOX.
func inboxPrefix(tb testing.TB, user string) string {
	tb.Helper()
	u := mustConfigUser(tb, user)
	require.NotNil(tb, u.Permissions.Subscribe, "user %s may subscribe", user)
	var prefixes []string
	for _, s := range u.Permissions.Subscribe.Allow {
		if p, ok := strings.CutSuffix(s, ".>"); ok && strings.HasPrefix(p, "_INBOX") {
			prefixes = append(prefixes, p)
		}
	}
	require.LessOrEqual(tb, len(prefixes), 1, "user %s has one inbox", user)
	if len(prefixes) == 0 {
		return nats.InboxPrefix[:len(nats.InboxPrefix)-1]
	}
	return prefixes[0]
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
	nc, js := natstest.MustConnect(tb, s, nats.UserInfo(name, password), nats.CustomInboxPrefix(inboxPrefix(tb, user)),
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

// requireRequestRefused sends body to subject as a raw request, as a
// hostile client would, and asserts that the server refused the publish
// and nothing answered it.
func (u *userConn) requireRequestRefused(tb testing.TB, subject string, body []byte) {
	tb.Helper()
	reply, err := u.nc.SubscribeSync(u.nc.NewInbox())
	require.NoError(tb, err)
	defer func() { _ = reply.Unsubscribe() }()
	require.NoError(tb, u.nc.PublishRequest(subject, reply.Subject, body))
	u.requireRefused(tb, "request", subject)
	// The refusal came first; an answer would have been queued before the
	// round trip of this flush returns.
	require.NoError(tb, u.nc.Flush())
	if m, err := reply.NextMsg(50 * time.Millisecond); err == nil {
		tb.Fatalf("%s was answered: %s", subject, m.Data)
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
// nats-server configuration with JetStream, the three accounts and their
// users, no user without a password, and monitoring on loopback only.
func TestSecurity_ConfigLoads(t *testing.T) {
	opts, err := server.ProcessConfigFile(natsConfig)
	require.NoError(t, err)
	require.True(t, opts.JetStream)
	require.Equal(t, 4222, opts.Port)
	require.Equal(t, 8222, opts.HTTPPort)
	require.Equal(t, "127.0.0.1", opts.HTTPHost, "monitoring is unauthenticated: loopback only")
	require.Empty(t, opts.NoAuthUser, "every client must authenticate")
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
		require.NotEmpty(t, u.Password, u.Username)
		require.NotNil(t, u.Permissions, "user %s has permissions", u.Username)
		require.Equal(t, userAccounts[u.Username], u.Account.Name, "account of %s", u.Username)
	}
	require.ElementsMatch(t, []string{"emitter", "projector", "reader"}, keysOf(users))
	require.NotNil(t, users["emitter"].Permissions.Response, "the emitter may answer requests")
	require.Nil(t, users["reader"].Permissions.Response)
	require.Nil(t, users["projector"].Permissions.Response)
	require.Contains(t, users["emitter"].Permissions.Subscribe.Allow, "_INBOX.>", "hosts keep nats.go's default inbox")
	require.Equal(t, "_INBOX_projector", inboxPrefix(t, "projector"))
	require.Equal(t, "_INBOX_reader", inboxPrefix(t, "reader"))
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
	t.Setenv("LATTICESTATE_INBOX_PREFIX", inboxPrefix(t, "projector"))
	// Snapshots every few events, so that time travel as the reader reads
	// the snapshot store too.
	p := mustStartProjector(t, url, "--user", "projector", "--snapshot-every", "4")
	// Hosts keep the default inbox prefix.
	stopEmitter := mustStartEmitter(t, "--nats-url", url, "--user", "emitter", "--password", emitterPassword,
		"--hosts", "3", "--schema", "v1", "--interval", "500ms", "--seed", "7", "--inbox-prefix", inboxPrefix(t, "emitter"))

	reader := []string{"--nats-url", url, "--user", "reader", "--password", readerPassword, "--inbox-prefix", inboxPrefix(t, "reader")}
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
		for _, r := range mustRecorded(t, projector.js, "default", "host_labels_resolved") {
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
	// Every read as the reader, with a snapshot to read.
	var last uint64
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		obs, err := projector.js.ObjectStore(ctx, streams.SnapshotStore)
		if err != nil {
			return err
		}
		objs, err := obs.List(ctx)
		if err != nil {
			return err
		}
		_, last, err = streams.ParseSnapshotName(objs[len(objs)-1].Name)
		return err
	})
	asOf := strconv.FormatUint(last, 10)
	require.Contains(t, runCLI(t, append([]string{"list", "hosts", "--as-of", asOf, "-o", "json"}, reader...)...), id)
	require.Contains(t, runCLI(t, append([]string{"get", "host", id, "--as-of", asOf}, reader...)...), "Host:       "+id)
	require.Contains(t, runCLI(t, append([]string{"replay", "--to-seq", asOf}, reader...)...), `"lattice": "default"`)
	code, body, err := p.get("/api/v1/lattices/default/hosts?as_of=3")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s", body)
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

	t.Run("reader watches the bucket", func(t *testing.T) {
		cmd := exec.Command(projectorBin, append([]string{"watch", "--initial", "-o", "json"}, reader...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			if sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			_, _ = io.Copy(io.Discard, stdout)
		}()
		select {
		case line := <-lines:
			require.Contains(t, line, `"host_id"`)
		case <-time.After(10 * time.Second):
			t.Fatal("no host from watch")
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), "%s", stderr.String())
		require.NotContains(t, strings.ToLower(stderr.String()), "permissions violation")
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

// mustStartProjectorAs starts serve as the projector user of natsConfig,
// with its inbox prefix, for lattice "default" only: a per-lattice durable
// consumer, projector-default, whose name no subject pattern could keep a
// reader off.
func mustStartProjectorAs(tb testing.TB, s *server.Server) *projectorProc {
	tb.Helper()
	_, password := configUser(tb, "projector")
	tb.Setenv("LATTICESTATE_PASSWORD", password)
	return mustStartProjector(tb, s.ClientURL(), "--user", "projector",
		"--inbox-prefix", inboxPrefix(tb, "projector"), "--lattice", "default")
}

// serverConsumers lists the consumers of stream in the projector's account
// as the server's monitoring sees them: no user may list them.
func serverConsumers(tb testing.TB, s *server.Server, stream string) []string {
	tb.Helper()
	jsz, err := s.Jsz(&server.JSzOptions{Account: userAccounts["projector"], Streams: true, Consumer: true})
	require.NoError(tb, err)
	var names []string
	for _, a := range jsz.AccountDetails {
		for _, sd := range a.Streams {
			if sd.Name == stream {
				for _, c := range sd.Consumer {
					names = append(names, c.Name)
				}
			}
		}
	}
	return names
}

// securedLattice is a server run from natsConfig, a projector running as
// its user and a connection of each user of the config.
type securedLattice struct {
	s                          *server.Server
	p                          *projectorProc
	emitter, projector, reader *userConn
}

// startSecuredLattice starts a securedLattice, has the emitter publish
// events on the default lattice's subject and waits until the projector
// has applied them.
func startSecuredLattice(t *testing.T, events ...[]byte) securedLattice {
	t.Helper()
	s := natstest.MustRunServerFromConfig(t, natsConfig)
	l := securedLattice{s: s, p: mustStartProjectorAs(t, s),
		emitter: mustConnectAs(t, s, "emitter"), projector: mustConnectAs(t, s, "projector"), reader: mustConnectAs(t, s, "reader")}
	mustPublish(t, l.emitter.nc, streams.HostEventSubject("default"), events)
	waitCaughtUp(t, l.p, 30*time.Second)
	return l
}

// consumerRequest is the body of a consumer create request: what a hostile
// client would send to stall the projector (a filter that matches nothing,
// one event in flight at most).
func consumerRequest(stream, nameField, name string) []byte {
	return fmt.Appendf(nil, `{"stream_name":%q,"config":{%q:%q,"deliver_policy":"all","ack_policy":"all",`+
		`"filter_subject":"wasmbus.evt.nothing-here","max_ack_pending":1}}`, stream, nameField, name)
}

// TestSecurity_HostileReader sends, as the reader of natsConfig on a plain
// connection, every raw request that could create, change, delete, pull
// from or discover the projector's consumers (its durable and its KV
// watches), or read another user's replies. Each is refused with a
// permissions violation; afterwards the durable's configuration is what the
// projector set, its watch is still there, and the projection follows new
// events.
func TestSecurity_HostileReader(t *testing.T) {
	host := eventtest.HostID(1)
	subject := streams.HostEventSubject("default")
	l := startSecuredLattice(t, eventtest.HostHeartbeat(host, eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}))
	s, p, emitter, projector, reader := l.s, l.p, l.emitter, l.projector, l.reader
	ctx := context.Background()

	durable := streams.LatticeConsumer("default")
	cons, err := projector.js.Consumer(ctx, streams.EventsStream, durable)
	require.NoError(t, err)
	want := cons.CachedInfo().Config
	// A watch of the meta bucket, as the projector's user keeps one.
	metaKV, err := projector.js.KeyValue(ctx, streams.MetaBucket)
	require.NoError(t, err)
	metaWatch, err := metaKV.Watch(ctx, streams.LeaseKey(streams.ProjectorConsumer))
	require.NoError(t, err)
	t.Cleanup(func() { _ = metaWatch.Stop() })
	watches := serverConsumers(t, s, streams.BucketStream(streams.MetaBucket))
	require.NotEmpty(t, watches, "a watch of %s", streams.MetaBucket)
	watch := watches[0]

	const api = "$JS.API.CONSUMER."
	events, dlq := streams.EventsStream, streams.DLQStream
	metaStream, state := streams.BucketStream(streams.MetaBucket), streams.BucketStream(streams.StateBucket)
	for _, tc := range []struct {
		name, subject string
		body          []byte
	}{
		// The bare create takes the name from the body and updates the
		// consumer of that name.
		{"bare create, name in the body", api + "CREATE." + events, consumerRequest(events, "name", durable)},
		{"bare create, durable name in the body", api + "CREATE." + events, consumerRequest(events, "durable_name", durable)},
		{"bare create of the all-lattice durable", api + "CREATE." + events, consumerRequest(events, "name", streams.ProjectorConsumer)},
		{"named create (update) of the durable", api + "CREATE." + events + "." + durable, consumerRequest(events, "durable_name", durable)},
		{"named create with a filter", api + "CREATE." + events + "." + durable + ".wasmbus.evt.nothing-here", consumerRequest(events, "durable_name", durable)},
		{"named create of a new durable", api + "CREATE." + events + ".reader", consumerRequest(events, "durable_name", "reader")},
		{"ephemeral create on the event stream", api + "CREATE." + events + ".abc123", consumerRequest(events, "name", "abc123")},
		{"legacy durable create", api + "DURABLE.CREATE." + events + "." + durable, consumerRequest(events, "durable_name", durable)},
		{"create on the dead letters", api + "CREATE." + dlq + ".reader", consumerRequest(dlq, "durable_name", "reader")},
		{"create on the meta bucket", api + "CREATE." + metaStream + "." + watch, consumerRequest(metaStream, "name", watch)},
		{"bare create on the state bucket", api + "CREATE." + state, consumerRequest(state, "name", "abc123")},
		{"delete of the durable", api + "DELETE." + events + "." + durable, nil},
		{"delete of the all-lattice durable", api + "DELETE." + events + "." + streams.ProjectorConsumer, nil},
		{"delete of the meta watch", api + "DELETE." + metaStream + "." + watch, nil},
		{"pull from the durable", api + "MSG.NEXT." + events + "." + durable, []byte(`{"batch":1}`)},
		{"durable's configuration", api + "INFO." + events + "." + durable, nil},
		{"consumer names of the state bucket", api + "NAMES." + state, nil},
		{"consumer list of the state bucket", api + "LIST." + state, nil},
		{"consumer names of the event stream", api + "NAMES." + events, nil},
		{"ack for the durable", "$JS.ACK." + events + "." + durable + ".1.1.1.1.0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader.requireRequestRefused(t, tc.subject, tc.body)
		})
	}

	t.Run("another user's replies", func(t *testing.T) {
		for _, inbox := range []string{inboxPrefix(t, "projector") + ".>", "_INBOX.>", ">"} {
			sub, err := reader.nc.SubscribeSync(inbox)
			require.NoError(t, err)
			reader.requireRefused(t, "subscribe", inbox)
			// The projector makes requests all the time (lease, KV writes).
			_, err = sub.NextMsg(200 * time.Millisecond)
			require.Error(t, err, "nothing received on %s", inbox)
		}
	})

	cons, err = projector.js.Consumer(ctx, streams.EventsStream, durable)
	require.NoError(t, err)
	require.Equal(t, want, cons.CachedInfo().Config, "the durable's configuration is unchanged")
	require.Contains(t, serverConsumers(t, s, streams.BucketStream(streams.MetaBucket)), watch, "the meta watch is still there")
	for _, name := range serverConsumers(t, s, streams.EventsStream) {
		require.NotContains(t, []string{"reader", "abc123", streams.ProjectorConsumer}, name, "a consumer the reader created")
	}

	// The projection follows new events.
	mustPublish(t, emitter.nc, subject, [][]byte{eventtest.HostHeartbeat(host, eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "b"}}})})
	waitCaughtUp(t, p, 30*time.Second)
	kv, err := reader.js.KeyValue(ctx, streams.StateBucket)
	require.NoError(t, err)
	e, err := kv.Get(ctx, streams.HostKey("default", host))
	require.NoError(t, err)
	require.Contains(t, string(e.Value()), `"zone":"b"`)
	require.NotContains(t, strings.ToLower(p.logs()), "permissions violation")
}

// TestSecurity_NoReflection: NATS does not check reply subjects against
// permissions, and the stream acknowledges a publish to its reply subject,
// the JetStream API answers a request to its. Neither a host nor a reader
// can thereby make the server write into the projector's buckets: their
// replies stay in their own accounts.
func TestSecurity_NoReflection(t *testing.T) {
	a, b := eventtest.HostID(1), eventtest.HostID(2)
	subject := streams.HostEventSubject("default")
	l := startSecuredLattice(t,
		eventtest.HostHeartbeat(a, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"host": "a"}}}),
		eventtest.HostHeartbeat(b, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"host": "b"}}}),
	)
	p, emitter, projector, reader := l.p, l.emitter, l.projector, l.reader
	ctx := context.Background()
	// A write into the hand-over key would make the projector give up its
	// lease.
	activeKey := streams.BucketSubject(streams.MetaBucket, streams.YieldKey(streams.ProjectorConsumer))
	keyB := streams.BucketSubject(streams.StateBucket, streams.HostKey("default", b))

	// A host's event whose reply subject is a KV key: the acknowledgement
	// goes back to the host's account, and the host still gets it there.
	acks, err := emitter.nc.SubscribeSync(emitter.nc.NewInbox())
	require.NoError(t, err)
	hb := eventtest.HostHeartbeat(a, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"host": "a"}}})
	require.NoError(t, emitter.nc.PublishRequest(subject, activeKey, hb))
	require.NoError(t, emitter.nc.PublishRequest(subject, keyB, hb))
	require.NoError(t, emitter.nc.PublishRequest(subject, acks.Subject, hb))

	// A reader's direct get of host a's document, answered to host b's key.
	get := "$JS.API.DIRECT.GET." + streams.BucketStream(streams.StateBucket) + "." + streams.BucketSubject(streams.StateBucket, streams.HostKey("default", a))
	require.NoError(t, reader.nc.PublishRequest(get, keyB, nil))
	require.NoError(t, reader.nc.PublishRequest(get, activeKey, nil))
	// Answered in order: once this one is, the others were.
	m, err := reader.nc.Request(get, nil, 5*time.Second)
	require.NoError(t, err)
	require.Contains(t, string(m.Data), a)
	waitCaughtUp(t, p, 30*time.Second)

	metaKV, err := projector.js.KeyValue(ctx, streams.MetaBucket)
	require.NoError(t, err)
	_, err = metaKV.Get(ctx, streams.YieldKey(streams.ProjectorConsumer))
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "nobody asked the projector to hand its lease over")
	kv, err := projector.js.KeyValue(ctx, streams.StateBucket)
	require.NoError(t, err)
	e, err := kv.Get(ctx, streams.HostKey("default", b))
	require.NoError(t, err)
	h, err := projections.UnmarshalHost(e.Value())
	require.NoError(t, err, "%s", e.Value())
	require.Equal(t, b, h.HostID, "host b's document is host b's")
	ack, err := acks.NextMsg(5 * time.Second)
	require.NoError(t, err, "the host's own acknowledgement")
	require.Contains(t, string(ack.Data), `"stream":"`+streams.EventsStream+`"`)
	select {
	case err := <-reader.errs:
		t.Fatalf("reader: %v", err)
	case err := <-emitter.errs:
		t.Fatalf("emitter: %v", err)
	default:
	}
}

// TestSecurity_ReaderLimits: readers together get a bounded number of
// connections, each a bounded number of subscriptions, and at the limit the
// projector and hosts still connect.
func TestSecurity_ReaderLimits(t *testing.T) {
	s := natstest.MustRunServerFromConfig(t, natsConfig)
	name, password := configUser(t, "reader")
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	var err error
	for len(conns) <= 1000 {
		var nc *nats.Conn
		if nc, err = nats.Connect(s.ClientURL(), nats.UserInfo(name, password), nats.NoReconnect()); err != nil {
			break
		}
		conns = append(conns, nc)
	}
	require.ErrorIs(t, err, nats.ErrMaxAccountConnectionsExceeded)
	t.Logf("readers connected at most: %d", len(conns))
	require.Less(t, len(conns), 1000)
	mustConnectAs(t, s, "projector")
	mustConnectAs(t, s, "emitter")

	conns[0].Close()
	reader := mustConnectAs(t, s, "reader")
	subs := 0
	for ; subs <= 10000; subs++ {
		if _, err = reader.nc.SubscribeSync(reader.nc.NewInbox()); err != nil {
			break
		}
		if subs%64 == 0 {
			if err = reader.nc.Flush(); err != nil {
				break
			}
			select {
			case err = <-reader.errs:
			default:
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		err = <-reader.errs
	}
	require.ErrorIs(t, err, nats.ErrMaxSubscriptionsExceeded)
	require.Less(t, subs, 10000)
	t.Logf("subscriptions of a reader connection at most: about %d", subs)
}

// TestSecurity_HostsCannotForgeOwnEvents: a host that publishes
// latticestate's own events (a host marked stale, labels for a host
// without any) on its own subjects has them dead-lettered as forged; they
// are never applied.
func TestSecurity_HostsCannotForgeOwnEvents(t *testing.T) {
	a, b := eventtest.HostID(1), eventtest.HostID(2)
	l := startSecuredLattice(t,
		eventtest.HostHeartbeat(a, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}),
		// b has no labels and answers no inventory request.
		eventtest.HostHeartbeat(b, eventtest.Heartbeat{}),
	)
	p, emitter, reader := l.p, l.emitter, l.reader
	ctx := context.Background()
	mustPublish(t, emitter.nc, streams.HostEventSubject("default"), [][]byte{
		eventtest.HostStale(a, eventtest.Set("source", b)),
		eventtest.HostLabelsResolved(b, map[string]string{"forged": "yes"}, "ok"),
	})
	mustPublish(t, emitter.nc, streams.HostEventKindSubject("default", "host_stale"), [][]byte{eventtest.HostStale(a)})
	waitCaughtUp(t, p, 30*time.Second)

	kv, err := reader.js.KeyValue(ctx, streams.StateBucket)
	require.NoError(t, err)
	for id, want := range map[string]struct {
		status string
		labels map[string]string
	}{a: {projections.StatusUp, map[string]string{"zone": "a"}}, b: {projections.StatusUp, map[string]string{}}} {
		e, err := kv.Get(ctx, streams.HostKey("default", id))
		require.NoError(t, err)
		h, err := projections.UnmarshalHost(e.Value())
		require.NoError(t, err)
		require.Equal(t, want.status, h.Status, id)
		require.Equal(t, want.labels, h.Labels, id)
	}
	dlq, err := reader.js.Stream(ctx, streams.DLQStream)
	require.NoError(t, err)
	require.EqualValues(t, 3, dlq.CachedInfo().State.Msgs)
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.Contains(t, m.Header.Get(streams.HeaderDLQReason), "forged event: ")
	}
	_, body, err := p.get("/metrics")
	require.NoError(t, err)
	require.Contains(t, string(body), `latticestate_events_rejected_total{category="forged"} 3`)
}

// pushConsumerRequest is the body of a consumer create request for a push
// consumer delivering every message of stream to deliverTo: the server
// checks the request's subject against the creator's permissions, never
// the deliver subject, and delivers in the stream's account.
func pushConsumerRequest(stream, name, deliverTo string) []byte {
	return fmt.Appendf(nil, `{"stream_name":%q,"config":{"name":%q,"deliver_subject":%q,"deliver_policy":"all",`+
		`"ack_policy":"none","inactive_threshold":60000000000}}`, stream, name, deliverTo)
}

// TestSecurity_ReaderCreatesNoConsumer: a consumer's deliver subject is
// not checked against its creator's permissions, so any consumer a reader
// may create (for a KV watch or an object read) can make the server
// deliver the state bucket's or the snapshots' messages to any subject of
// the projector's account: into a subscription of the projector's (here
// an inbox, as its KV watches use), its meta bucket or its event stream.
// Readers therefore create no consumer at all: each create, however
// spelled, is refused, nothing reaches the projector, and its own
// consumer and watches are as it set them.
func TestSecurity_ReaderCreatesNoConsumer(t *testing.T) {
	l := startSecuredLattice(t, eventtest.HostHeartbeat(eventtest.HostID(1), eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}))
	s, projector, reader := l.s, l.projector, l.reader
	ctx := context.Background()
	durable := streams.LatticeConsumer("default")
	cons, err := projector.js.Consumer(ctx, streams.EventsStream, durable)
	require.NoError(t, err)
	want := cons.CachedInfo().Config
	watchesBefore := serverConsumers(t, s, streams.BucketStream(streams.MetaBucket))
	metaKV, err := projector.js.KeyValue(ctx, streams.MetaBucket)
	require.NoError(t, err)
	// A subscription of the projector's user, as a KV watch has one: a
	// reader that learns its subject must not be able to feed it.
	inbox, err := projector.nc.SubscribeSync(projector.nc.NewInbox())
	require.NoError(t, err)
	require.NoError(t, projector.nc.Flush())

	const api = "$JS.API.CONSUMER."
	state, snaps := streams.BucketStream(streams.StateBucket), streams.SnapshotStoreStream
	forged := streams.BucketSubject(streams.MetaBucket, "forged")
	for _, tc := range []struct {
		name, subject string
		body          []byte
	}{
		{"named create on the state bucket", api + "CREATE." + state + ".r1", pushConsumerRequest(state, "r1", inbox.Subject)},
		{"named create on the state bucket with a filter", api + "CREATE." + state + ".r2." + streams.BucketSubject(streams.StateBucket, ">"), pushConsumerRequest(state, "r2", inbox.Subject)},
		{"create on the state bucket into the meta bucket", api + "CREATE." + state + ".r3", pushConsumerRequest(state, "r3", forged)},
		{"create on the state bucket into the event stream", api + "CREATE." + state + ".r4", pushConsumerRequest(state, "r4", streams.HostEventSubject("default"))},
		{"named create on the snapshots", api + "CREATE." + snaps + ".r5", pushConsumerRequest(snaps, "r5", inbox.Subject)},
		{"named create on the snapshots with a filter", api + "CREATE." + snaps + ".r6." + streams.SnapshotChunks, pushConsumerRequest(snaps, "r6", inbox.Subject)},
		{"bare create on the snapshots", api + "CREATE." + snaps, pushConsumerRequest(snaps, "r7", inbox.Subject)},
		{"durable create on the state bucket", api + "DURABLE.CREATE." + state + ".r8", pushConsumerRequest(state, "r8", inbox.Subject)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, answered := reader.requestAnswered(t, tc.subject, tc.body)
			if !answered {
				return
			}
			// Show what such a consumer does before failing on the answer.
			if got, err := inbox.NextMsg(2 * time.Second); err == nil {
				t.Fatalf("a reader's consumer delivered %s into the projector's inbox %s (created: %s)", got.Subject, inbox.Subject, m.Data)
			}
			t.Fatalf("%s was answered: %s", tc.subject, m.Data)
		})
	}
	t.Run("flow control reply", func(t *testing.T) {
		reader.requireRequestRefused(t, "$JS.FC."+state+".x.1", nil)
		reader.requireRequestRefused(t, "$JS.FC."+snaps+".x.1", nil)
	})
	t.Run("consumer delete", func(t *testing.T) {
		reader.requireRequestRefused(t, api+"DELETE."+state+".r1", nil)
		reader.requireRequestRefused(t, api+"DELETE."+snaps+".r5", nil)
	})

	require.NoError(t, projector.nc.Flush())
	if m, err := inbox.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("the projector's inbox received %s", m.Subject)
	}
	_, err = metaKV.Get(ctx, "forged")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "nothing written into %s", streams.MetaBucket)
	for _, stream := range []string{state, snaps, streams.EventsStream} {
		for _, name := range serverConsumers(t, s, stream) {
			require.False(t, len(name) == 2 && name[0] == 'r', "consumer %s the reader created on %s", name, stream)
		}
	}
	cons, err = projector.js.Consumer(ctx, streams.EventsStream, durable)
	require.NoError(t, err)
	require.Equal(t, want, cons.CachedInfo().Config, "the durable's configuration is unchanged")
	require.Subset(t, serverConsumers(t, s, streams.BucketStream(streams.MetaBucket)), watchesBefore, "the projector's watches are still there")
}

// requestAnswered sends body to subject as a raw request and reports the
// answer, if any; false means the server refused the publish and nothing
// answered.
func (u *userConn) requestAnswered(tb testing.TB, subject string, body []byte) (*nats.Msg, bool) {
	tb.Helper()
	reply, err := u.nc.SubscribeSync(u.nc.NewInbox())
	require.NoError(tb, err)
	defer func() { _ = reply.Unsubscribe() }()
	require.NoError(tb, u.nc.PublishRequest(subject, reply.Subject, body))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-u.errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `"`+subject+`"`) {
				tb.Logf("other async error: %v", err)
				continue
			}
			// The refusal came first; an answer would have been queued
			// before the round trip of this flush returns.
			require.NoError(tb, u.nc.Flush())
			if m, err := reply.NextMsg(50 * time.Millisecond); err == nil {
				return m, true
			}
			return nil, false
		default:
		}
		if m, err := reply.NextMsg(10 * time.Millisecond); err == nil {
			return m, true
		}
	}
	tb.Fatalf("%s: neither refused nor answered", subject)
	return nil, false
}
