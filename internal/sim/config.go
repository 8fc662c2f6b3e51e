package sim

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"latticestate/streams"
)

// Schema is the host generation whose wire shapes a simulation publishes.
type Schema string

// Host generations.
const (
	// SchemaOTP: 0.5x OTP hosts (host_core); every event on
	// wasmbus.evt.<lattice>, actors listed one entry per instance.
	SchemaOTP Schema = "otp"
	// SchemaV1: 1.x hosts; events on wasmbus.evt.<lattice>.<kind>,
	// components with max_instances.
	SchemaV1 Schema = "v1"
)

// Scenario is what hosts do after start-up.
type Scenario string

// Scenarios.
const (
	// ScenarioSteady: heartbeats only.
	ScenarioSteady Scenario = "steady"
	// ScenarioChurn: heartbeats plus lifecycle churn: actors and providers
	// started and stopped, health checks passing and failing, links set,
	// hosts leaving and new hosts joining.
	ScenarioChurn Scenario = "churn"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHosts    = 5
	DefaultInterval = 30 * time.Second
	DefaultLattice  = "default"
)

// Config describes a simulated lattice. Zero values take the defaults noted.
type Config struct {
	// Hosts is the number of hosts (default DefaultHosts). Under churn,
	// leaving hosts are replaced by new ones so about this many are up.
	Hosts int
	// Interval is each host's heartbeat period (default DefaultInterval,
	// as real hosts); under churn, one lifecycle event happens every
	// Interval/Hosts. Unused when Rate is set.
	Interval time.Duration
	// Lattice is the lattice name (default DefaultLattice).
	Lattice string
	// Schema is the host generation (default SchemaOTP).
	Schema Schema
	// Scenario is what hosts do (default ScenarioSteady).
	Scenario Scenario
	// Rate, when > 0, paces all events at this total rate (events per
	// second) instead of per-host intervals: heartbeats go round-robin
	// across hosts, and under churn about one event in four is a
	// lifecycle event.
	Rate float64
	// Count, when > 0, ends Run after this many heartbeats and churn events.
	// The start-up events (host_started and the initial inventory's
	// actor_started/provider_started or component_scaled) and the
	// host_stopped of the shutdown are not counted.
	Count int
	// SilentRatio (0..1) is the share of hosts that never answer inventory
	// requests and never send labels, as hosts whose labels must be
	// requested and time out.
	SilentRatio float64
	// Seed makes host ids, names, labels, inventories and churn choices
	// reproducible; 0 picks a random seed (Lattice.Seed reports it). Event
	// ids and trace ids are always random, so a rerun is not deduplicated
	// away by JetStream.
	Seed uint64
	// Logger receives one line per event of interest (start, hosts joining
	// and leaving, stop); nil discards.
	Logger *slog.Logger
}

// maxHosts bounds Hosts so a typo cannot exhaust memory.
const maxHosts = 1_000_000

// minInterval keeps a tiny Interval from turning the schedule into a busy
// loop; use Rate for load.
const minInterval = time.Millisecond

// Validate reports, wrapping ErrInvalidConfig, why New would reject cfg.
func (cfg Config) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults returns cfg with zero fields defaulted, or an error wrapping
// ErrInvalidConfig.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Hosts == 0 {
		cfg.Hosts = DefaultHosts
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Lattice == "" {
		cfg.Lattice = DefaultLattice
	}
	if cfg.Schema == "" {
		cfg.Schema = SchemaOTP
	}
	if cfg.Scenario == "" {
		cfg.Scenario = ScenarioSteady
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case cfg.Hosts < 0 || cfg.Hosts > maxHosts:
		return cfg, fmt.Errorf("%w: hosts %d is not in 1..%d", ErrInvalidConfig, cfg.Hosts, maxHosts)
	case cfg.Interval < minInterval:
		return cfg, fmt.Errorf("%w: interval %v is below %v", ErrInvalidConfig, cfg.Interval, minInterval)
	case cfg.Schema != SchemaOTP && cfg.Schema != SchemaV1:
		return cfg, fmt.Errorf("%w: schema %q is not %q or %q", ErrInvalidConfig, cfg.Schema, SchemaOTP, SchemaV1)
	case cfg.Scenario != ScenarioSteady && cfg.Scenario != ScenarioChurn:
		return cfg, fmt.Errorf("%w: scenario %q is not %q or %q", ErrInvalidConfig, cfg.Scenario, ScenarioSteady, ScenarioChurn)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return cfg, fmt.Errorf("%w: rate %v is not a non-negative number", ErrInvalidConfig, cfg.Rate)
	case cfg.Count < 0:
		return cfg, fmt.Errorf("%w: count %d is negative", ErrInvalidConfig, cfg.Count)
	case !(cfg.SilentRatio >= 0 && cfg.SilentRatio <= 1):
		return cfg, fmt.Errorf("%w: silent ratio %v is not in 0..1", ErrInvalidConfig, cfg.SilentRatio)
	}
	if err := streams.ValidateLattice(cfg.Lattice); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return cfg, nil
}
