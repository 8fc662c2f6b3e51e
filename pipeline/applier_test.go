package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/internal/eventtest"
	"latticestate/projections"
	"latticestate/streams"
)

// testEvent is an event of a test's stream, at the sequence of its
// position (1-based).
type testEvent struct {
	subject string
	data    []byte
}

// Small pools, so that random events collide on documents.
var (
	testLattices  = []string{"default", "blue"}
	testHosts     = []string{eventtest.HostID(1), eventtest.HostID(2), eventtest.HostID(3)}
	testActors    = []string{"MA", "MB"}
	testProviders = []string{"VA", "VB"}
	testLabels    = []map[string]string{nil, {}, {"zone": "a"}}
	testTimes     = []string{"2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z"}
)

func drawFrom[T any](t *rapid.T, pool []T, label string) T {
	return pool[rapid.IntRange(0, len(pool)-1).Draw(t, label)]
}

// drawTestEvent draws an event of any kind, valid or not, about a host of
// one of two lattices.
func drawTestEvent(t *rapid.T) testEvent {
	lattice := drawFrom(t, testLattices, "lattice")
	host := drawFrom(t, testHosts, "host")
	actor := drawFrom(t, testActors, "actor")
	provider := eventtest.Provider{ID: drawFrom(t, testProviders, "provider"), ContractID: "wasmcloud:httpserver"}
	at := eventtest.Set("time", drawFrom(t, testTimes, "time"))
	hostEvent := func(line []byte) testEvent { return testEvent{subject: streams.HostEventSubject(lattice), data: line} }
	recorded := func(kind projections.Kind, line []byte) testEvent {
		return testEvent{subject: streams.RecordedEventSubject(lattice, string(kind)), data: line}
	}
	switch rapid.IntRange(0, 18).Draw(t, "kind") {
	case 0, 1:
		hb := eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: "moon", Version: "1.0.0", Labels: drawFrom(t, testLabels, "labels"),
				UptimeSeconds: rapid.Uint64Range(0, 100).Draw(t, "uptime")},
			Actors: map[string]uint64{actor: rapid.Uint64Range(1, 3).Draw(t, "count")},
		}
		if rapid.Bool().Draw(t, "with provider") {
			hb.Providers = []eventtest.Provider{provider}
		}
		return hostEvent(eventtest.HostHeartbeat(host, hb, at))
	case 2:
		return hostEvent(eventtest.HostStarted(host, eventtest.HostInfo{Labels: drawFrom(t, testLabels, "labels")}, at))
	case 3:
		return hostEvent(eventtest.HostStopped(host, nil, at))
	case 4:
		return hostEvent(eventtest.ActorStarted(host, actor, at))
	case 5:
		return hostEvent(eventtest.ActorStopped(host, actor, at))
	case 6:
		return hostEvent(eventtest.ComponentScaled(host, actor, rapid.Uint64Range(0, 2).Draw(t, "max_instances"), at))
	case 7:
		return hostEvent(eventtest.ProviderStarted(host, provider, at))
	case 8:
		return hostEvent(eventtest.ProviderStopped(host, provider, at))
	case 9:
		return hostEvent(eventtest.HealthCheck(host, rapid.Bool().Draw(t, "passed"), provider, at))
	case 10:
		return hostEvent(eventtest.LabelsChanged(host, map[string]string{"zone": drawFrom(t, []string{"a", "b"}, "zone")}, at))
	case 11:
		l := eventtest.Link{ActorID: actor, ProviderID: provider.ID, ContractID: "wasmcloud:httpserver", LinkName: "default",
			Values: map[string]string{"port": drawFrom(t, []string{"80", "81"}, "port")}}
		if rapid.Bool().Draw(t, "deleted") {
			return hostEvent(eventtest.LinkdefDeleted(host, l, at))
		}
		return hostEvent(eventtest.LinkdefSet(host, l, at))
	case 12:
		return hostEvent(eventtest.RefmapSet(host, drawFrom(t, []string{"oci/a:1", "oci/b:2"}, "oci"), actor, at))
	case 13:
		outcome := drawFrom(t, []string{"ok", "timeout"}, "outcome")
		return recorded(projections.KindHostLabelsResolved, eventtest.HostLabelsResolved(host, map[string]string{"os": "linux"}, outcome, at))
	case 14:
		return recorded("host_stale", eventtest.HostStale(host, at))
	case 15:
		return hostEvent(eventtest.Line(eventtest.WasmcloudType+"config_set", host, map[string]any{"x": 1}, at))
	case 16:
		return hostEvent([]byte(`{"specversion":"1.0","id":"x",`))
	case 17:
		// One of latticestate's own events from a host: forged.
		return hostEvent(eventtest.HostStale(host, at))
	default:
		return hostEvent(eventtest.HostHeartbeat("not a host key", eventtest.Heartbeat{}, at))
	}
}

