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

// EnricherConfig tunes label enrichment; zero values take the defaults.
type EnricherConfig struct {
	// MaxInFlight bounds concurrent inventory requests (default 1000).
	MaxInFlight int
	// Timeout is how long one request waits for a reply (default 2s).
	Timeout time.Duration
	// Attempts is how many requests are made before giving up (default 3),
	// with Backoff doubling between them (default 250ms).
	Attempts int
	Backoff  time.Duration
	Logger   *slog.Logger
	Metrics  *EnricherMetrics
}

// Enricher asks hosts first seen without labels for their inventory and
// records the outcome as a host_labels_resolved event. The projection never
// waits on it: RequestLabels intents are queued, deduplicated per host, and
// served by at most MaxInFlight concurrent requests, each holding nothing
// but a goroutine while it waits, so a thousand silent hosts cost about one
// timeout.
type Enricher struct {
	nc  *nats.Conn
	rec recorder
	cfg EnricherConfig
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}

	mu       sync.Mutex
	inFlight map[string]struct{}
}

// NewEnricher returns an Enricher that requests inventories over nc and
// records outcomes through js. Start it before handing it intents.
func NewEnricher(nc *nats.Conn, js jetstream.JetStream, cfg EnricherConfig) *Enricher {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewEnricherMetrics(nil)
	}
	return &Enricher{
		nc:       nc,
		rec:      recorder{js: js, now: time.Now},
		cfg:      cfg,
		log:      cfg.Logger.With("component", "enricher"),
		slots:    make(chan struct{}, cfg.MaxInFlight),
		inFlight: map[string]struct{}{},
	}
}

// Start begins serving intents; Stop ends it.
func (e *Enricher) Start(ctx context.Context) {
	e.ctx, e.cancel = context.WithCancel(ctx)
}

// Stop cancels outstanding requests and waits for them to end. Hosts whose
// outcome was not recorded are asked again when they are next created.
func (e *Enricher) Stop() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// Handle queues the RequestLabels intents; it never blocks.
func (e *Enricher) Handle(intents []projections.Intent) {
	for _, in := range intents {
		if in.Kind != projections.IntentRequestLabels {
			continue
		}
		key := in.Lattice + "." + in.HostID
		e.mu.Lock()
		_, busy := e.inFlight[key]
		if !busy {
			e.inFlight[key] = struct{}{}
		}
		e.mu.Unlock()
		if busy {
			e.cfg.Metrics.Deduplicated.Inc()
			continue
		}
		e.cfg.Metrics.InFlight.Inc()
		e.wg.Go(func() {
			defer func() {
				e.mu.Lock()
				delete(e.inFlight, key)
				e.mu.Unlock()
				e.cfg.Metrics.InFlight.Dec()
			}()
			e.resolve(in)
		})
	}
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
	e.cfg.Metrics.Outcomes.WithLabelValues(outcome).Inc()
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
	wait := e.cfg.Backoff
	outcome := projections.OutcomeTimeout
	for attempt := range e.cfg.Attempts {
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
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
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
