package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// Reasons for rebuilding the state bucket from the stream.
const (
	rebuildReplaced = "replaced"
	rebuildBucket   = "bucket"
	rebuildReplay   = "replay"
)

// errFollow ends consume when the stream or the state bucket is no longer
// the one the projector's state follows: it is rebuilt before pulling on.
var errFollow = errors.New("stream or state bucket changed")

// follow makes sure the state follows the stream as it is now, under the
// lease, before pulling: a deleted state bucket is created again and the
// state rebuilt into it; a deleted event stream is created again; a stream
// that is not the one the checkpoint counts in (created again, restored
// from an older backup, or with writes lost to a power cut) has the state
// rebuilt from it, from its snapshots where they apply, and the consumer
// restarted after the rebuilt point. New events are never skipped as
// already applied.
func (p *Projector) follow(ctx context.Context) error {
	if p.stateGone(ctx) {
		p.log.Warn("state bucket is gone: creating it again and rebuilding it from the stream", "bucket", p.res.State.Bucket())
		kv, st, err := streams.EnsureState(ctx, p.js, p.res.State.Bucket(), p.opts.streamOptions)
		if err != nil {
			return err
		}
		p.res.State, p.res.StateStream = kv, st
		p.store = newStore(p.js, st, kv.Bucket())
		p.high, p.flushed, p.lastDelivery = 0, 0, 0
		p.win = newWindow()
		return p.rebuildState(ctx, rebuildBucket, false, nil)
	}
	info, err := p.res.Events.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		p.log.Warn("event stream is gone: creating it again", "stream", streams.EventsStream)
		if p.res.Events, err = streams.EnsureEvents(ctx, p.js, p.opts.streamOptions); err != nil {
			return err
		}
		info, err = p.res.Events.Info(ctx)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", streams.EventsStream, err)
	}
	if why := p.replaced(info); why != "" {
		p.log.Warn("the event stream is not the one the state was built from: rebuilding the state from it", "why", why)
		if err := p.rebuildState(ctx, rebuildReplaced, false, nil); err != nil {
			return err
		}
		c, err := streams.StartConsumerAt(ctx, p.res.Events, p.opts.lattice, p.flushed+1, p.opts.streamOptions)
		if err != nil {
			return err
		}
		p.consumer = c
		return nil
	}
	if p.streamID == "" {
		p.streamID = streamIdentity(info.Created)
	}
	if _, err := p.consumer.Info(ctx); errors.Is(err, jetstream.ErrConsumerNotFound) {
		p.log.Warn("consumer is gone: creating it again", "consumer", p.name)
		c, err := streams.StartConsumerAt(ctx, p.res.Events, p.opts.lattice, p.flushed+1, p.opts.streamOptions)
		if err != nil {
			return err
		}
		p.consumer = c
	}
	return nil
}

// replaced tells why the stream described by info is not the one the
// checkpoint counts in, "" when it is.
func (p *Projector) replaced(info *jetstream.StreamInfo) string {
	created := streamIdentity(info.Created)
	switch {
	case p.streamID != "" && created != p.streamID:
		return fmt.Sprintf("stream created %s, the checkpoint counts in the one created %s", created, p.streamID)
	case info.State.LastSeq < p.flushed:
		return fmt.Sprintf("stream ends at sequence %d, below the checkpoint %d", info.State.LastSeq, p.flushed)
	}
	return ""
}

// stateGone reports whether the state bucket was deleted.
func (p *Projector) stateGone(ctx context.Context) bool {
	_, err := p.js.Stream(ctx, streams.BucketStream(p.res.State.Bucket()))
	return errors.Is(err, jetstream.ErrStreamNotFound)
}

// streamChanged is the check of follow that costs one request: whether
// follow has something to do.
func (p *Projector) streamChanged(ctx context.Context) bool {
	info, err := p.res.Events.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	return p.replaced(info) != "" || p.stateGone(ctx)
}

// HistoryGoneError says a point of a lattice's history can no longer be
// rebuilt exactly: its events are gone and no snapshot covers them.
type HistoryGoneError struct {
	Lattice string
	// Point is the stream sequence asked for.
	Point uint64
	// Earliest is the earliest point that can still be rebuilt, with the
	// time its event was captured when known; 0 when none can.
	Earliest     uint64
	EarliestTime time.Time
	// First is the first sequence the stream still holds.
	First uint64
}