// applierRun runs an applier over a stream of events with faults
// injected, as the projector would: process lives that each restart from
// the store's checkpoint and have every event above the consumer's ack
// floor delivered again, in batches.
type applierRun struct {
	events []testEvent
	// batches are the sizes of the batches delivered, used in turn.
	batches []int
	// fill tells, life by life in turn, whether the cache is filled at
	// start, as a projector does, or documents are loaded one by one.
	fill  []bool
	opts  options
	plan  *faultPlan
	store *memStore
	cons  *memConsumer
	// keys are the document keys of the events, by sequence.
	keys map[uint64]string
	// earlyObserved lists events observed before their document was
	// written.
	earlyObserved []uint64
	// live has deliveries flushed as at the head of the stream, with the
	// checkpoint of every flush but a life's first left to a later one.
	live     bool
	lives    int
	attempts int
}

// liveRun is newApplierRun with live flushes.
func liveRun(events []testEvent, batches []int, fill []bool, flushEvents int, faults map[int]fault) *applierRun {
	r := newApplierRun(events, batches, fill, flushEvents, faults)
	r.live, r.opts.checkpointEvery = true, time.Hour
	return r
}

func newApplierRun(events []testEvent, batches []int, fill []bool, flushEvents int, faults map[int]fault) *applierRun {
	plan := &faultPlan{at: faults}
	r := &applierRun{events: events, batches: batches, fill: fill, plan: plan,
		store: newMemStore(plan), cons: &memConsumer{plan: plan}, keys: map[uint64]string{}}
	for i, e := range events {
		if _, key, err := decodeEvent(nil, uint64(i+1), e.subject, e.data); err == nil && key != "" {
			r.keys[uint64(i+1)] = key
		}
	}
	o := defaultOptions()
	o.batchSize, o.flushEvents, o.workers = batches[0], flushEvents, 1
	o.metrics = NewMetrics(nil)
	o.logger = slog.New(slog.DiscardHandler)
	// A clock that stands still: whether a window is due never depends on
	// how long a step took, so every run of the same plan takes the same
	// steps (faults are planned at the steps of a run without faults).
	stopped := time.Unix(1<<31, 0)
	o.now = func() time.Time { return stopped }
	o.observe = func(ev *projections.Event, _ time.Time) {
		if r.store.seqOf(r.keys[ev.Seq]) < ev.Seq {
			r.earlyObserved = append(r.earlyObserved, ev.Seq)
		}
	}
	r.opts = o
	return r
}

// maxLives bounds the lives of a run, and attemptsPerEvent its attempts
// to deliver, apply again or flush: every fault is injected once, so a run
// that needs more makes no progress.
const (
	maxLives         = 100
	attemptsPerEvent = 20
)

// run runs lives until every event is applied and acked.
func (r *applierRun) run(ctx context.Context) error {
	for r.lives = 1; r.lives <= maxLives; r.lives++ {
		r.plan.restart()
		done, err := r.life(ctx)
		if err != nil {
			return err
		}
		if done && r.cons.floor() == uint64(len(r.events)) {
			return nil
		}
	}
	return fmt.Errorf("not done after %d process lives: ack floor %d of %d", maxLives, r.cons.floor(), len(r.events))
}

