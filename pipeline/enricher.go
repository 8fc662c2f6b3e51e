package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/projections"
	"latticestate/streams"
)

// Defaults of the Enricher's options.
const (
	DefaultMaxInFlight    = 1000
	DefaultRequestTimeout = 2 * time.Second
	DefaultAttempts       = 3
	DefaultBackoff        = 250 * time.Millisecond
)

// EnricherOption configures an Enricher; an invalid one fails NewEnricher.
type EnricherOption func(*enricherOptions) error

type enricherOptions struct {
	maxInFlight int
	timeout     time.Duration
	attempts    int
	backoff     time.Duration
	log         *slog.Logger
	metrics     *EnricherMetrics
}

// WithMaxInFlight bounds the concurrent inventory requests
// (DefaultMaxInFlight).
func WithMaxInFlight(n int) EnricherOption {
	return func(o *enricherOptions) error {
		if n < 1 {
			return fmt.Errorf("max in-flight requests %d: want at least 1", n)
		}
		o.maxInFlight = n
		return nil
	}
}

// WithRequestTimeout sets how long one inventory request waits for its
// reply (DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) EnricherOption {
	return func(o *enricherOptions) error {
		if d <= 0 {
			return fmt.Errorf("request timeout %v: want a positive duration", d)
		}
		o.timeout = d
		return nil
	}
}

// WithAttempts sets how many requests are made for one host before its
// outcome is recorded as a failure (DefaultAttempts), waiting backoff
// before the second and doubling it before each next one
// (DefaultBackoff).
func WithAttempts(n int, backoff time.Duration) EnricherOption {
	return func(o *enricherOptions) error {
		if n < 1 || backoff <= 0 {
			return fmt.Errorf("attempts %d, backoff %v: want at least 1 attempt and a positive backoff", n, backoff)
		}
		o.attempts, o.backoff = n, backoff
		return nil
	}
}

// WithEnricherLogger sets the Enricher's structured logger (default
// slog.Default()).
func WithEnricherLogger(l *slog.Logger) EnricherOption {
	return func(o *enricherOptions) error {
		if l == nil {
			return errors.New("nil enricher logger")
		}
		o.log = l
		return nil
	}
}

// WithEnricherMetrics records the Enricher's metrics in m (default: metrics
// registered nowhere).
func WithEnricherMetrics(m *EnricherMetrics) EnricherOption {
	return func(o *enricherOptions) error {
		if m == nil {
			return errors.New("nil enricher metrics")
		}
		o.metrics = m
		return nil
	}
}

// Enricher asks hosts first seen without labels for their inventory and
// records the outcome as a host_labels_resolved event. The projection never
// waits on it: RequestLabels intents are queued, deduplicated per host, and
// served by a bounded number of concurrent requests, each holding nothing
// but a goroutine while it waits, so a thousand silent hosts cost about one
// timeout.
type Enricher struct {
	nc  *nats.Conn
	rec recorder
	cfg enricherOptions
	log *slog.Logger

	slots chan struct{}
	wg    sync.WaitGroup

	// mu guards the lifetime (ctx, cancel, started, stopped), the intents
	// handed over before Start, and inFlight. Requests are started only
	// while holding it and before Stop, so Stop's wait sees every one.
	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool
	stopped  bool
	pending  []projections.Intent
	inFlight map[string]struct{}
}

// NewEnricher returns an Enricher that requests inventories over nc and
// records outcomes through js. Intents handed to it before Start wait for
// Start; after Stop they are dropped.
// Options: WithMaxInFlight, WithRequestTimeout, WithAttempts,
// WithEnricherLogger, WithEnricherMetrics; an invalid option fails it.
func NewEnricher(nc *nats.Conn, js jetstream.JetStream, opts ...EnricherOption) (*Enricher, error) {
	if nc == nil || js == nil {
		return nil, errors.New("enricher: nil NATS connection or JetStream")
	}
	o := enricherOptions{maxInFlight: DefaultMaxInFlight, timeout: DefaultRequestTimeout,
		attempts: DefaultAttempts, backoff: DefaultBackoff, log: slog.Default()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("enricher option: %w", err)
		}
	}
	if o.metrics == nil {
		o.metrics = NewEnricherMetrics(nil)
	}
	return &Enricher{
		nc:       nc,
		rec:      recorder{js: js, now: time.Now},
		cfg:      o,
		log:      o.log.With("component", "enricher"),
		slots:    make(chan struct{}, o.maxInFlight),
		inFlight: map[string]struct{}{},
	}, nil
}

// Start serves the intents queued so far and those handed over until Stop
// or until ctx ends. Only the first call has an effect.
func (e *Enricher) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return
	}
	e.started = true
	e.ctx, e.cancel = context.WithCancel(ctx)
	for _, in := range e.pending {
		e.goResolve(in)
	}
	e.pending = nil
}

