package bench

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/sim"
)

// publishWindow bounds the asynchronous publishes awaiting their PubAck;
// it is below the client's own limit, so a publish never stalls.
const publishWindow = 2048

// Filled describes the events Fill published.
type Filled struct {
	Events  uint64  `json:"events"`
	Bytes   uint64  `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// FirstSeq and LastSeq are the stream sequences of the first and last
	// event published.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// Events are generated events waiting to be published. They are kept
// without the pointers of a nats.Msg (a header map and its slices per
// message): a live stage holds up to 300,000 of them, which the garbage
// collector of the measured process would otherwise trace on every cycle.
type Events struct {
	subjects []string
	data     [][]byte
	// headers are each message's headers as key, NUL, value, NUL, ...
	headers []string
	// ids are the hashes (idHash) of the events' CloudEvent ids, by which
	// the live stage knows an event when the projector writes it.
	ids []uint64
}

// idSeed seeds idHash for the life of the process.
var idSeed = maphash.MakeSeed()

// idHash is the hash of a CloudEvent id by which the live stage matches
// a written event to its publish: 64 bits, so that two of a stage's
// events share one with a chance of about 10^-9.
func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// Len is the number of events.
func (e *Events) Len() int { return len(e.subjects) }

// Msg returns event i as a new message to publish.
func (e *Events) Msg(i int) *nats.Msg {
	m := nats.NewMsg(e.subjects[i])
	m.Data = e.data[i]
	for h := e.headers[i]; h != ""; {
		var k, v string
		k, h, _ = strings.Cut(h, "\x00")
		v, h, _ = strings.Cut(h, "\x00")
		m.Header.Add(k, v)
	}
	return m
}

func (e *Events) add(m *nats.Msg, id string) {
	var h strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m.Header)) {
		for _, v := range m.Header[k] {
			h.WriteString(k + "\x00" + v + "\x00")
		}
	}
	e.subjects = append(e.subjects, m.Subject)
	e.data = append(e.data, m.Data)
	e.headers = append(e.headers, h.String())
	e.ids = append(e.ids, idHash(id))
}

// Generate returns the next n events of hist.
func Generate(hist *sim.History, n int) (*Events, error) {
	e := &Events{subjects: make([]string, 0, n), data: make([][]byte, 0, n), headers: make([]string, 0, n), ids: make([]uint64, 0, n)}
	for range n {
		m, id, err := hist.NextEvent()
		if err != nil {
			return nil, err
		}
		e.add(m, id)
	}
	return e, nil
}

// Fill publishes the next n events of hist to their subjects, captured by
// the event stream, with asynchronous JetStream publishes; the events are
// generated while earlier ones are published. It returns once every
// event has its PubAck.
func Fill(ctx context.Context, js jetstream.JetStream, hist *sim.History, n int, progress Progress) (Filled, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gen := make(chan *nats.Msg, 4096)
	var genErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(gen)
		for range n {
			m, err := hist.Next()
			if err != nil {
				genErr = err
				return
			}
			select {
			case gen <- m:
			case <-ctx.Done():
				return
			}
		}
	})
	f, err := publishAll(ctx, js, gen, n, progress)
	cancel()
	wg.Wait()
	if err == nil && genErr != nil {
		err = fmt.Errorf("generate events: %w", genErr)
	}
	if err == nil && f.Events != uint64(n) {
		err = fmt.Errorf("published %d events of %d", f.Events, n)
	}
	return f, err
}

// publishAll publishes what msgs yields, waiting for the PubAcks of each
// window.
func publishAll(ctx context.Context, js jetstream.JetStream, msgs <-chan *nats.Msg, n int, progress Progress) (Filled, error) {
	var f Filled
	start := time.Now()
	pending := make([]jetstream.PubAckFuture, 0, publishWindow)
	awaitAcks := func() error {
		for _, fut := range pending {
			select {
			case ack := <-fut.Ok():
				if f.FirstSeq == 0 {
					f.FirstSeq = ack.Sequence
				}
				f.LastSeq = max(f.LastSeq, ack.Sequence)
				f.Events++
			case err := <-fut.Err():
				return fmt.Errorf("publish to %s: %w", fut.Msg().Subject, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		progress.report(f.Events, uint64(n))
		return nil
	}
	for m := range msgs {
		fut, err := js.PublishMsgAsync(m)
		if err != nil {
			return f, fmt.Errorf("publish to %s: %w", m.Subject, err)
		}
		f.Bytes += uint64(len(m.Data))
		if pending = append(pending, fut); len(pending) == publishWindow {
			if err := awaitAcks(); err != nil {
				return f, err
			}
		}
	}
	if err := awaitAcks(); err != nil {
		return f, err
	}
	f.Seconds = since(start)
	return f, nil
}
