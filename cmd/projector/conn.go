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
	"latticestate/pipeline"
	"latticestate/projections"
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

// connect opens NATS and the state bucket, with errors that say what to do.
func (q *queryFlags) connect(ctx context.Context) (*nats.Conn, jetstream.JetStream, jetstream.KeyValue, error) {
	sec, err := q.conn.Options()
	if err != nil {
		return nil, nil, nil, err
	}
	opts := append([]nats.Option{nats.Name("latticestate-cli"), nats.Timeout(q.timeout),
		cli.PrintAsyncErrors(q.cmd.ErrOrStderr(), "projector")}, sec...)
	nc, err := nats.Connect(q.natsURL, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, nil, nil, authError(q.natsURL, err)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot connect to NATS at %s (%v): is `projector serve` running? Point --nats-url (or LATTICESTATE_NATS_URL) at your server", q.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	kv, err := q.stateBucket(ctx, js)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		nc.Close()
		return nil, nil, nil, fmt.Errorf("NATS at %s has no latticestate state bucket (%v): run `projector serve --nats-url %s` first", q.natsURL, err, q.natsURL)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, context.DeadlineExceeded):
		nc.Close()
		return nil, nil, nil, fmt.Errorf("JetStream is not available at %s: %w", q.natsURL, err)
	case err != nil:
		nc.Close()
		return nil, nil, nil, fmt.Errorf("open bucket %s at %s: %w", streams.StateBucket, q.natsURL, err)
	}
	return nc, js, kv, nil
}

// stateBucket opens --bucket, or the state bucket.
func (q *queryFlags) stateBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	if q.bucket != "" {
		return js.KeyValue(ctx, q.bucket)
	}
	return pipeline.NewStateReader(js).Bucket(ctx)
}

// latticeAsOf rebuilds the lattice as it was at --as-of. A point whose
// history is gone, or past the end of the stream, exits 1 with the reason.
func (q *queryFlags) latticeAsOf(ctx context.Context, js jetstream.JetStream) (*projections.Lattice, error) {
	asOf, err := pipeline.ParseAsOf(q.asOf)
	if err != nil {
		return nil, cli.Exit(2, fmt.Errorf("--as-of: %w", err))
	}
	return pipeline.NewHistory(js).Lattice(ctx, q.lattice, asOf)
}

// authError explains a connection the server refused for its credentials.
func authError(url string, err error) error {
	return fmt.Errorf("NATS at %s refused the credentials (%w): check --creds, --nkey or --user/--password (or their LATTICESTATE_* variables)", url, err)
}
