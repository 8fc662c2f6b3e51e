package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// StaleAfter is how many heartbeat intervals a host may miss before it is
// recorded as stale.
const StaleAfter = 3

// DefaultHostExpiry is how long a host may go without any event captured
// before it is removed, unless WithHostExpiry says otherwise.
const DefaultHostExpiry = 15 * time.Minute

// Sweeper records host_stale for hosts whose last heartbeat was captured
// more than StaleAfter heartbeat intervals ago, and host_expired for stale
// hosts with nothing captured for the host expiry. Ages are measured on the
// stream's capture timestamps, never on the hosts' clocks, and the outcome
// is an event in the stream, so a replay agrees with the live state.
type Sweeper struct {
	// active gates the sweeps of a lattice's hosts (WithLatticeActive).
	active func(ctx context.Context, lattice string) bool

	rec      recorder
	state    jetstream.KeyValue
	interval time.Duration
	expiry   time.Duration
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
	// captured is when the host's last heartbeat (or start) was captured:
	// staleness counts from it.
	captured time.Time
	// marked is set once host_stale is recorded for this silence.
	marked bool
	// last is when the last event about the host was captured: expiry
	// counts from it.
	last time.Time
	// applied is the highest seq observed applied to the host's document;
	// a document with a higher one holds an event not yet observed.
	applied uint64
	// expiring is the seq of the document a host_expired was recorded for
	// and not yet applied; 0 when none is.
	expiring uint64
}

// SweeperOption configures a Sweeper; an invalid one fails NewSweeper.
type SweeperOption func(*Sweeper) error

// WithHostExpiry removes stale hosts with no event captured for d, by
// recording host_expired; d == 0 never removes hosts. A host is removed
// only once it is stale, so never before StaleAfter heartbeat intervals.
// Default: DefaultHostExpiry.
func WithHostExpiry(d time.Duration) SweeperOption {
	return func(s *Sweeper) error {
		if d < 0 {
			return fmt.Errorf("host expiry %v: want a duration >= 0 (0: hosts never expire)", d)
		}
		s.expiry = d
		return nil
	}
}

// WithLatticeActive gates the sweeps of a lattice's hosts on active: only
// the projector the lattice's events are delivered to sees heartbeats, and
// only once it is caught up do ages say anything about the hosts. It must
// not block for long. Default: every lattice is swept.
func WithLatticeActive(active func(ctx context.Context, lattice string) bool) SweeperOption {
	return func(s *Sweeper) error {
		if active == nil {
			return errors.New("nil lattice activity check")
		}
		s.active = active
		return nil
	}
}

// WithSweeperLogger sets the Sweeper's structured logger (default
// slog.Default()).
func WithSweeperLogger(l *slog.Logger) SweeperOption {
	return func(s *Sweeper) error {
		if l == nil {
			return errors.New("nil sweeper logger")
		}
		s.log = l
		return nil
	}
}

// NewSweeper returns a Sweeper for the hosts in the state bucket state that
// heartbeat every interval, recording through js.
// Options: WithHostExpiry, WithLatticeActive, WithSweeperLogger; an invalid
// option fails it.
func NewSweeper(js jetstream.JetStream, state jetstream.KeyValue, interval time.Duration, opts ...SweeperOption) (*Sweeper, error) {
	if js == nil || state == nil {
		return nil, errors.New("sweeper: nil JetStream or state bucket")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("sweeper: heartbeat interval %v: want a positive duration", interval)
	}
	s := &Sweeper{
		rec:      recorder{js: js, now: time.Now},
		state:    state,
		interval: interval,
		expiry:   DefaultHostExpiry,
		log:      slog.Default(),
		seen:     map[hostRef]*hostSeen{},
		idle:     map[string]bool{},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("sweeper option: %w", err)
		}
	}
	s.log = s.log.With("component", "sweeper")
	return s, nil
}

