package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/cli"
	"latticestate/internal/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

func mustUserSeed(t *testing.T) (seed []byte, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err = kp.Seed()
	require.NoError(t, err)
	pub, err = kp.PublicKey()
	require.NoError(t, err)
	return seed, pub
}

// decoratedCreds lays out a .creds file as nsc writes it; the JWT need not
// verify for the file to be read.
func decoratedCreds(jwt string, seed []byte) []byte {
	return []byte("-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
		"************************* IMPORTANT *************************\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n")
}

func TestConnFlags_Options(t *testing.T) {
	seed, _ := mustUserSeed(t)
	creds := writeFile(t, "user.creds", decoratedCreds("eyJhbGciOiJlZDI1NTE5In0.eyJzdWIiOiJVQSJ9.c2ln", seed))
	seedFile := writeFile(t, "user.nk", seed)
	empty := writeFile(t, "empty", nil)
	garbage := writeFile(t, "garbage", []byte("not a credentials file\n"))
	missing := filepath.Join(t.TempDir(), "missing.creds")

	for _, tc := range []struct {
		name  string
		flags cli.ConnFlags
		opts  int
		err   string
	}{
		{name: "none", flags: cli.ConnFlags{}},
		{name: "creds", flags: cli.ConnFlags{Creds: creds}, opts: 1},
		{name: "nkey", flags: cli.ConnFlags{NKey: seedFile}, opts: 1},
		{name: "user", flags: cli.ConnFlags{User: "u", Password: "p"}, opts: 1},
		{name: "tls first", flags: cli.ConnFlags{TLSFirst: true}, opts: 1},
		{name: "missing creds", flags: cli.ConnFlags{Creds: missing}, err: "--creds " + missing + ": cannot read the file: no such file or directory"},
		{name: "empty creds", flags: cli.ConnFlags{Creds: empty}, err: "--creds " + empty + ": the file is empty"},
		{name: "garbage creds", flags: cli.ConnFlags{Creds: garbage}, err: "--creds " + garbage + ": no user JWT in the file"},
		{name: "seed as creds", flags: cli.ConnFlags{Creds: seedFile}, err: "no user JWT"},
		{name: "garbage nkey", flags: cli.ConnFlags{NKey: garbage}, err: "--nkey " + garbage},
		{name: "missing nkey", flags: cli.ConnFlags{NKey: missing}, err: "--nkey " + missing + ": cannot read the file"},
		{name: "missing ca", flags: cli.ConnFlags{TLSCA: missing}, err: "--tls-ca " + missing + ": cannot read the file"},
		{name: "missing key", flags: cli.ConnFlags{TLSCert: garbage, TLSKey: missing}, err: "--tls-key " + missing},
		{name: "two auths", flags: cli.ConnFlags{Creds: creds, User: "u"}, err: "at most one of --creds, --nkey and --user"},
		{name: "password alone", flags: cli.ConnFlags{Password: "p"}, err: "--password needs --user"},
		{name: "cert alone", flags: cli.ConnFlags{TLSCert: garbage}, err: "--tls-cert and --tls-key go together"},
		{name: "default inbox prefix", flags: cli.ConnFlags{InboxPrefix: cli.DefaultInboxPrefix}},
		{name: "inbox prefix", flags: cli.ConnFlags{InboxPrefix: "_INBOX_reader"}, opts: 1},
		{name: "inbox prefix of two tokens", flags: cli.ConnFlags{InboxPrefix: "_R.reader"}, opts: 1},
		{name: "wildcard inbox prefix", flags: cli.ConnFlags{InboxPrefix: "_INBOX.*"}, err: `--inbox-prefix "_INBOX.*": want subject tokens`},
		{name: "inbox prefix ending in a dot", flags: cli.ConnFlags{InboxPrefix: "_INBOX_r."}, err: "--inbox-prefix"},
		{name: "inbox prefix with a space", flags: cli.ConnFlags{InboxPrefix: "_INBOX r"}, err: "--inbox-prefix"},
		{name: "inbox prefix with a tab", flags: cli.ConnFlags{InboxPrefix: "_INBOX\tr"}, err: "--inbox-prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.flags.Options()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, opts, tc.opts)
		})
	}
}

