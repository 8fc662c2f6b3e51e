package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Lattice is a set of simulated wasmCloud hosts publishing on one NATS
// connection. Its methods are safe for concurrent use.
type Lattice struct {
	nc *nats.Conn
	// emit sends one event: nc.PublishMsg, or a History's queue.
	emit      func(*nats.Msg) error
	cfg       Config
	seed      uint64
	log       *slog.Logger
	issuer    string
	ready     chan struct{}
	requests  chan *nats.Msg // inventory requests of every host
	started   atomic.Bool
	published atomic.Uint64

	mu     sync.RWMutex
	state  runState
	slots  []*host // nil: the slot's host has left and none joined yet
	gens   []int   // generation of each slot's latest host
	silent []bool  // whether each slot's hosts are silent
	empty  []int   // slots that are nil
	byID   map[string]*host
	inv    map[string]*host // inventory request subject → host subscribed to it

	// Used by the driver goroutine only.
	rng      *rand.Rand
	cursor   int       // next slot for a round-robin heartbeat
	lastWarn time.Time // throttles publish-failure logs
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopped
)

// New returns a simulated lattice publishing on nc, with its hosts derived
// from cfg.Seed but not yet started; Run starts them. It fails with
// ErrInvalidConfig when a Config field is out of range.
func New(nc *nats.Conn, cfg Config) (*Lattice, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: no NATS connection", ErrInvalidConfig)
	}
	l, err := newLattice(cfg)
	if err != nil {
		return nil, err
	}
	l.nc, l.emit = nc, nc.PublishMsg
	return l, nil
}

// newLattice derives the hosts of cfg, with nothing to publish on yet.
func newLattice(cfg Config) (*Lattice, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	seed := cfg.Seed
	for seed == 0 {
		seed = rand.Uint64()
	}
	l := &Lattice{
		cfg: cfg, seed: seed, log: cfg.Logger, ready: make(chan struct{}), requests: make(chan *nats.Msg, requestBuffer),
		slots: make([]*host, cfg.Hosts), gens: make([]int, cfg.Hosts), silent: make([]bool, cfg.Hosts),
		byID: make(map[string]*host, cfg.Hosts), inv: make(map[string]*host, cfg.Hosts),
		rng: rand.New(rand.NewChaCha8(derive(seed, "lattice"))),
	}
	if l.issuer, err = clusterKey(seed); err != nil {
		return nil, err
	}
	silent := int(math.Round(cfg.SilentRatio * float64(cfg.Hosts)))
	for _, slot := range l.rng.Perm(cfg.Hosts)[:silent] {
		l.silent[slot] = true
	}
	for slot := range cfg.Hosts {
		h, err := newHost(seed, slot, 0, cfg.Schema, l.silent[slot], l.issuer, true)
		if err != nil {
			return nil, err
		}
		l.add(h)
	}
	return l, nil
}

// derive returns a 32-byte seed for the named random source of a simulation.
func derive(seed uint64, name string) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("latticestate sim "+name+" "), seed))
}

// clusterKey is the issuer 1.x hosts report: the lattice's cluster key.
func clusterKey(seed uint64) (string, error) {
	kp, err := nkeys.CreatePairWithRand(nkeys.PrefixByteCluster, rand.NewChaCha8(derive(seed, "issuer")))
	if err != nil {
		return "", fmt.Errorf("cluster key: %w", err)
	}
	return kp.PublicKey()
}

// add registers h in its slot; l.mu must be held (or l not yet shared).
func (l *Lattice) add(h *host) {
	l.slots[h.slot] = h
	l.byID[h.id] = h
}

// remove unregisters h, leaving its slot empty; l.mu must be held.
func (l *Lattice) remove(h *host) {
	l.slots[h.slot] = nil
	l.empty = append(l.empty, h.slot)
	delete(l.byID, h.id)
}

// Seed returns the seed in use: Config.Seed, or the random one picked for 0.
func (l *Lattice) Seed() uint64 { return l.seed }

// Ready is closed once Run has started every host (inventory requests
// answered, host_started and the initial inventory published). It stays
// open if Run fails before that.
func (l *Lattice) Ready() <-chan struct{} { return l.ready }

// Published returns how many events have been published so far.
func (l *Lattice) Published() uint64 { return l.published.Load() }

// HostInfo describes a simulated host as it is now.
type HostInfo struct {
	ID           string
	FriendlyName string
	// Labels are the host's labels; silent hosts never send them.
	Labels map[string]string
	Silent bool
	Paused bool
	// Actors maps each actor (1.x: component) id to its instance count.
	Actors map[string]int
	// Providers lists the ids of the providers running, in start order.
	Providers []string
}

// HostIDs returns the ids of the simulation's hosts in a stable order:
// before Run the hosts it will start, then the hosts up (under churn the
// set changes), after Run the hosts it stopped last.
func (l *Lattice) HostIDs() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ids := make([]string, 0, len(l.slots))
	for _, h := range l.slots {
		if h != nil {
			ids = append(ids, h.id)
		}
	}
	return ids
}

