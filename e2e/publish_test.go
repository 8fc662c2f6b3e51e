package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/streams"
)

// ackedPublisher publishes lines with JetStream as the hosts they come
// from would: each with Nats-Msg-Id = its CloudEvent id, every host's lines
// one after the other (the next only once the last is acknowledged), many
// hosts at once (at most window lines unacknowledged), and a line that is
// not acknowledged published again until it is, which is the publisher's
// job while a cluster elects a new leader. The stream's duplicate window
// drops a line stored twice; one host's lines are stored in the order
// published.
type ackedPublisher struct {
	lines   [][]byte
	ids     []string
	hosts   []string
	subject string
	window  int
	rate    int // lines per second at most

	acked   atomic.Int64 // lines acknowledged
	retries atomic.Int64 // publishes of a line after its first
	done    chan error

	// Set by the publishing goroutine, read after done.
	seqs   []uint64      // stream sequence of each line
	stalls []stall       // pauses of at least stallMin without an ack
	took   time.Duration // from the first publish to the last ack
}

// stall is a pause without acknowledgements, from the start of publishing.
type stall struct{ at, lasted time.Duration }

// stallMin is the shortest pause without an ack reported as a stall.
const stallMin = 250 * time.Millisecond

// loggedRetries is how many retries are logged one by one.
const loggedRetries = 20

// startAckedPublisher publishes lines to subject on its own connection to
// urls (comma-separated), at most window unacknowledged and rate per second
// (0: as fast as acknowledged), until all are acknowledged.
func startAckedPublisher(tb testing.TB, urls, subject string, lines [][]byte, window, rate int) *ackedPublisher {
	tb.Helper()
	p := &ackedPublisher{lines: lines, ids: make([]string, len(lines)), hosts: make([]string, len(lines)),
		subject: subject, window: window, rate: rate, seqs: make([]uint64, len(lines)), done: make(chan error, 1)}
	for i, l := range lines {
		var ev struct {
			ID     string `json:"id"`
			Source string `json:"source"`
		}
		require.NoError(tb, json.Unmarshal(l, &ev))
		require.NotEmpty(tb, ev.ID, "line %d has no id", i)
		p.ids[i], p.hosts[i] = ev.ID, ev.Source
	}
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(64<<20), nats.Name("e2e-acked-publisher"))
	require.NoError(tb, err)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncTimeout(2*time.Second))
	require.NoError(tb, err)
	go func() {
		defer nc.Close()
		p.done <- p.run(tb, js)
	}()
	return p
}

// inFlight is a line published and not yet known to be acknowledged.
type inFlight struct {
	i        int
	f        jetstream.PubAckFuture
	resolved bool
}

func (p *ackedPublisher) run(tb testing.TB, js jetstream.JetStream) error {
	start := time.Now()
	lastAck := start
	publish := func(i int) jetstream.PubAckFuture {
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			// No retry inside the client: a line it published again
			// would land after later lines of its host.
			f, err := js.PublishMsgAsync(&nats.Msg{Subject: p.subject, Data: p.lines[i]},
				jetstream.WithMsgID(p.ids[i]), jetstream.WithRetryAttempts(0))
			if err == nil {
				return f
			}
			p.retried(tb, i, err)
			time.Sleep(wait)
		}
	}
	// resolve waits for pf's acknowledgement, publishing it again until
	// there is one.
	resolve := func(pf *inFlight) error {
		if pf.resolved {
			return nil
		}
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			select {
			case ack := <-pf.f.Ok():
				now := time.Now()
				if gap := now.Sub(lastAck); gap >= stallMin {
					p.stalls = append(p.stalls, stall{at: lastAck.Sub(start), lasted: gap})
				}
				lastAck = now
				p.seqs[pf.i] = ack.Sequence
				p.acked.Add(1)
				pf.resolved = true
				return nil
			case err := <-pf.f.Err():
				if time.Since(start) > 5*time.Minute {
					return fmt.Errorf("line %d not acknowledged after 5m: %w", pf.i, err)
				}
				p.retried(tb, pf.i, err)
				time.Sleep(wait)
				pf.f = publish(pf.i)
			}
		}
	}
	last := map[string]*inFlight{} // by host
	var queue []*inFlight          // in publish order
	for i := range p.lines {
		if pf := last[p.hosts[i]]; pf != nil {
			if err := resolve(pf); err != nil {
				return err
			}
		}
		for len(queue) > 0 && (queue[0].resolved || len(queue) >= p.window) {
			if err := resolve(queue[0]); err != nil {
				return err
			}
			queue = queue[1:]
		}
		if p.rate > 0 && i%50 == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(p.rate))))
		}
		pf := &inFlight{i: i, f: publish(i)}
		last[p.hosts[i]] = pf
		queue = append(queue, pf)
	}
	for _, pf := range queue {
		if err := resolve(pf); err != nil {
			return err
		}
	}
	p.took = time.Since(start)
	return nil
}

