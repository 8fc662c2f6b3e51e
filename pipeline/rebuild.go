package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

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

// rebuilder makes the state follow the event stream as it is now: it
// notices a replaced or shortened stream and a deleted state bucket, and
// rebuilds the state from the stream, from snapshots where they apply,
// into the bucket through the applier; replay asks it for the same. It
// runs on the leader's goroutine, under the consumer's lease.
type rebuilder struct {
	js jetstream.JetStream
	// res are the projector's resources; the rebuilder replaces the event
	// stream and the state bucket in it when it creates them again.
	res      *streams.Resources
	applier  *applier
	consumer string
	filters  []string
	opts     options
	metrics  *Metrics
	log      *slog.Logger
}

// follow makes sure the state follows the stream as it is now, under the
// lease, before pulling: a deleted state bucket is created again and the
// state rebuilt into it; a deleted event stream is created again; a stream
// that is not the one the checkpoint counts in (created again, restored
// from an older backup, or with writes lost to a power cut) has the state
// rebuilt from it, from its snapshots where they apply, and the consumer
// restarted after the rebuilt point. New events are never skipped as
// already applied. It returns the consumer when it started it again, nil
// when the current one stays.
func (r *rebuilder) follow(ctx context.Context, cons jetstream.Consumer) (jetstream.Consumer, error) {
	a := r.applier
	if r.stateGone(ctx) {
		r.log.Warn("state bucket is gone: creating it again and rebuilding it from the stream", "bucket", r.res.State.Bucket())
		kv, st, err := streams.EnsureState(ctx, r.js, r.res.State.Bucket(), r.opts.streamOptions)
		if err != nil {
			return nil, err
		}
		r.res.State, r.res.StateStream = kv, st
		a.useStore(newKVStore(r.js, st, kv.Bucket(), r.consumer))
		return nil, r.rebuildState(ctx, rebuildBucket, false, nil)
	}
	info, err := r.res.Events.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.log.Warn("event stream is gone: creating it again", "stream", streams.EventsStream)
		if r.res.Events, err = streams.EnsureEvents(ctx, r.js, r.opts.streamOptions); err != nil {
			return nil, err
		}
		info, err = r.res.Events.Info(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streams.EventsStream, err)
	}
	if why := r.replaced(info); why != "" {
		r.log.Warn("the event stream is not the one the state was built from: rebuilding the state from it", "why", why)
		if err := r.rebuildState(ctx, rebuildReplaced, false, nil); err != nil {
			return nil, err
		}
		return streams.StartConsumerAt(ctx, r.res.Events, r.opts.lattice, a.checkpoint+1, r.opts.streamOptions)
	}
	if a.stream == "" {
		a.stream = streamIdentity(info.Created)
	}
	if _, err := cons.Info(ctx); errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.log.Warn("consumer is gone: creating it again", "consumer", r.consumer)
		return streams.StartConsumerAt(ctx, r.res.Events, r.opts.lattice, a.checkpoint+1, r.opts.streamOptions)
	}
	return nil, nil
}

// replaced tells why the stream described by info is not the one the
// checkpoint counts in, "" when it is.
func (r *rebuilder) replaced(info *jetstream.StreamInfo) string {
	a := r.applier
	created := streamIdentity(info.Created)
	switch {
	case a.stream != "" && created != a.stream:
		return fmt.Sprintf("stream created %s, the checkpoint counts in the one created %s", created, a.stream)
	case info.State.LastSeq < a.checkpoint:
		return fmt.Sprintf("stream ends at sequence %d, below the checkpoint %d", info.State.LastSeq, a.checkpoint)
	}
	return ""
}

// stateGone reports whether the state bucket was deleted.
func (r *rebuilder) stateGone(ctx context.Context) bool {
	_, err := r.js.Stream(ctx, streams.BucketStream(r.res.State.Bucket()))
	return errors.Is(err, jetstream.ErrStreamNotFound)
}

// streamChanged is the check of follow that costs one request: whether
// follow has something to do.
func (r *rebuilder) streamChanged(ctx context.Context) bool {
	info, err := r.res.Events.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	return r.replaced(info) != "" || r.stateGone(ctx)
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
func (r *rebuilder) rebuildState(ctx context.Context, reason string, strict bool, progress func(applied, target uint64)) error {
	start := time.Now()
	a := r.applier
	info, err := r.res.Events.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", streams.EventsStream, err)
	}
	v := viewOf(info)
	if err := a.cache.fill(ctx); err != nil {
		return err
	}
	current := a.cache.documents()
	set, from, err := r.plan(ctx, v, current, strict, reason == rebuildBucket)
	if err != nil {
		return err
	}
	if err := r.foldRange(ctx, set, from, v.last, progress); err != nil {
		return err
	}
	// What the rebuilt state no longer has is deleted.
	for key := range current {
		if _, ok := set.docs[key]; !ok && r.inScope(key) {
			set.docs[key] = &document{key: key}
		}
	}
	if err := a.writeState(ctx, set.docs, current, v.last, v.created); err != nil {
		return err
	}
	r.metrics.Rebuilds.WithLabelValues(reason).Inc()
	r.log.Info("state rebuilt from the stream", "reason", reason, "sequence", v.last, "from", from,
		"documents", len(set.docs), "took", time.Since(start).Round(time.Millisecond))
	a.loadSnapshots(ctx)
	return nil
}

// plan loads, for every lattice the state or the snapshots know, the
// newest snapshot the retained events continue, and returns the sequence
// to read the stream from.
func (r *rebuilder) plan(ctx context.Context, v streamView, current map[string]*document, strict, everything bool) (*docSet, uint64, error) {
	idx := snapIndex{}
	if r.res.Snapshots != nil {
		var err error
		if idx, err = listSnapshots(ctx, r.res.Snapshots); err != nil {
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
		if r.opts.lattice != "" && l != r.opts.lattice {
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
			r.log.Warn("rebuilding a lattice from the retained events only", "lattice", l, "err", gone.Error())
			r.metrics.HistoryLost.Inc()
			i = -1
		}
		if i < 0 {
			from = max(min(from, v.first), 1)
			continue
		}
		docs, err := readSnapshot(ctx, r.res.Snapshots, snaps[i], nil)
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
func (r *rebuilder) foldRange(ctx context.Context, set *docSet, from, to uint64, progress func(applied, target uint64)) error {
	if from > to {
		return nil
	}
	return readStream(ctx, r.js, r.filters, from, to, func(seq uint64, subject string, data []byte, _ time.Time) {
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

// inScope reports whether key belongs to the projector's lattices.
func (r *rebuilder) inScope(key string) bool {
	l, ok := streams.LatticeOfKey(key)
	return ok && (r.opts.lattice == "" || l == r.opts.lattice)
}

// sameDocument reports whether the bucket's version a of a document needs
// no write to become b: the same content and seq, or both deleted with no
// seq above upTo (one that would skip the events after it).
func sameDocument(a, b *document, upTo uint64) bool {
	if !a.Live() && !b.Live() {
		return a.Seq <= upTo
	}
	if a.Live() != b.Live() || a.Seq != b.Seq {
		return false
	}
	ea, err := a.encode()
	if err != nil {
		return false
	}
	eb, err := b.encode()
	return err == nil && bytes.Equal(ea, eb)
}
