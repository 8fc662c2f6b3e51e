package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
)

// StaleAfter is how many heartbeat intervals a host may miss before it is
// recorded as stale.
const StaleAfter = 3

// Sweeper records host_stale for hosts whose last heartbeat was captured
// more than StaleAfter heartbeat intervals ago. Ages are measured on the
// stream's capture timestamps, never on the hosts' clocks, and the outcome
// is an event in the stream, so a replay agrees with the live state.
type Sweeper struct {
	// Active, when set, gates the sweeps of a lattice's hosts: only the
	// projector the lattice's events are delivered to sees heartbeats, and
	// only once it is caught up do ages say anything about the hosts.
	Active func(ctx context.Context, lattice string) bool

	rec      recorder
	state    jetstream.KeyValue
	interval time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	seen map[hostRef]*hostSeen
	// idle holds the lattices last found inactive; on activation their
	// ages are refreshed from the bucket, which another projector kept.
	idle map[string]bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type hostRef struct{ lattice, id string }

type hostSeen struct {
	captured time.Time
	// marked is set once host_stale is recorded for this silence.
	marked bool
}

// NewSweeper returns a Sweeper for hosts that heartbeat every interval.
func NewSweeper(js jetstream.JetStream, state jetstream.KeyValue, interval time.Duration, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.Default()
	}
	return &Sweeper{
		rec:      recorder{js: js, now: time.Now},
		state:    state,
		interval: interval,
		log:      log.With("component", "sweeper"),
		seen:     map[hostRef]*hostSeen{},
		idle:     map[string]bool{},
	}
}

// Observe is called by the projector for every event it applied, with the
// time the stream captured it.
func (s *Sweeper) Observe(ev *projections.Event, captured time.Time) {
	ref := hostRef{ev.Lattice, ev.HostID}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Kind {
	case projections.KindHostHeartbeat, projections.KindHostStarted:
		h, ok := s.seen[ref]
		if !ok {
			h = &hostSeen{}
			s.seen[ref] = h
		}
		if captured.After(h.captured) {
			h.captured, h.marked = captured, false
		}
	case projections.KindHostStopped:
		delete(s.seen, ref)
	}
}

// Start loads the hosts already in the bucket (aged from the time their
// document was last written) and sweeps every interval/2 until Stop.
func (s *Sweeper) Start(ctx context.Context) error {
	if err := s.loadKnown(ctx); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() {
		t := time.NewTicker(max(s.interval/2, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.sweep(ctx, now)
			}
		}
	})
	return nil
}

// Stop ends the sweeps and waits for the one in progress.
func (s *Sweeper) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Sweeper) loadKnown(ctx context.Context) error {
	w, err := s.state.WatchFiltered(ctx, []string{"*.hosts.*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			return nil
		}
		h, err := projections.UnmarshalHost(e.Value())
		if err != nil {
			continue
		}
		s.mu.Lock()
		ref := hostRef{h.Lattice, h.HostID}
		if cur, ok := s.seen[ref]; !ok || e.Created().After(cur.captured) {
			s.seen[ref] = &hostSeen{captured: e.Created(), marked: h.Status == projections.StatusStale}
		}
		s.mu.Unlock()
	}
	return nil
}

// sweep records host_stale for every host silent for too long, in the
// lattices this projector is active for.
func (s *Sweeper) sweep(ctx context.Context, now time.Time) {
	active := map[string]bool{}
	s.mu.Lock()
	for ref := range s.seen {
		active[ref.lattice] = true
	}
	s.mu.Unlock()
	refresh := false
	for l := range active {
		active[l] = s.Active == nil || s.Active(ctx, l)
		refresh = refresh || active[l] && s.idle[l]
		s.idle[l] = !active[l]
	}
	if refresh {
		if err := s.loadKnown(ctx); err != nil {
			s.log.Warn("refresh host ages", "err", err)
			return
		}
	}
	limit := StaleAfter * s.interval
	stale := map[hostRef]time.Time{}
	s.mu.Lock()
	for ref, h := range s.seen {
		if active[ref.lattice] && !h.marked && now.Sub(h.captured) > limit {
			stale[ref] = h.captured
		}
	}
	s.mu.Unlock()
	for ref, captured := range stale {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.rec.record(rctx, ref.lattice, projections.KindHostStale, hostStale{HostID: ref.id})
		cancel()
		if err != nil {
			s.log.Warn("record host_stale", "lattice", ref.lattice, "host", ref.id, "err", err)
			continue
		}
		s.log.Info("host stale", "lattice", ref.lattice, "host", ref.id)
		s.mu.Lock()
		// A heartbeat captured meanwhile starts a new silence.
		if h, ok := s.seen[ref]; ok && h.captured.Equal(captured) {
			h.marked = true
		}
		s.mu.Unlock()
	}
}