// retried counts a line published again, and logs the first few.
func (p *ackedPublisher) retried(tb testing.TB, i int, err error) {
	if n := p.retries.Add(1); n <= loggedRetries {
		tb.Logf("publish: line %d not acknowledged (%v), publishing it again", i, err)
		if n == loggedRetries {
			tb.Logf("publish: further retries are only counted")
		}
	}
}

// waitAcked waits until at least n lines are acknowledged; false when the
// publisher finished or failed first.
func (p *ackedPublisher) waitAcked(n int) bool {
	for p.acked.Load() < int64(n) {
		if len(p.done) > 0 {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// wait waits until every line is acknowledged.
func (p *ackedPublisher) wait(tb testing.TB) {
	tb.Helper()
	select {
	case err := <-p.done:
		require.NoError(tb, err)
		p.done <- err
	case <-time.After(5 * time.Minute):
		tb.Fatal("publisher not done after 5m")
	}
}

// requireStreamHoldsExactly reads the event stream and requires what it
// holds on the publisher's subject to be exactly the published lines, each
// once, at the sequence its acknowledgement named, and each host's lines in
// the order published: folding the stream is folding what was published.
func (p *ackedPublisher) requireStreamHoldsExactly(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stored := map[uint64][]byte{}
	forEachStreamMsg(tb, ctx, js, func(seq uint64, subject string, data []byte) {
		if subject == p.subject {
			stored[seq] = data
		}
	})
	require.Len(tb, stored, len(p.lines), "events on %s in the stream", p.subject)
	last := map[string]uint64{}
	for i, l := range p.lines {
		require.NotZero(tb, p.seqs[i], "line %d was never acknowledged", i)
		require.Equal(tb, string(l), string(stored[p.seqs[i]]), "line %d at stream sequence %d", i, p.seqs[i])
		require.Greater(tb, p.seqs[i], last[p.hosts[i]], "line %d stored before an earlier line of host %s", i, p.hosts[i])
		last[p.hosts[i]] = p.seqs[i]
	}
}

// forEachStreamMsg calls f with every message of the event stream, in
// stream order.
func forEachStreamMsg(tb testing.TB, ctx context.Context, js jetstream.JetStream, f func(seq uint64, subject string, data []byte)) {
	tb.Helper()
	s, err := js.Stream(ctx, streams.EventsStream)
	require.NoError(tb, err)
	info, err := s.Info(ctx)
	require.NoError(tb, err)
	if info.State.Msgs == 0 {
		return
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(tb, err)
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	require.NoError(tb, err)
	defer it.Stop()
	for {
		// One Next for the whole wait, so that the iterator's check for
		// missed heartbeats can run and resume a stalled read.
		m, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			tb.Fatalf("stream read stopped before sequence %d: %v", info.State.LastSeq, err)
		}
		require.NoError(tb, err)
		meta, err := m.Metadata()
		require.NoError(tb, err)
		f(meta.Sequence.Stream, m.Subject(), m.Data())
		if meta.Sequence.Stream >= info.State.LastSeq {
			return
		}
	}
}