func (e *HistoryGoneError) Error() string {
	msg := fmt.Sprintf("the history of lattice %s at sequence %d is gone: the stream starts at %d and no snapshot covers the events before", e.Lattice, e.Point, e.First)
	if e.Earliest == 0 {
		return msg + "; no point of it can be rebuilt"
	}
	msg += fmt.Sprintf("; the earliest point available is sequence %d", e.Earliest)
	if !e.EarliestTime.IsZero() {
		msg += " (" + e.EarliestTime.UTC().Format(time.RFC3339Nano) + ")"
	}
	return msg
}

// ErrHistoryGone matches every *HistoryGoneError.
var ErrHistoryGone = errors.New("history gone")

func (e *HistoryGoneError) Is(target error) bool { return target == ErrHistoryGone }

// rebuildState rebuilds the state from the stream as it is now: each
// lattice from its newest snapshot of this stream that the retained events
// continue, plus those events, folded in memory; then it reconciles the
// bucket with the result, writing only documents that differ (compare-and-
// set, like any flush), and records the checkpoint with the stream's
// identity. strict refuses, changing nothing, when a lattice cannot be
// rebuilt exactly; otherwise such a lattice is rebuilt from the retained
// events alone, logged and counted. progress, when set, is told the
// sequence reached and the target.
func (p *Projector) rebuildState(ctx context.Context, reason string, strict bool, progress func(applied, target uint64)) error {
	start := time.Now()
	info, err := p.res.Events.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", streams.EventsStream, err)
	}
	v := viewOf(info)
	var scope []string
	if p.opts.lattice != "" {
		scope = []string{p.opts.lattice}
	}
	if err := p.store.warm(ctx, scope); err != nil {
		return err
	}
	current := p.store.documents()
	set, from, err := p.plan(ctx, v, current, strict, reason == rebuildBucket)
	if err != nil {
		return err
	}
	if err := p.foldRange(ctx, set, from, v.last, progress); err != nil {
		return err
	}
	prevID := p.streamID
	p.streamID = v.created
	if err := p.reconcile(ctx, set, current, v.last); err != nil {
		// Until the checkpoint records the new stream, the next attempt
		// must see the state as built from the old one.
		p.streamID = prevID
		return err
	}
	p.metrics.Rebuilds.WithLabelValues(reason).Inc()
	p.log.Info("state rebuilt from the stream", "reason", reason, "sequence", v.last, "from", from,
		"documents", len(set.docs), "took", time.Since(start).Round(time.Millisecond))
	p.loadSnapshots(ctx)
	return nil
}

// plan loads, for every lattice the state or the snapshots know, the
// newest snapshot the retained events continue, and returns the sequence
// to read the stream from.
func (p *Projector) plan(ctx context.Context, v streamView, current map[string]*document, strict, everything bool) (*docSet, uint64, error) {
	idx := snapIndex{}
	if p.res.Snapshots != nil {
		var err error
		if idx, err = listSnapshots(ctx, p.res.Snapshots); err != nil {
			return nil, 0, err
		}
	}
	known := map[string]bool{}
	for k := range current {
		if l, ok := streams.LatticeOfKey(k); ok {
			known[l] = true
		}
	}
	for l := range idx {
		known[l] = true
	}
	set := newDocSet()
	from := v.last + 1
	if everything {
		from = max(v.first, 1)
	}
	for _, l := range slices.Sorted(maps.Keys(known)) {
		if p.opts.lattice != "" && l != p.opts.lattice {
			continue
		}
		snaps := idx.of(l, v.created)
		i, ok := v.start(snaps, v.last)
		if !ok {
			at, when, _ := v.earliest(snaps)
			gone := &HistoryGoneError{Lattice: l, Point: v.last, Earliest: at, EarliestTime: when, First: v.first}
			if strict {
				return nil, 0, gone
			}
			p.log.Warn("rebuilding a lattice from the retained events only", "lattice", l, "err", gone.Error())
			p.metrics.HistoryLost.Inc()
			i = -1
		}
		if i < 0 {
			from = max(min(from, v.first), 1)
			continue
		}
		docs, err := readSnapshot(ctx, p.res.Snapshots, snaps[i], nil)
		if err != nil {
			return nil, 0, err
		}
		set.putLattice(l, snaps[i].seq, docs)
		from = min(from, snaps[i].seq+1)
	}
	return set, from, nil
}

