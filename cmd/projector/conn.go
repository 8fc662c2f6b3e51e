package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/read"
	"latticestate/pipeline"
	"latticestate/streams"
)

// queryFlags are shared by the commands that read the projections.
type queryFlags struct {
	natsURL string
	lattice string
	output  string
	asOf    string
	bucket  string
	timeout time.Duration
	conn    cli.ConnFlags
	cmd     *cobra.Command
}

func (q *queryFlags) register(cmd *cobra.Command, withAsOf bool) {
	q.cmd = cmd
	cmd.Long += "\n\n" + cli.ConnHelp
	f := cmd.Flags()
	q.conn.Register(f)
	f.StringVar(&q.natsURL, "nats-url", nats.DefaultURL, "NATS server holding the latticestate stream and bucket")
	f.StringVar(&q.lattice, "lattice", "default", "lattice to query")
	f.StringVarP(&q.output, "output", "o", "table", "output format: table or json")
	f.DurationVar(&q.timeout, "timeout", 10*time.Second, "how long to wait for NATS")
	f.StringVar(&q.bucket, "bucket", "", "read this KV bucket instead of "+streams.StateBucket)
	if withAsOf {
		f.StringVar(&q.asOf, "as-of", "", "the state as it was after a stream sequence or at an RFC 3339 time, rebuilt from the nearest snapshot and the events after it")
	}
}

func (q *queryFlags) validate() error {
	if q.output != "table" && q.output != "json" {
		return cli.Exit(2, fmt.Errorf("--output %q: use table or json", q.output))
	}
	if _, err := q.conn.Options(); err != nil {
		return cli.Exit(2, err)
	}
	return validateLatticeName(q.lattice)
}

// queryConn is a connection of a query command and what it reads with.
type queryConn struct {
	nc *nats.Conn
	js jetstream.JetStream
	// bucket is the live state (--bucket, or the state bucket), reader
	// the live state and its history.
	bucket *read.Bucket
	reader *read.Reader
}

func (c *queryConn) Close() { c.nc.Close() }

// connect opens NATS and the state bucket, with errors that say what to do.
func (q *queryFlags) connect(ctx context.Context) (*queryConn, error) {
	sec, err := q.conn.Options()
	if err != nil {
		return nil, err
	}
	opts := append([]nats.Option{nats.Name("latticestate-cli"), nats.Timeout(q.timeout),
		cli.PrintAsyncErrors(q.cmd.ErrOrStderr(), "projector")}, sec...)
	nc, err := nats.Connect(q.natsURL, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, authError(q.natsURL, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s (%v): is `projector serve` running? Point --nats-url (or LATTICESTATE_NATS_URL) at your server", q.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	bucket := read.NewBucket(js, q.bucket)
	_, err = bucket.KeyValue(ctx)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		nc.Close()
		return nil, fmt.Errorf("NATS at %s has no latticestate state bucket (%v): run `projector serve --nats-url %s` first", q.natsURL, err, q.natsURL)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, context.DeadlineExceeded):
		nc.Close()
		return nil, fmt.Errorf("JetStream is not available at %s: %w", q.natsURL, err)
	case err != nil:
		nc.Close()
		return nil, fmt.Errorf("%w (NATS at %s)", err, q.natsURL)
	}
	return &queryConn{nc: nc, js: js, bucket: bucket, reader: read.New(bucket, pipeline.NewHistory(js, pipeline.WithoutSnapshotCache()))}, nil
}

// at returns the point --as-of names; the zero AsOf, the live state, when
// it is not given.
func (q *queryFlags) at() (read.AsOf, error) {
	if q.asOf == "" {
		return read.AsOf{}, nil
	}
	at, err := read.ParseAsOf(q.asOf)
	if err != nil {
		return read.AsOf{}, cli.Exit(2, fmt.Errorf("--as-of: %w", err))
	}
	return at, nil
}

// authError explains a connection the server refused for its credentials.
func authError(url string, err error) error {
	return fmt.Errorf("NATS at %s refused the credentials (%w): check --creds, --nkey or --user/--password (or their LATTICESTATE_* variables)", url, err)
}