// Every connection flag is mirrored by its LATTICESTATE_* variable.
func TestConnFlags_Env(t *testing.T) {
	var c cli.ConnFlags
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	c.Register(cmd.Flags())
	cmd.PreRunE = func(c *cobra.Command, _ []string) error { return cli.ApplyEnv(c) }
	for name, value := range map[string]string{
		"CREDS": "a.creds", "NKEY": "a.nk", "USER": "u", "PASSWORD": "pw",
		"TLS_CA": "ca.pem", "TLS_CERT": "c.pem", "TLS_KEY": "k.pem", "TLS_FIRST": "true",
		"INBOX_PREFIX": "_INBOX_u",
	} {
		t.Setenv(cli.EnvPrefix+name, value)
	}
	cmd.SetArgs(nil)
	require.NoError(t, cmd.Execute())
	require.Equal(t, cli.ConnFlags{Creds: "a.creds", NKey: "a.nk", User: "u", Password: "pw",
		TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem", TLSFirst: true, InboxPrefix: "_INBOX_u"}, c)
}

// Without the flag or its variable, replies use nats.go's own prefix.
func TestConnFlags_DefaultInboxPrefix(t *testing.T) {
	var c cli.ConnFlags
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	c.Register(cmd.Flags())
	cmd.SetArgs(nil)
	require.NoError(t, cmd.Execute())
	require.Equal(t, "_INBOX", c.InboxPrefix)
	opts, err := c.Options()
	require.NoError(t, err)
	require.Empty(t, opts)
}

func mustServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := embedded.StartWithOptions(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func connect(t *testing.T, url string, c cli.ConnFlags) error {
	t.Helper()
	opts, err := c.Options()
	require.NoError(t, err)
	nc, err := nats.Connect(url, append(opts, nats.Timeout(2*time.Second))...)
	if err == nil {
		nc.Close()
	}
	return err
}

// The options authenticate against real servers; wrong ones are refused.
func TestConnFlags_Connect(t *testing.T) {
	t.Run("user and password", func(t *testing.T) {
		s := mustServer(t, &server.Options{Users: []*server.User{{Username: "u", Password: "right"}}})
		require.NoError(t, connect(t, s.ClientURL(), cli.ConnFlags{User: "u", Password: "right"}))
		require.ErrorIs(t, connect(t, s.ClientURL(), cli.ConnFlags{User: "u", Password: "wrong"}), nats.ErrAuthorization)
	})
	t.Run("nkey", func(t *testing.T) {
		seed, pub := mustUserSeed(t)
		s := mustServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
		require.NoError(t, connect(t, s.ClientURL(), cli.ConnFlags{NKey: writeFile(t, "user.nk", seed)}))
		other, _ := mustUserSeed(t)
		require.ErrorIs(t, connect(t, s.ClientURL(), cli.ConnFlags{NKey: writeFile(t, "other.nk", other)}), nats.ErrAuthorization)
	})
	t.Run("inbox prefix", func(t *testing.T) {
		// Each user may read replies under its own prefix only, as in
		// deploy/nats/nats.conf.
		own := func(prefix string) *server.Permissions {
			return &server.Permissions{Subscribe: &server.SubjectPermission{Allow: []string{prefix + ".>", "svc"}}}
		}
		s := mustServer(t, &server.Options{Users: []*server.User{
			{Username: "a", Password: "a", Permissions: own("_INBOX_a")},
			{Username: "b", Password: "b", Permissions: own("_INBOX_b")},
		}})
		responder, err := nats.Connect(s.ClientURL(), nats.UserInfo("a", "a"))
		require.NoError(t, err)
		defer responder.Close()
		sub, err := responder.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte(m.Reply)) })
		require.NoError(t, err)
		defer func() { _ = sub.Unsubscribe() }()
		require.NoError(t, responder.Flush())

		opts, err := (&cli.ConnFlags{User: "b", Password: "b", InboxPrefix: "_INBOX_b"}).Options()
		require.NoError(t, err)
		nc, err := nats.Connect(s.ClientURL(), opts...)
		require.NoError(t, err)
		defer nc.Close()
		reply, err := nc.Request("svc", nil, 2*time.Second)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(reply.Data), "_INBOX_b."), "reply subject %s", reply.Data)

		// Without the prefix, b's replies would go where it may not read.
		opts, err = (&cli.ConnFlags{User: "b", Password: "b"}).Options()
		require.NoError(t, err)
		errs := make(chan error, 8)
		plain, err := nats.Connect(s.ClientURL(), append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))...)
		require.NoError(t, err)
		defer plain.Close()
		_, err = plain.Request("svc", nil, 500*time.Millisecond)
		require.Error(t, err)
		select {
		case err := <-errs:
			require.ErrorIs(t, err, nats.ErrPermissionViolation)
		case <-time.After(5 * time.Second):
			t.Fatal("no permissions violation for the default inbox")
		}
	})
	t.Run("mutual TLS, handshake first", func(t *testing.T) {
		pki := mustPKI(t)
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.serverCert, KeyFile: pki.serverKey, CaFile: pki.ca, Verify: true})
		require.NoError(t, err)
		s := mustServer(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 2, TLSHandshakeFirst: true})
		full := cli.ConnFlags{TLSCA: pki.ca, TLSCert: pki.clientCert, TLSKey: pki.clientKey, TLSFirst: true}
		require.NoError(t, connect(t, s.ClientURL(), full))
		noCert := full
		noCert.TLSCert, noCert.TLSKey = "", ""
		require.Error(t, connect(t, s.ClientURL(), noCert), "the server requires a client certificate")
		noCA := full
		noCA.TLSCA = ""
		require.Error(t, connect(t, s.ClientURL(), noCA), "the server's certificate is not trusted by the system")
	})
}

type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

// mustPKI writes a CA and a server (127.0.0.1) and client certificate it
// signed.
func mustPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, kind string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}