// life is one process life; it reports whether it applied every event
// without crashing. The consumer delivers what was not acked, in
// batches; after a failure, what was delivered is applied again from the
// checkpoint, read from the stream, as the batcher does.
func (r *applierRun) life(ctx context.Context) (bool, error) {
	a := newApplier(r.store, r.opts, nil)
	if a.loadCheckpoint(ctx) != nil {
		return false, nil
	}
	if r.fill[r.lives%len(r.fill)] {
		a.fillCache(ctx)
	}
	total := uint64(len(r.events))
	// next is the next event the consumer delivers.
	next := r.cons.floor() + 1
	for !r.plan.isCrashed() {
		if r.attempts++; r.attempts > attemptsPerEvent*(len(r.events)+10) {
			return false, fmt.Errorf("no progress after %d attempts: applied %d, checkpoint %d of %d", r.attempts, a.applied, a.checkpoint, total)
		}
		switch {
		case a.applied+1 < next:
			_ = r.readAgain(ctx, a, next-1)
		case next <= total:
			last := min(next+uint64(r.batches[r.attempts%len(r.batches)])-1, total)
			_ = r.deliver(ctx, a, next, last)
			next = last + 1
		case !a.flushDue(0):
			return true, nil
		default:
			_ = a.flush(ctx)
		}
	}
	return false, nil
}

// deliver has the events first…last delivered as one batch, as
// batcher.applyBatch does with them.
func (r *applierRun) deliver(ctx context.Context, a *applier, first, last uint64) error {
	var events []capturedEvent
	for seq := first; seq <= last; seq++ {
		a.track(r.cons.acker(seq), seq)
		if seq > a.applied {
			events = append(events, r.captured(seq, seq))
		}
	}
	if err := a.apply(ctx, events); err != nil {
		a.rollback(err)
		return err
	}
	if a.flushDue(uint64(len(r.events)) - last) {
		return a.write(ctx, r.live)
	}
	return nil
}

// readAgain applies the events after the applied one up to last, read
// from the stream (so there is nothing to ack), as batcher.fillGap does.
func (r *applierRun) readAgain(ctx context.Context, a *applier, last uint64) error {
	var events []capturedEvent
	for seq := a.applied + 1; seq <= last; seq++ {
		events = append(events, r.captured(seq, 0))
	}
	if err := a.apply(ctx, events); err != nil {
		a.rollback(err)
		return err
	}
	if a.flushDue(uint64(len(r.events)) - last) {
		return a.flush(ctx)
	}
	return nil
}

// captured returns the event at seq as the stream captured it, with its
// delivery sequence (0: read from the stream).
func (r *applierRun) captured(seq, delivery uint64) capturedEvent {
	e := r.events[seq-1]
	return capturedEvent{seq: seq, delivery: delivery, pending: uint64(len(r.events)) - seq,
		subject: e.subject, data: e.data, captured: time.Unix(int64(seq), 0)}
}

// check compares what the store holds with fold over the same events;
// what says what the run did.
func (r *applierRun) check(t require.TestingT, what string) {
	folders := map[string]*projections.Folder{}
	for _, l := range testLattices {
		folders[l] = projections.NewFolder(l)
	}
	rejected := map[uint64]bool{}
	for i, e := range r.events {
		lattice, err := streams.LatticeOf(e.subject)
		require.NoError(t, err)
		if err := folders[lattice].AddFrom(OriginOf(e.subject), uint64(i+1), e.data); err != nil {
			rejected[uint64(i+1)] = true
		}
	}
	for _, l := range testLattices {
		got, err := r.store.lattice(l)
		require.NoError(t, err, what)
		want, err := projections.Marshal(folders[l].Lattice)
		require.NoError(t, err)
		gotJSON, err := projections.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(gotJSON), "%s: lattice %s", what, l)
	}
	require.Equal(t, slices.Sorted(maps.Keys(rejected)), slices.Sorted(maps.Keys(r.store.dead)), "%s: dead letters", what)
	require.Equal(t, checkpoint{seq: uint64(len(r.events))}, r.store.cp, "%s: checkpoint", what)
	require.Empty(t, r.earlyObserved, "%s: events observed before their document was written", what)
	// A life that neither crashes nor loses an ack acks every event.
	require.LessOrEqual(t, r.lives, 1+r.plan.lifeFaults, "%s: process lives", what)
}

