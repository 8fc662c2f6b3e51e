package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

// LiveRun is latticestate's projector running at the head of the stream,
// into BenchReplayBucket, timing every event from its publish to the write
// of its document.
type LiveRun struct {
	// pub publishes the events: hosts publish on connections of their
	// own, never on the projector's.
	pub     *nats.Conn
	p       *pipeline.Projector
	metrics *pipeline.Metrics
	cancel  context.CancelFunc
	done    chan error
	rec     atomic.Pointer[recorder]
}

// StartLive starts the projector, with opts, on js, its durable consumer
// and BenchReplayBucket (created when missing), publishes warmup's one
// event with pub and returns once the projector has written it: it is
// then consuming at the head of the stream, its document cache filled.
// Stop ends it. pub, which publishes the events Offer offers, is a
// connection of its own, as hosts publish on theirs, and it publishes as
// they do: plain NATS messages that the event stream captures, with no
// PubAck to wait for.
func StartLive(ctx context.Context, pub *nats.Conn, js jetstream.JetStream, res *streams.Resources, warmup *Events, opts ...pipeline.Option) (*LiveRun, error) {
	if warmup.Len() != 1 {
		return nil, fmt.Errorf("live stage warms up with one event, got %d", warmup.Len())
	}
	target := *res
	var err error
	if target.State, target.StateStream, err = streams.EnsureState(ctx, js, streams.BenchReplayBucket, streams.DefaultOptions()); err != nil {
		return nil, err
	}
	l := &LiveRun{pub: pub, metrics: pipeline.NewMetrics(nil), done: make(chan error, 1)}
	observe := func(ev *projections.Event, _ time.Time) {
		if r := l.rec.Load(); r != nil {
			r.applied(ev.ID, time.Now().UnixNano())
		}
	}
	opts = append([]pipeline.Option{pipeline.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	if l.p, err = pipeline.New(ctx, js, &target, append(opts, pipeline.WithObserver(observe), pipeline.WithMetrics(l.metrics))...); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go func() { l.done <- l.p.Run(runCtx) }()
	if err := l.warmUp(ctx, warmup); err != nil {
		return nil, errors.Join(err, l.Stop())
	}
	return l, nil
}

// warmUpTimeout bounds the wait for the projector to write the warm-up
// event (it first catches up with the stream).
const warmUpTimeout = 5 * time.Minute

// warmUp publishes the event of warmup and waits until the projector has
// written it.
func (l *LiveRun) warmUp(ctx context.Context, warmup *Events) error {
	rec := newRecorder(warmup)
	l.rec.Store(rec)
	defer l.rec.Store(nil)
	m := warmup.Msg(0)
	rec.sent[0] = time.Now().UnixNano()
	if err := l.pub.PublishMsg(m); err != nil {
		return fmt.Errorf("publish warm-up event to %s: %w", m.Subject, err)
	}
	if err := flush(ctx, l.pub); err != nil {
		return fmt.Errorf("publish warm-up event: %w", err)
	}
	deadline := time.Now().Add(warmUpTimeout)
	for rec.count.Load() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the projector did not write the warm-up event within %v", warmUpTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(caughtUpPoll):
		}
	}
	return nil
}

// Stop stops the projector and waits for it.
func (l *LiveRun) Stop() error {
	l.cancel()
	return <-l.done
}

// Offer publishes msgs at perSec events per second (on a schedule: one
// every 1/perSec), then waits up to settle for the projector to write
// them, and measures the latency of each from the publish call to the
// write of its document (the pipeline's observer), matched by its
// CloudEvent id, and the CPU time the process (publisher, projector and
// an embedded server) took meanwhile. The projector first catches up
// with whatever the stream holds.
func (l *LiveRun) Offer(ctx context.Context, msgs *Events, perSec float64, settle time.Duration, progress Progress) (Stage, error) {
	n := msgs.Len()
	st := Stage{Name: "live", Events: uint64(n), Live: &Live{OfferedPerSec: perSec}}
	if n == 0 || perSec <= 0 {
		return st, fmt.Errorf("live stage needs events and a rate, got %d events at %v/s", n, perSec)
	}
	if err := waitCaughtUp(ctx, l.p, 0, nil); err != nil {
		return st, err
	}
	rec := newRecorder(msgs)
	l.rec.Store(rec)
	defer l.rec.Store(nil)

	writes, windows := counterValue(l.metrics.Writes), windowsWritten(l.metrics)
	clock := startClock()
	perSecDone, err := publishOnSchedule(ctx, l.pub, rec, msgs, perSec, progress)
	st.Live.PublishedPerSec = perSecDone
	if err != nil {
		return st, err
	}
	if err := rec.wait(ctx, settle); err != nil {
		return st, err
	}
	progress.report(uint64(n), uint64(n))
	clock.stop(&st, rec)
	st.KVWrites = uint64(counterValue(l.metrics.Writes) - writes)
	if st.Seconds > 0 {
		st.KVWritesPerSec = float64(st.KVWrites) / st.Seconds
	}
	st.Live.Windows = windowsWritten(l.metrics) - windows
	return st, nil
}

// clock is what a stage at the head of the stream reads when it starts:
// the time, and the process's CPU time and garbage collections so far.
type clock struct {
	start time.Time
	cpu   time.Duration
	gc    gcStats
}

func startClock() clock { return clock{gc: readGC(), cpu: processCPU(), start: time.Now()} }