// Hosts describes the hosts HostIDs names, in the same order.
func (l *Lattice) Hosts() []HostInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	infos := make([]HostInfo, 0, len(l.slots))
	for _, h := range l.slots {
		if h == nil {
			continue
		}
		h.mu.Lock()
		info := HostInfo{
			ID: h.id, FriendlyName: h.name, Labels: maps.Clone(h.labels), Silent: h.silent, Paused: h.paused,
			Actors: make(map[string]int, len(h.actors)), Providers: make([]string, 0, len(h.providers)),
		}
		for _, a := range h.actors {
			info.Actors[a.id] = len(a.instances)
		}
		for _, p := range h.providers {
			info.Providers = append(info.Providers, p.id)
		}
		h.mu.Unlock()
		infos = append(infos, info)
	}
	return infos
}

// Pause silences a host without stopping it, as a crashed or partitioned
// host: no heartbeats, no churn, no inventory replies, and no host_stopped
// until Resume or the end of Run.
func (l *Lattice) Pause(hostID string) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h, err := l.host(hostID)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.paused = true
	h.mu.Unlock()
	return nil
}

// Resume ends a Pause; while Run is running the host heartbeats at once.
func (l *Lattice) Resume(hostID string) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h, err := l.host(hostID)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paused = false
	if l.state != stateRunning || !h.up {
		return nil
	}
	now := time.Now()
	return l.publish(h, h.heartbeat(now), now)
}

// Heartbeat makes a running host publish a heartbeat now, out of schedule.
func (l *Lattice) Heartbeat(hostID string) error {
	return l.onHost(hostID, func(h *host, now time.Time) error {
		return l.publish(h, h.heartbeat(now), now)
	})
}

// StartActor starts one more instance of actorID (1.x: component) on a host
// and publishes actor_started (1.x: component_scaled); the next heartbeat
// lists it. Known catalog ids get their image refs; any other id is taken
// as it is.
func (l *Lattice) StartActor(hostID, actorID string) error {
	if actorID == "" {
		return errors.New("start actor: empty actor id")
	}
	return l.onHost(hostID, func(h *host, now time.Time) error {
		return l.publishAll(h, h.startActor(actorID, 1), now)
	})
}

// StopActor stops one instance of actorID on a host and publishes
// actor_stopped (1.x: component_scaled). It fails with ErrNotOnHost when no
// instance runs.
func (l *Lattice) StopActor(hostID, actorID string) error {
	return l.onHost(hostID, func(h *host, now time.Time) error {
		ev, err := h.stopActor(actorID)
		if err != nil {
			return err
		}
		return l.publish(h, ev, now)
	})
}

// StartProvider starts providerID on a host with link name "default" and
// publishes provider_started. It fails with ErrAlreadyOnHost when the
// provider already runs there.
func (l *Lattice) StartProvider(hostID, providerID string) error {
	if providerID == "" {
		return errors.New("start provider: empty provider id")
	}
	return l.onHost(hostID, func(h *host, now time.Time) error {
		spec := lookupProvider(providerID)
		spec.linkName = "default"
		ev, err := h.startProvider(spec, providerID)
		if err != nil {
			return err
		}
		return l.publish(h, ev, now)
	})
}

// StopProvider stops providerID (under any link name) on a host and
// publishes provider_stopped. It fails with ErrNotOnHost when it does not
// run there.
func (l *Lattice) StopProvider(hostID, providerID string) error {
	return l.onHost(hostID, func(h *host, now time.Time) error {
		ev, err := h.stopProvider(providerID, "")
		if err != nil {
			return err
		}
		return l.publish(h, ev, now)
	})
}

// host returns the registered host hostID; l.mu must be held.
func (l *Lattice) host(hostID string) (*host, error) {
	h, ok := l.byID[hostID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownHost, hostID)
	}
	return h, nil
}

// onHost runs f with a running, unpaused host locked.
func (l *Lattice) onHost(hostID string, f func(h *host, now time.Time) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.state != stateRunning {
		return ErrNotRunning
	}
	h, err := l.host(hostID)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.up:
		return fmt.Errorf("%w %q", ErrUnknownHost, hostID)
	case h.paused:
		return fmt.Errorf("%w: %s", ErrHostPaused, hostID)
	}
	return f(h, time.Now())
}

// publish sends one event of h; h.mu must be held.
func (l *Lattice) publish(h *host, ev hostEvent, now time.Time) error {
	id, raw, err := encodeEvent(h.id, ev, now)
	if err != nil {
		return err
	}
	if err := l.emit(newMsg(eventSubject(l.cfg.Schema, l.cfg.Lattice, ev.kind), id, raw)); err != nil {
		return fmt.Errorf("publish %s of host %s: %w", ev.kind, h.id, err)
	}
	l.published.Add(1)
	return nil
}

// publishAll sends events of h in order; h.mu must be held.
func (l *Lattice) publishAll(h *host, evs []hostEvent, now time.Time) error {
	for _, ev := range evs {
		if err := l.publish(h, ev, now); err != nil {
			return err
		}
	}
	return nil
}