// drawFaults draws up to four faults at steps below steps.
func drawFaults(t *rapid.T, steps int) map[int]fault {
	faults := map[int]fault{}
	for range rapid.IntRange(0, 4).Draw(t, "faults") {
		step := rapid.IntRange(0, steps).Draw(t, "step")
		faults[step] = fault(rapid.IntRange(int(faultError), int(numFaults)-1).Draw(t, "fault"))
	}
	return faults
}

// For any events, batches and flush limits, and any faults at any steps
// (crashes that drop everything held in memory, compare-and-set conflicts,
// failed writes, lost replies), the restarted and redelivered applier
// leaves the store holding what fold gives, each rejected event
// dead-lettered once, and the checkpoint at the end.
func TestApplier_CrashAndRedeliver(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		events := rapid.SliceOfN(rapid.Custom(drawTestEvent), 1, 30).Draw(t, "events")
		batches := rapid.SliceOfN(rapid.IntRange(1, 8), 1, 4).Draw(t, "batches")
		fill := rapid.SliceOfN(rapid.Bool(), 1, 3).Draw(t, "fill")
		flushEvents := rapid.IntRange(1, 20).Draw(t, "flush events")
		run := newApplierRun
		if rapid.Bool().Draw(t, "live") {
			run = liveRun
		}

		// A run without faults tells how many steps there are.
		clean := run(events, batches, fill, flushEvents, nil)
		require.NoError(t, clean.run(ctx))
		clean.check(t, "without faults")
		require.Zero(t, testutil.ToFloat64(clean.opts.metrics.Conflicts), "conflicts without faults")

		r := run(events, batches, fill, flushEvents, drawFaults(t, clean.plan.steps))
		require.NoError(t, r.run(ctx))
		r.check(t, "with faults")
	})
}

// mixedEvents is a fixed stream of two lattices with events of most
// kinds, rejected and ignored ones, and documents changed many times.
func mixedEvents() []testEvent {
	h1, h2 := testHosts[0], testHosts[1]
	link := eventtest.Link{ActorID: "MA", ProviderID: "VA", ContractID: "wasmcloud:httpserver", LinkName: "default"}
	hb := eventtest.Heartbeat{HostInfo: eventtest.HostInfo{FriendlyName: "moon", Version: "1.0.0"},
		Actors: map[string]uint64{"MA": 2}, Providers: []eventtest.Provider{{ID: "VA"}}}
	on := func(lattice string, lines ...[]byte) []testEvent {
		var out []testEvent
		for _, l := range lines {
			out = append(out, testEvent{subject: streams.HostEventSubject(lattice), data: l})
		}
		return out
	}
	events := on("default",
		eventtest.HostHeartbeat(h1, hb),
		eventtest.ActorStarted(h1, "MB"),
		[]byte(`{"nope":`),
		eventtest.LinkdefSet(h1, link),
		eventtest.HostHeartbeat(h2, hb),
	)
	events = append(events, on("blue", eventtest.HostStarted(h1, eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}))...)
	events = append(events, testEvent{subject: streams.RecordedEventSubject("default", string(projections.KindHostLabelsResolved)),
		data: eventtest.HostLabelsResolved(h2, map[string]string{"os": "linux"}, "ok")})
	events = append(events, on("default",
		eventtest.ProviderStarted(h2, eventtest.Provider{ID: "VB", LinkName: "backup"}),
		eventtest.HealthCheck(h2, true, eventtest.Provider{ID: "VB", LinkName: "backup"}),
		eventtest.Line(eventtest.WasmcloudType+"config_set", h1, map[string]any{"x": 1}),
		eventtest.RefmapSet(h1, "oci/a:1", "MA"),
		eventtest.HostStopped(h1, nil),
		eventtest.LinkdefDeleted(h1, link),
		eventtest.HostHeartbeat("not a host key", eventtest.Heartbeat{}),
		eventtest.HostStale(h2),
		eventtest.HostHeartbeat(h1, hb),
		eventtest.ActorStopped(h2, "MA"),
	)...)
	events = append(events, on("blue", eventtest.ComponentScaled(h1, "MC", 3), eventtest.HostHeartbeat(h1, hb))...)
	return events
}

