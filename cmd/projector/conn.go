package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"latticestate/streams"
)

// queryFlags are shared by the commands that read the projections.
type queryFlags struct {
	natsURL string
	lattice string
	output  string
	asOf    string
	timeout time.Duration
}

func (q *queryFlags) register(cmd *cobra.Command, withAsOf bool) {
	f := cmd.Flags()
	f.StringVar(&q.natsURL, "nats-url", nats.DefaultURL, "NATS server holding the latticestate stream and bucket")
	f.StringVar(&q.lattice, "lattice", "default", "lattice to query")
	f.StringVarP(&q.output, "output", "o", "table", "output format: table or json")
	f.DurationVar(&q.timeout, "timeout", 10*time.Second, "how long to wait for NATS")
	if withAsOf {
		f.StringVar(&q.asOf, "as-of", "", "answer from the stream as of a stream sequence or RFC 3339 time, not from the live bucket")
	}
}

func (q *queryFlags) validate() error {
	if q.output != "table" && q.output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: use table or json", q.output)}
	}
	return validateLatticeName(q.lattice)
}

// connect opens NATS and the state bucket, with errors that say what to do.
func (q *queryFlags) connect(ctx context.Context) (*nats.Conn, jetstream.JetStream, jetstream.KeyValue, error) {
	nc, err := nats.Connect(q.natsURL, nats.Name("latticestate-cli"), nats.Timeout(q.timeout))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot connect to NATS at %s (%v): is `projector serve` running? Point --nats-url (or LATTICESTATE_NATS_URL) at your server", q.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	kv, err := js.KeyValue(ctx, streams.StateBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		nc.Close()
		return nil, nil, nil, fmt.Errorf("NATS at %s has no %s bucket: run `projector serve --nats-url %s` first", q.natsURL, streams.StateBucket, q.natsURL)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, context.DeadlineExceeded):
		nc.Close()
		return nil, nil, nil, fmt.Errorf("JetStream is not available at %s: %w", q.natsURL, err)
	case err != nil:
		nc.Close()
		return nil, nil, nil, fmt.Errorf("open bucket %s at %s: %w", streams.StateBucket, q.natsURL, err)
	}
	return nc, js, kv, nil
}