// foldRange folds the projector's events in [from, to] into set, reading
// the stream directly.
func (p *Projector) foldRange(ctx context.Context, set *docSet, from, to uint64, progress func(applied, target uint64)) error {
	if from > to {
		return nil
	}
	return readStream(ctx, p.js, p.filters, from, to, func(seq uint64, subject string, data []byte, _ time.Time) {
		set.add(seq, subject, data)
		if progress != nil && (seq%4096 == 0 || seq == to) {
			progress(seq, to)
		}
	})
}

// readStream calls f with every event of the stream matching filters (all
// for none) in [from, to], in order.
func readStream(ctx context.Context, js jetstream.JetStream, filters []string, from, to uint64, f func(seq uint64, subject string, data []byte, captured time.Time)) error {
	cons, err := js.OrderedConsumer(ctx, streams.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read stream %s: %w", streams.EventsStream, err)
		}
		if meta.Sequence.Stream > to {
			return nil
		}
		f(meta.Sequence.Stream, m.Subject(), m.Data(), meta.Timestamp)
		if meta.Sequence.Stream == to || meta.NumPending == 0 {
			return nil
		}
	}
}

// reconcile writes to the bucket the documents of set that differ from
// current (what the bucket holds), deletes those set no longer has, and
// records the checkpoint at upTo.
func (p *Projector) reconcile(ctx context.Context, set *docSet, current map[string]*document, upTo uint64) error {
	p.win = newWindow()
	p.win.started = time.Now()
	for _, key := range slices.Sorted(maps.Keys(current)) {
		if _, ok := set.docs[key]; !ok && p.inScope(key) {
			set.docs[key] = &document{key: key}
		}
	}
	for key, next := range set.docs {
		base, ok := current[key]
		if !ok {
			base = &document{key: key}
		}
		if sameDocument(base, next, upTo) {
			continue
		}
		n := *next
		p.win.dirty[key] = &dirtyDoc{base: base, next: &n}
	}
	p.high = upTo
	if err := p.flush(ctx); err != nil {
		return err
	}
	if p.flushed != upTo {
		if err := p.saveCheckpoint(ctx, upTo); err != nil {
			return err
		}
	}
	p.high, p.lastDelivery = upTo, 0
	return nil
}

// inScope reports whether key belongs to the projector's lattices.
func (p *Projector) inScope(key string) bool {
	l, ok := streams.LatticeOfKey(key)
	return ok && (p.opts.lattice == "" || l == p.opts.lattice)
}

// sameDocument reports whether the bucket's version a of a document needs
// no write to become b: the same content and seq, or both deleted with no
// seq above upTo (one that would skip the events after it).
func sameDocument(a, b *document, upTo uint64) bool {
	if !a.live() && !b.live() {
		return a.seq <= upTo
	}
	if a.live() != b.live() || a.seq != b.seq {
		return false
	}
	ea, err := a.encode()
	if err != nil {
		return false
	}
	eb, err := b.encode()
	return err == nil && bytes.Equal(ea, eb)
}

// readCheckpoint reads the bucket's checkpoint of this projector's
// consumer, 0 when there is none, with the identity of the stream it
// counts in ("" when it was recorded without one).
func (p *Projector) readCheckpoint(ctx context.Context) (uint64, string, error) {
	subject := streams.BucketSubject(p.res.State.Bucket(), streams.CheckpointKey(p.name))
	m, err := p.res.StateStream.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, "", nil
	case err != nil:
		return 0, "", fmt.Errorf("read checkpoint: %w", err)
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return 0, "", nil
	}
	n, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("checkpoint %q: %w", m.Data, err)
	}
	return n, m.Header.Get(streams.HeaderStreamCreated), nil
}

// saveCheckpoint records seq as the checkpoint, with the identity of the
// stream it counts in; the value is the sequence alone, as `nats kv get`
// shows it.
func (p *Projector) saveCheckpoint(ctx context.Context, seq uint64) error {
	m := nats.NewMsg(streams.BucketSubject(p.res.State.Bucket(), streams.CheckpointKey(p.name)))
	m.Data = strconv.AppendUint(nil, seq, 10)
	if p.streamID != "" {
		m.Header.Set(streams.HeaderStreamCreated, p.streamID)
	}
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	p.flushed = seq
	p.metrics.Checkpoint.Set(float64(seq))
	return nil
}