// Observe is called by the projector for every event it applied, with the
// time the stream captured it.
func (s *Sweeper) Observe(ev *projections.Event, captured time.Time) {
	switch ev.Kind {
	case projections.KindLinkdefSet, projections.KindLinkdefDeleted, projections.KindRefmapSet:
		return // not about the host's document
	}
	ref := hostRef{ev.Lattice, ev.HostID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Kind == projections.KindHostStopped {
		delete(s.seen, ref)
		return
	}
	h, ok := s.seen[ref]
	if strings.HasPrefix(ev.Type, projections.LatticestateTypePrefix) {
		// Recorded by latticestate: applied to the document, but no sign
		// of the host.
		if ok {
			h.applied = max(h.applied, ev.Seq)
		}
		return
	}
	if !ok {
		h = &hostSeen{captured: captured}
		s.seen[ref] = h
	}
	h.applied = max(h.applied, ev.Seq)
	if captured.After(h.last) {
		h.last = captured
	}
	switch ev.Kind {
	case projections.KindHostHeartbeat, projections.KindHostStarted:
		if captured.After(h.captured) {
			h.captured, h.marked = captured, false
		}
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
	w, err := s.state.WatchFiltered(ctx, []string{streams.AllHostKeys()}, jetstream.IgnoreDeletes())
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
		cur, ok := s.seen[ref]
		if !ok || e.Created().After(cur.captured) {
			// When the document was written is the closest to the host's
			// last event the bucket tells, and never earlier.
			cur = &hostSeen{captured: e.Created(), last: e.Created(), marked: h.Status == projections.StatusStale}
			s.seen[ref] = cur
		}
		cur.applied = max(cur.applied, h.Seq)
		s.mu.Unlock()
	}
	return nil
}

// sweep records host_expired and host_stale for every host silent for too
// long, in the lattices this projector is active for. A host is marked in
// one sweep and expired in a later one, judged on the document that
// includes its mark.
func (s *Sweeper) sweep(ctx context.Context, now time.Time) {
	active, ok := s.activeLattices(ctx)
	if !ok {
		return
	}
	s.expire(ctx, now, active)
	s.markStale(ctx, now, active)
}

// activeLattices returns which lattices of the known hosts this projector
// is active for, refreshing the ages of those it has just become active for.
func (s *Sweeper) activeLattices(ctx context.Context) (map[string]bool, bool) {
	active := map[string]bool{}
	s.mu.Lock()
	for ref := range s.seen {
		active[ref.lattice] = true
	}
	s.mu.Unlock()
	refresh := false
	for l := range active {
		active[l] = s.active == nil || s.active(ctx, l)
		refresh = refresh || active[l] && s.idle[l]
		s.idle[l] = !active[l]
	}
	if refresh {
		if err := s.loadKnown(ctx); err != nil {
			s.log.Warn("refresh host ages", "err", err)
			return nil, false
		}
	}
	return active, true
}

// markStale records host_stale for the hosts of active lattices whose last
// heartbeat is too old.
func (s *Sweeper) markStale(ctx context.Context, now time.Time, active map[string]bool) {
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

// hostExpired is the data of a host_expired event: the document judged.
type hostExpired struct {
	HostID   string  `json:"host_id"`
	LastSeen *string `json:"last_seen"`
	Seq      uint64  `json:"seq"`
}

// expire records host_expired for the stale hosts of active lattices with
// no event captured for the host expiry.
func (s *Sweeper) expire(ctx context.Context, now time.Time, active map[string]bool) {
	if s.expiry <= 0 {
		return
	}
	toExpire := map[hostRef]time.Time{}
	s.mu.Lock()
	for ref, h := range s.seen {
		if active[ref.lattice] && h.marked && now.Sub(h.last) > s.expiry {
			toExpire[ref] = h.last
		}
	}
	s.mu.Unlock()
	for ref, last := range toExpire {
		if ctx.Err() != nil {
			return
		}
		s.expireHost(ctx, ref, last, now)
	}
}

// expireHost judges a silent host on its document as the bucket holds it
// now, after catch-up, and records host_expired with the last_seen and seq
// it judged by: the reducer keeps the host if anything about it was
// applied after that.
func (s *Sweeper) expireHost(ctx context.Context, ref hostRef, last, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := s.state.Get(ctx, streams.HostKey(ref.lattice, ref.id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Removed (by the host_expired recorded before, or host_stopped),
		// unless an event about the host came in since.
		s.mu.Lock()
		if h, ok := s.seen[ref]; ok && h.last.Equal(last) {
			delete(s.seen, ref)
		}
		s.mu.Unlock()
		return
	}
	if err != nil {
		s.log.Warn("read host to expire", "lattice", ref.lattice, "host", ref.id, "err", err)
		return
	}
	doc, err := projections.UnmarshalHost(e.Value())
	if err != nil {
		s.log.Warn("read host to expire", "lattice", ref.lattice, "host", ref.id, "err", err)
		return
	}
	s.mu.Lock()
	h, ok := s.seen[ref]
	// Judged only on a document whose every event the ages include, that
	// no host_expired is pending for, and that is stale (not back since,
	// its host_stale applied).
	judge := ok && h.last.Equal(last) && doc.Seq <= h.applied && h.expiring != doc.Seq &&
		doc.Status == projections.StatusStale
	s.mu.Unlock()
	if !judge {
		return
	}
	data := hostExpired{HostID: ref.id, LastSeen: doc.LastSeen, Seq: doc.Seq}
	if err := s.rec.record(ctx, ref.lattice, projections.KindHostExpired, data); err != nil {
		s.log.Warn("record host_expired", "lattice", ref.lattice, "host", ref.id, "err", err)
		return
	}
	s.log.Info("host expired", "lattice", ref.lattice, "host", ref.id, "seq", doc.Seq,
		"silent_for", now.Sub(last).Round(time.Millisecond))
	s.mu.Lock()
	if h, ok := s.seen[ref]; ok {
		// Until the event is applied, the document stays as judged: judge
		// it again only once it has changed.
		h.expiring = doc.Seq
	}
	s.mu.Unlock()
}