// stop sets st's figures from rec and what the process did since c
// started: the latencies, the rate, the CPU time and the collections.
func (c clock) stop(st *Stage, rec *recorder) {
	gc := readGC()
	st.Live.GCCycles, st.Live.GCCPUSeconds = gc.cycles-c.gc.cycles, gc.cpuSeconds-c.gc.cpuSeconds
	rec.summarize(st, c.start)
	if st.Seconds > 0 {
		st.CPUPercent = 100 * (processCPU() - c.cpu).Seconds() / st.Seconds
	}
}

// publishOnSchedule publishes msgs at perSec events per second, records
// when each was published in rec, and returns the rate achieved. It
// publishes as hosts do, without waiting for the stream's PubAcks: a
// JetStream publish would add a PubAck per event to the server's and the
// publisher's work, which hosts never ask for. An event the server does
// not store is never written, and counts as unapplied.
func publishOnSchedule(ctx context.Context, pub *nats.Conn, rec *recorder, msgs *Events, perSec float64, progress Progress) (float64, error) {
	// Event i is due at start + i/perSec. A publisher that fell behind
	// (descheduled on a busy machine) catches up at once rather than
	// offering less than perSec.
	interval := time.Duration(float64(time.Second) / perSec)
	start := time.Now()
	for i := range msgs.Len() {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(wait):
			}
		}
		m := msgs.Msg(i)
		rec.sent[i] = time.Now().UnixNano()
		if err := pub.PublishMsg(m); err != nil {
			return 0, fmt.Errorf("publish to %s: %w", m.Subject, err)
		}
		if (i+1)%progressEvery == 0 {
			progress.report(uint64(i+1), uint64(msgs.Len()))
		}
	}
	// The rate is the publish calls'; the flush only confirms that the
	// server has every message (a round trip behind the last).
	perSecDone := float64(msgs.Len()) / since(start)
	if err := flush(ctx, pub); err != nil {
		return perSecDone, fmt.Errorf("flush the publisher: %w", err)
	}
	return perSecDone, nil
}

// windowsWritten is how many windows the projector of m has written.
func windowsWritten(m *pipeline.Metrics) uint64 {
	var d dto.Metric
	if err := m.WriteSeconds.Write(&d); err != nil {
		return 0
	}
	return d.GetHistogram().GetSampleCount()
}

// flushTimeout bounds the wait for the server to confirm that it has
// received what the publisher sent.
const flushTimeout = time.Minute

// flush waits until the server has received every message pub published.
func flush(ctx context.Context, pub *nats.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	return pub.FlushWithContext(ctx)
}

// recorder holds the publish and write times of events, in Unix
// nanoseconds (0: not yet), by their index in the Events offered.
type recorder struct {
	// index maps the hash of an event's id to its index.
	index   map[uint64]int32
	sent    []int64
	written []atomic.Int64
	count   atomic.Int64
}

func newRecorder(msgs *Events) *recorder {
	n := msgs.Len()
	r := &recorder{index: make(map[uint64]int32, n), sent: make([]int64, n), written: make([]atomic.Int64, n)}
	for i, h := range msgs.ids {
		r.index[h] = int32(i)
	}
	return r
}

// applied records the first write of the event with id; called by the
// projector for every event it writes, offered or not.
func (r *recorder) applied(id string, at int64) {
	if i, ok := r.index[idHash(id)]; ok {
		r.appliedIndex(int(i), at)
	}
}

// appliedIndex records the first write of the event at index i; one past
// the events offered is ignored.
func (r *recorder) appliedIndex(i int, at int64) {
	if i < 0 || i >= len(r.written) {
		return
	}
	if r.written[i].CompareAndSwap(0, at) {
		r.count.Add(1)
	}
}

// wait returns once every event is written, or settle has passed, or ctx
// is done (its error).
func (r *recorder) wait(ctx context.Context, settle time.Duration) error {
	deadline := time.Now().Add(settle)
	for r.count.Load() < int64(len(r.written)) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(caughtUpPoll):
		}
	}
	return nil
}

// summarize sets the stage's duration (from the first publish to the last
// write), its applied rate and the latency percentiles.
func (r *recorder) summarize(st *Stage, start time.Time) {
	lat := make([]int64, 0, len(r.sent))
	var last int64
	for i := range r.sent {
		w := r.written[i].Load()
		if w == 0 || r.sent[i] == 0 {
			st.Live.Unapplied++
			continue
		}
		lat = append(lat, w-r.sent[i])
		last = max(last, w)
	}
	st.Live.Samples = len(lat)
	if len(lat) == 0 {
		return
	}
	st.Seconds = float64(last-start.UnixNano()) / 1e9
	if st.Seconds > 0 {
		st.EventsPerSec = float64(len(lat)) / st.Seconds
	}
	slices.Sort(lat)
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	st.Live.P50Ms = ms(percentile(lat, 0.50))
	st.Live.P99Ms = ms(percentile(lat, 0.99))
	st.Live.MaxMs = ms(lat[len(lat)-1])
}

// percentile is the nearest-rank percentile q of sorted samples.
func percentile(sorted []int64, q float64) int64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// gcStats are the garbage collector's totals so far in this process.
type gcStats struct {
	cycles     uint64
	cpuSeconds float64
}

func readGC() gcStats {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(samples)
	var g gcStats
	if samples[0].Value.Kind() == metrics.KindUint64 {
		g.cycles = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindFloat64 {
		g.cpuSeconds = samples[1].Value.Float64()
	}
	return g
}