// Stop cancels outstanding requests and waits for them to end; intents
// still queued are dropped. Hosts whose outcome was not recorded are asked
// again when they are next created.
func (e *Enricher) Stop() {
	e.mu.Lock()
	e.stopped = true
	if e.cancel != nil {
		e.cancel()
	}
	for _, in := range e.pending {
		delete(e.inFlight, in.Lattice+"."+in.HostID)
		e.cfg.metrics.InFlight.Dec()
	}
	e.pending = nil
	e.mu.Unlock()
	e.wg.Wait()
}

// Handle queues the RequestLabels intents; it never blocks. Before Start
// they wait for it; after Stop they are dropped.
func (e *Enricher) Handle(intents []projections.Intent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, in := range intents {
		if in.Kind != projections.IntentRequestLabels || e.stopped {
			continue
		}
		key := in.Lattice + "." + in.HostID
		if _, busy := e.inFlight[key]; busy {
			e.cfg.metrics.Deduplicated.Inc()
			continue
		}
		e.inFlight[key] = struct{}{}
		e.cfg.metrics.InFlight.Inc()
		if !e.started {
			e.pending = append(e.pending, in)
			continue
		}
		e.goResolve(in)
	}
}

// goResolve resolves in on its own goroutine; e.mu is held.
func (e *Enricher) goResolve(in projections.Intent) {
	key := in.Lattice + "." + in.HostID
	e.wg.Go(func() {
		defer func() {
			e.mu.Lock()
			delete(e.inFlight, key)
			e.mu.Unlock()
			e.cfg.metrics.InFlight.Dec()
		}()
		e.resolve(in)
	})
}

// resolve asks one host for its labels and records the outcome.
func (e *Enricher) resolve(in projections.Intent) {
	select {
	case e.slots <- struct{}{}:
	case <-e.ctx.Done():
		return
	}
	labels, outcome := e.ask(in)
	<-e.slots
	if e.ctx.Err() != nil {
		return
	}
	e.cfg.metrics.Outcomes.WithLabelValues(outcome).Inc()
	if labels == nil {
		labels = map[string]string{}
	}
	data := labelsResolved{HostID: in.HostID, Labels: labels, Outcome: outcome}
	backoff := newBackoff()
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		err := e.rec.record(ctx, in.Lattice, projections.KindHostLabelsResolved, data)
		cancel()
		if err == nil {
			return
		}
		e.log.Warn("record labels outcome", "host", in.HostID, "err", err)
		if !backoff.wait(e.ctx) {
			return
		}
	}
}

// ask requests the host's inventory, on the 1.x subject and then the OTP
// one, with retries; it returns the labels and the outcome.
func (e *Enricher) ask(in projections.Intent) (map[string]string, string) {
	wait := e.cfg.backoff
	outcome := projections.OutcomeTimeout
	for attempt := range e.cfg.attempts {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-e.ctx.Done():
				t.Stop()
				return nil, outcome
			}
			wait *= 2
		}
		labels, err := e.request(in)
		switch {
		case err == nil:
			return labels, projections.OutcomeOK
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			outcome = projections.OutcomeTimeout
		default:
			outcome = projections.OutcomeError
			e.log.Debug("inventory request", "host", in.HostID, "err", err)
		}
		if e.ctx.Err() != nil {
			break
		}
	}
	return nil, outcome
}

// request sends one inventory request. A subject with no responders is
// answered at once, so asking the 1.x subject first costs an OTP host
// nothing.
func (e *Enricher) request(in projections.Intent) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.timeout)
	defer cancel()
	msg, err := e.nc.RequestWithContext(ctx, streams.V1InventorySubject(in.Lattice, in.HostID), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		msg, err = e.nc.RequestWithContext(ctx, streams.OTPInventorySubject(in.Lattice, in.HostID), nil)
		if err == nil {
			return parseOTPInventory(msg.Data)
		}
	} else if err == nil {
		return parseV1Inventory(msg.Data)
	}
	return nil, err
}

type inventoryLabels struct {
	Labels map[string]string `json:"labels"`
}

func parseOTPInventory(b []byte) (map[string]string, error) {
	var inv inventoryLabels
	if err := json.Unmarshal(b, &inv); err != nil {
		return nil, fmt.Errorf("inventory reply: %w", err)
	}
	return inv.Labels, nil
}

func parseV1Inventory(b []byte) (map[string]string, error) {
	var reply struct {
		Success  bool            `json:"success"`
		Message  string          `json:"message"`
		Response inventoryLabels `json:"response"`
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		return nil, fmt.Errorf("inventory reply: %w", err)
	}
	if !reply.Success {
		return nil, fmt.Errorf("inventory request failed: %s", reply.Message)
	}
	return reply.Response.Labels, nil
}
