package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/spf13/pflag"
)

// ConnFlags are the NATS authentication and TLS flags every command that
// connects to NATS shares. Register adds them to a flag set (so
// LATTICESTATE_CREDS, LATTICESTATE_USER, … mirror them through ApplyEnv);
// Options turns them into nats.go's own connect options.
type ConnFlags struct {
	Creds    string // user JWT and seed, as `nsc` or `nats` write them
	NKey     string // nkey user seed file
	User     string
	Password string
	TLSCA    string // CA bundle to verify the server with
	TLSCert  string // client certificate (mutual TLS)
	TLSKey   string // key of TLSCert
	TLSFirst bool   // TLS handshake before the server's INFO
	// InboxPrefix is the first part of this client's reply subjects
	// (<prefix>.<random>): a server that lets each user subscribe only to
	// its own prefix keeps users from reading each other's replies.
	InboxPrefix string
}

// DefaultInboxPrefix is nats.go's own inbox prefix, which wasmCloud hosts
// and most NATS clients use.
const DefaultInboxPrefix = "_INBOX"

// Register adds the connection flags to fs.
func (c *ConnFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&c.Creds, "creds", "", "NATS user credentials `FILE` (JWT and nkey seed, decentralized auth)")
	fs.StringVar(&c.NKey, "nkey", "", "NATS nkey user seed `FILE` (a line starting with SU)")
	fs.StringVar(&c.User, "user", "", "NATS user `NAME` (with --password)")
	fs.StringVar(&c.Password, "password", "", "NATS `PASSWORD` of --user; prefer "+EnvName("password")+", which stays out of the process list")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM CA bundle `FILE` to verify the NATS server's certificate with (turns TLS on)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM client certificate `FILE` for mutual TLS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key `FILE` of --tls-cert")
	fs.BoolVar(&c.TLSFirst, "tls-first", false, "start TLS before the server's INFO (server configured with handshake_first)")
	fs.StringVar(&c.InboxPrefix, "inbox-prefix", DefaultInboxPrefix, "reply subjects start with `PREFIX`: set the one your NATS user may subscribe to, e.g. _INBOX_reader")
}

// ConnHelp explains the connection flags, for a command's long help.
const ConnHelp = `Connecting to a secured NATS server (each flag also as LATTICESTATE_<FLAG>):
  --creds FILE               user JWT + seed (decentralized auth, nsc/nats CLI)
  --nkey FILE                nkey user seed
  --user NAME --password PW  user and password (or nats://user:pw@host in the URL)
  --tls-ca FILE              verify the server with this CA (TLS on)
  --tls-cert FILE --tls-key FILE   client certificate for mutual TLS
  --tls-first                TLS handshake first, for servers with handshake_first
  --inbox-prefix PREFIX      reply subjects under PREFIX (default _INBOX), for servers
                             where each user may read only its own, e.g. _INBOX_reader
Give at most one of --creds, --nkey and --user.`

// Options returns the nats.go options for the flags, or an error that names
// the flag when they conflict or a file cannot be read or parsed.
func (c *ConnFlags) Options() ([]nats.Option, error) {
	var opts []nats.Option
	auth := 0
	for _, set := range []bool{c.Creds != "", c.NKey != "", c.User != ""} {
		if set {
			auth++
		}
	}
	switch {
	case auth > 1:
		return nil, errors.New("give at most one of --creds, --nkey and --user")
	case c.Password != "" && c.User == "":
		return nil, errors.New("--password needs --user")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if c.Creds != "" {
		if err := checkCreds(c.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.NKey != "" {
		if _, err := readFlagFile("nkey", c.NKey); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nkey %s: %w", c.NKey, err)
		}
		opts = append(opts, o)
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCA != "" {
		if _, err := readFlagFile("tls-ca", c.TLSCA); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		if _, err := readFlagFile("tls-cert", c.TLSCert); err != nil {
			return nil, err
		}
		if _, err := readFlagFile("tls-key", c.TLSKey); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	if c.InboxPrefix != "" && c.InboxPrefix != DefaultInboxPrefix {
		if err := validInboxPrefix(c.InboxPrefix); err != nil {
			return nil, err
		}
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// validInboxPrefix accepts one or more subject tokens without wildcards or
// white space: the prefix becomes the start of every reply subject.
func validInboxPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> ") || strings.ContainsFunc(tok, unicode.IsControl) {
			return fmt.Errorf("--inbox-prefix %q: want subject tokens without wildcards, spaces or empty parts, e.g. _INBOX_reader", p)
		}
	}
	return nil
}

// checkCreds reads a credentials file now, so that a wrong path or a file
// of the wrong kind fails with the flag's name rather than at connect time
// (nats.UserCredentials reads it on every connect).
func checkCreds(name string) error {
	b, err := readFlagFile("creds", name)
	if err != nil {
		return err
	}
	defer clear(b)
	jwt, err := nkeys.ParseDecoratedJWT(b)
	if err != nil || strings.Count(jwt, ".") != 2 {
		return fmt.Errorf("--creds %s: no user JWT in the file (expected a .creds file as written by nsc or the nats CLI)", name)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("--creds %s: no user nkey seed in the file: %w", name, err)
	}
	kp.Wipe()
	return nil
}

func readFlagFile(flag, name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("--%s %s: cannot read the file: %w", flag, name, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("--%s %s: the file is empty", flag, name)
	}
	return b, nil
}
