// Package cli holds what the latticestate commands share: flags mirrored
// by LATTICESTATE_* environment variables, and exit statuses.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvPrefix: every flag --some-flag can also be set as
// LATTICESTATE_SOME_FLAG, so the commands share e.g. LATTICESTATE_NATS_URL.
const EnvPrefix = "LATTICESTATE_"

// EnvName is the environment variable of flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets every flag of cmd not given on the command line from its
// LATTICESTATE_* variable, when that is set.
func ApplyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if setErr := cmd.Flags().Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, setErr)
		}
	})
	return err
}

// ExitError carries a specific exit status out of a command; Err, when
// set, is printed first.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an error that makes Main exit with code after printing err
// (nil: print nothing).
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Main runs root and maps its error to an exit status: an ExitError's code,
// else otherCode. Errors are printed on stderr prefixed with name.
func Main(name string, root *cobra.Command, otherCode int) {
	err := root.Execute()
	if err == nil {
		return
	}
	code := otherCode
	var exit *ExitError
	if errors.As(err, &exit) {
		code, err = exit.Code, exit.Err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
	}
	os.Exit(code)
}

// NATSOptions are the connection options of a long-running command: its
// name, reconnecting forever, and a log line for each disconnect error,
// reconnect and asynchronous error (a permissions violation among them).
func NATSOptions(name string, log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrl()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("NATS error", "err", err, "subject", sub.Subject)
				return
			}
			log.Error("NATS error", "err", err)
		}),
	}
}

// PrintAsyncErrors is the option of a short-lived command: errors the
// server reports asynchronously, such as a permissions violation that
// otherwise only shows as a timeout, are printed on w prefixed with name.
func PrintAsyncErrors(w io.Writer, name string) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		fmt.Fprintf(w, "%s: %v\n", name, err)
	})
}
