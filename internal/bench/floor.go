package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// Floor is the live stage's flow of messages without latticestate: the
// same publisher, stream and rates, and a consumer that writes, for each
// event, the event itself to the key of its host in a fresh bucket with a
// compare-and-set, as the projector writes a host's document, and acks
// the events of a batch once their writes are acknowledged. It decodes,
// folds and encodes nothing. What it measures is what JetStream alone
// gives on the machine; the live stage measures the projector against it.
//
// It runs with no projector consuming, and matches a write to its publish
// by stream sequence: nothing else may publish to the stream meanwhile.
func Floor(ctx context.Context, pub *nats.Conn, js jetstream.JetStream, res *streams.Resources, msgs *Events, perSec float64, settle time.Duration, progress Progress) (Stage, error) {
	n := msgs.Len()
	st := Stage{Name: "floor", Events: uint64(n), Live: &Live{OfferedPerSec: perSec}}
	if n == 0 || perSec <= 0 {
		return st, fmt.Errorf("floor stage needs events and a rate, got %d events at %v/s", n, perSec)
	}
	if _, _, err := FreshBucket(ctx, js, streams.BenchFloorBucket); err != nil {
		return st, err
	}
	info, err := res.Events.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("stream info: %w", err)
	}
	base := info.State.LastSeq + 1
	if err := deleteConsumer(ctx, res.Events, streams.BenchFloorConsumer); err != nil {
		return st, err
	}
	cons, err := res.Events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       streams.BenchFloorConsumer,
		Description:   "latticestate bench: the live stage's messages without a projector",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   base,
		AckPolicy:     jetstream.AckAllPolicy,
		MaxAckPending: 100_000,
	})
	if err != nil {
		return st, fmt.Errorf("floor consumer: %w", err)
	}
	defer func() { _ = deleteConsumer(context.WithoutCancel(ctx), res.Events, streams.BenchFloorConsumer) }()

	rec := newRecorder(msgs)
	w := &floorWriter{js: js, rec: rec, base: base, keys: floorKeys(msgs), revs: map[string]uint64{}, in: make(chan jetstream.Msg, 4096)}
	runCtx, cancel := context.WithCancel(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case w.in <- m:
		case <-runCtx.Done():
		}
	}, jetstream.PullMaxMessages(2000))
	if err != nil {
		cancel()
		return st, fmt.Errorf("floor consumer: %w", err)
	}
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		writeErr = w.run(runCtx)
		cancel()
	})
	stop := func() error {
		cancel()
		cc.Stop()
		<-cc.Closed()
		wg.Wait()
		if errors.Is(writeErr, context.Canceled) {
			return nil
		}
		return writeErr
	}

	clock := startClock()
	perSecDone, err := publishOnSchedule(ctx, pub, rec, msgs, perSec, progress)
	st.Live.PublishedPerSec = perSecDone
	if err != nil {
		return st, errors.Join(err, stop())
	}
	// runCtx ends early when the writer fails: stop says why.
	_ = rec.wait(runCtx, settle)
	progress.report(uint64(n), uint64(n))
	clock.stop(&st, rec)
	return st, errors.Join(ctx.Err(), stop())
}

// floorWriter writes the floor stage's events as they are delivered: all
// that wait at once make a batch, in which each key is written once, with
// its last event, as a projector's window writes a document once; the
// writes are awaited together before the batch's last event is acked.
type floorWriter struct {
	js   jetstream.JetStream
	rec  *recorder
	base uint64
	// keys are the keys of the events offered, by index: the event at
	// stream sequence base+i is the one at i. They are read before the
	// clock starts, so that the stage decodes nothing; an event not
	// offered has its key read as it comes.
	keys []string
	// revs is the revision of each key, which its next write expects.
	revs map[string]uint64
	in   chan jetstream.Msg
}

// floorSubject prefixes the floor bucket's keys to make their subjects.
const floorSubject = "$KV." + streams.BenchFloorBucket + "."

// floorBatch bounds the events written at once.
const floorBatch = 512

func (w *floorWriter) run(ctx context.Context) error {
	batch := make([]jetstream.Msg, 0, floorBatch)
	last := make(map[string]jetstream.Msg, floorBatch)
	keys := make([]string, 0, floorBatch)
	futs := make([]jetstream.PubAckFuture, 0, floorBatch)
	// offered holds the index of each offered event of the batch.
	offered := make([]int, 0, floorBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-w.in:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < floorBatch {
			select {
			case m := <-w.in:
				batch = append(batch, m)
			default:
				break more
			}
		}
		keys, futs, offered = keys[:0], futs[:0], offered[:0]
		clear(last)
		for _, m := range batch {
			var key string
			if i, ok := w.index(m); ok {
				key = w.keys[i]
				offered = append(offered, i)
			} else {
				key = floorKey(m.Subject(), m.Data())
			}
			if _, ok := last[key]; !ok {
				keys = append(keys, key)
			}
			last[key] = m
		}
		for _, key := range keys {
			m := last[key]
			wm := nats.NewMsg(floorSubject + key)
			wm.Data = m.Data()
			fut, err := w.js.PublishMsgAsync(wm, jetstream.WithExpectLastSequencePerSubject(w.revs[key]))
			if err != nil {
				return fmt.Errorf("write %s: %w", key, err)
			}
			futs = append(futs, fut)
		}
		for i, fut := range futs {
			select {
			case ack := <-fut.Ok():
				w.revs[keys[i]] = ack.Sequence
			case err := <-fut.Err():
				return fmt.Errorf("write %s: %w", keys[i], err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		at := time.Now().UnixNano()
		for _, i := range offered {
			w.rec.appliedIndex(i, at)
		}
		if err := batch[len(batch)-1].Ack(); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
}

// index is the index of the offered event m is; false for one that is
// not offered.
func (w *floorWriter) index(m jetstream.Msg) (int, bool) {
	md, err := m.Metadata()
	if err != nil || md.Sequence.Stream < w.base || md.Sequence.Stream-w.base >= uint64(len(w.keys)) {
		return 0, false
	}
	return int(md.Sequence.Stream - w.base), true
}

// floorKeys are the keys of msgs, shared between the events of a host.
func floorKeys(msgs *Events) []string {
	keys := make([]string, msgs.Len())
	seen := map[string]string{}
	for i := range keys {
		k := floorKey(msgs.subjects[i], msgs.data[i])
		if s, ok := seen[k]; ok {
			k = s
		} else {
			seen[k] = k
		}
		keys[i] = k
	}
	return keys
}

// floorKey is the key of the host an event is about, as the projector
// names a host's document: the lattice of its subject and its CloudEvent
// source, a host's public key. An event without either has the key
// "unknown".
func floorKey(subject string, data []byte) string {
	lattice, err := streams.LatticeOf(subject)
	if err != nil {
		return "unknown"
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '{' {
		return "unknown"
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return "unknown"
		}
		if name.String() == "source" {
			if v, err := dec.ReadToken(); err == nil && v.Kind() == '"' && projections.ValidHostID(v.String()) {
				return streams.HostKey(lattice, v.String())
			}
			return "unknown"
		}
		if err := dec.SkipValue(); err != nil {
			return "unknown"
		}
	}
	return "unknown"
}
