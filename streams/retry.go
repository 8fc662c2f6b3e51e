package streams

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream API error codes that mean "not yet" in a cluster still forming
// or electing a leader, rather than a bad request.
const (
	codeClusterNotAvailable jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	codeNoSuitablePeers     jetstream.ErrorCode = 10005 // no suitable peers for placement
	codeClusterNotLeader    jetstream.ErrorCode = 10009 // JetStream cluster can not handle request
	codeClusterIncomplete   jetstream.ErrorCode = 10004 // incomplete results
)

// An attempt is bounded, so that a request the server does not answer is
// sent again rather than waited on until ctx ends: one sent while no meta
// leader is elected, and the create of a stream or bucket that another
// client (another node of the cluster, starting at the same time) asked
// for at the same moment: the server creates it once and answers only one
// of the requests, sometimes neither. The next attempt finds it created.
// 500 ms at first (an R3 stream takes 100-200 ms to create on a busy
// 2-core machine), doubling to 2 s for a slow cluster: no longer, since a
// request sent just before the meta leader is elected is lost too, and
// waited on for the whole attempt.
const (
	firstAttemptTimeout = 500 * time.Millisecond
	maxAttemptTimeout   = 2 * time.Second
	maxRetryWait        = time.Second
)

// unavailable reports whether err says JetStream cannot answer yet: no
// meta leader elected, not enough peers for the replicas, no responder,
// or a request that timed out. Such a request may succeed when retried.
func unavailable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case codeClusterNotAvailable, codeNoSuitablePeers, codeClusterNotLeader,
			codeClusterIncomplete, jetstream.JSErrCodeJetStreamNotEnabled:
			return true
		}
	}
	return errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}

// retryUnavailable runs f until it succeeds, fails with an error other than
// unavailable, or ctx ends, waiting 100 ms doubling to maxRetryWait between
// attempts. When ctx ends, the last error of f is returned.
func retryUnavailable(ctx context.Context, onRetry func(error, time.Duration), f func(context.Context) error) error {
	wait, timeout := 100*time.Millisecond, firstAttemptTimeout
	for {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := f(actx)
		cancel()
		if err == nil || !unavailable(err) || ctx.Err() != nil {
			return err
		}
		if onRetry != nil {
			onRetry(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
		timeout = min(2*timeout, maxAttemptTimeout)
	}
}