// The applier survives every fault at every step of one run: each step
// of a stream of every kind of event, crashed, conflicted, failed or with
// its reply lost, still leads to fold's state.
func TestApplier_EveryStep(t *testing.T) {
	ctx := context.Background()
	events := mixedEvents()
	events = append(events, events...)
	batches, flushEvents := []int{2, 1, 3}, 4
	for _, c := range []struct {
		fill []bool
		live bool
	}{{[]bool{true}, false}, {[]bool{false}, false}, {[]bool{true}, true}} {
		run, fill := newApplierRun, c.fill
		if c.live {
			run = liveRun
		}
		clean := run(events, batches, fill, flushEvents, nil)
		require.NoError(t, clean.run(ctx))
		clean.check(t, "without faults")
		require.Zero(t, testutil.ToFloat64(clean.opts.metrics.Conflicts), "conflicts without faults")
		t.Logf("cache filled: %v, live flushes: %v; %d events, %d steps, %d faults at each", fill[0], c.live, len(events), clean.plan.steps, numFaults-1)
		for step := range clean.plan.steps {
			for f := faultError; f < numFaults; f++ {
				what := fmt.Sprintf("cache filled: %v, live flushes: %v; %v at step %d", fill[0], c.live, f, step)
				r := run(events, batches, fill, flushEvents, map[int]fault{step: f})
				require.NoError(t, r.run(ctx), what)
				r.check(t, what)
				if f >= faultCrash {
					require.Greater(t, r.lives, 1, "%s: process lives", what)
				}
			}
		}
	}
}

// A live write writes the documents at once; the checkpoint and the ack
// wait until the last checkpoint is checkpointEvery old, or for a flush,
// and checkpointDue says when they are due.
func TestApplier_LiveWriteDefersCheckpoint(t *testing.T) {
	ctx := context.Background()
	events := mixedEvents()[:4]
	r := newApplierRun(events, []int{2}, []bool{true}, 100, nil)
	r.opts.checkpointEvery = time.Hour
	a := newApplier(r.store, r.opts, nil)
	require.NoError(t, a.loadCheckpoint(ctx))
	deliver := func(first, last uint64) {
		t.Helper()
		var batch []capturedEvent
		for seq := first; seq <= last; seq++ {
			a.track(r.cons.acker(seq), seq)
			batch = append(batch, r.captured(seq, seq))
		}
		require.NoError(t, a.apply(ctx, batch))
		_, due := a.checkpointDue()
		require.False(t, due, "due while the window holds events")
		require.NoError(t, a.write(ctx, true))
	}

	deliver(1, 2)
	require.Equal(t, uint64(2), r.store.cp.seq, "the first checkpoint of a life is saved at once")
	require.Equal(t, uint64(2), r.cons.floor())
	_, due := a.checkpointDue()
	require.False(t, due)

	deliver(3, 4)
	require.Equal(t, uint64(4), r.store.seqOf(r.keys[4]), "documents written at once")
	require.Equal(t, uint64(2), r.store.cp.seq, "checkpoint left for later")
	require.Equal(t, uint64(2), r.cons.floor(), "ack waits for the checkpoint")
	require.Equal(t, uint64(4), a.written.Load(), "Status counts the events written")
	at, due := a.checkpointDue()
	require.True(t, due)
	require.Equal(t, a.savedAt.Add(time.Hour), at)

	require.True(t, a.flushDue(0), "idle: the checkpoint left is due")
	require.NoError(t, a.flush(ctx))
	require.Equal(t, uint64(4), r.store.cp.seq)
	require.Equal(t, uint64(4), r.cons.floor())
	_, due = a.checkpointDue()
	require.False(t, due)
}
