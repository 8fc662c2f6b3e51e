package pipeline

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the projector's Prometheus metrics.
type Metrics struct {
	Applied      prometheus.Counter
	Ignored      prometheus.Counter
	Skipped      prometheus.Counter
	Rejected     *prometheus.CounterVec
	DeadLettered prometheus.Counter
	Lag          prometheus.Gauge
	BatchSize    prometheus.Histogram
	WriteSeconds prometheus.Histogram
	Writes       prometheus.Counter
	Conflicts    prometheus.Counter
	Checkpoint   prometheus.Gauge
	// HeldIntents counts intents waiting for the projector to reach the
	// head of the stream.
	HeldIntents prometheus.Gauge
	// LeasesHeld counts the projectors of the process that hold their
	// consumer's lease and pull from it; the others stand by.
	LeasesHeld prometheus.Gauge
	// Snapshots counts snapshots written, SnapshotBytes their compressed
	// size, SnapshotFailures those that could not be written.
	Snapshots        prometheus.Counter
	SnapshotBytes    prometheus.Counter
	SnapshotFailures prometheus.Counter
	// Rebuilds counts rebuilds of the state bucket from the stream, by
	// reason: replaced (the stream is not the one the checkpoint counts
	// in), bucket (the state bucket was deleted), replay (asked for).
	Rebuilds *prometheus.CounterVec
	// HistoryLost counts lattices rebuilt without the start of their
	// history: its events were gone and no snapshot covered them.
	HistoryLost prometheus.Counter
	// ConsumerDrift counts the times the projector found its durable
	// consumer changed or deleted by someone else and set it again.
	ConsumerDrift prometheus.Counter

	// lags holds each projector's lag, by consumer: Lag is their sum.
	lagMu sync.Mutex
	lags  map[string]uint64
}

// setLag records the lag of the projector of consumer and sets Lag to the
// sum over the projectors of these metrics.
func (m *Metrics) setLag(consumer string, lag uint64) {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	if m.lags == nil {
		m.lags = map[string]uint64{}
	}
	m.lags[consumer] = lag
	var total uint64
	for _, l := range m.lags {
		total += l
	}
	m.Lag.Set(float64(total))
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_events_applied_total", Help: "Events folded into a document."}),
		Ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_events_ignored_total", Help: "Valid events of kinds that change no state."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_events_skipped_total", Help: "Redelivered events that had already been applied."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latticestate_events_rejected_total", Help: "Events that could not be decoded, by category."}, []string{"category"}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_events_dead_lettered_total", Help: "Rejected events stored in the dead-letter stream."}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latticestate_consumer_lag", Help: "Stream sequences between the last event on the projectors' subjects and the last one they applied and wrote, measured on the stream."}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "latticestate_batch_size", Help: "Events per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		WriteSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "latticestate_kv_write_seconds", Help: "Time to write a batch's documents to the bucket.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		Writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_kv_writes_total", Help: "Documents written to the bucket."}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_kv_conflicts_total", Help: "Compare-and-set writes that found the document changed."}),
		Checkpoint: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latticestate_checkpoint_sequence", Help: "Last stream sequence applied completely."}),
		HeldIntents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latticestate_intents_held", Help: "Label requests waiting for the projector to reach the head of the stream."}),
		LeasesHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latticestate_leases_held", Help: "Consumers this process pulls from, holding their lease; 0 while every projector of it stands by."}),
		Snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_snapshots_written_total", Help: "Snapshots of a lattice written to the snapshot store."}),
		SnapshotBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_snapshot_bytes_total", Help: "Compressed bytes of the snapshots written."}),
		SnapshotFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_snapshot_failures_total", Help: "Snapshots that could not be written."}),
		Rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latticestate_rebuilds_total", Help: "Rebuilds of the state bucket from the event stream, by reason (replaced, bucket, replay)."}, []string{"reason"}),
		HistoryLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_history_lost_total", Help: "Lattices rebuilt without the start of their history (events gone, no snapshot)."}),
		ConsumerDrift: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_consumer_drift_total", Help: "Times the projector's durable consumer was found changed or deleted by someone else and set again."}),
	}
	if reg != nil {
		reg.MustRegister(m.Applied, m.Ignored, m.Skipped, m.Rejected, m.DeadLettered, m.Lag,
			m.BatchSize, m.WriteSeconds, m.Writes, m.Conflicts, m.Checkpoint, m.HeldIntents,
			m.LeasesHeld, m.Snapshots, m.SnapshotBytes, m.SnapshotFailures, m.Rebuilds, m.HistoryLost,
			m.ConsumerDrift)
	}
	return m
}

// EnricherMetrics are the label enricher's Prometheus metrics.
type EnricherMetrics struct {
	Outcomes     *prometheus.CounterVec
	Deduplicated prometheus.Counter
	// InFlight counts hosts whose outcome is not yet recorded.
	InFlight prometheus.Gauge
}

// NewEnricherMetrics creates the metrics and registers them with reg (nil:
// not registered).
func NewEnricherMetrics(reg prometheus.Registerer) *EnricherMetrics {
	m := &EnricherMetrics{
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latticestate_label_requests_total", Help: "Inventory requests for host labels, by outcome."}, []string{"outcome"}),
		Deduplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latticestate_label_requests_deduplicated_total", Help: "Label requests dropped because one for the host was in flight."}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latticestate_label_requests_in_flight", Help: "Hosts whose label request outcome is not yet recorded."}),
	}
	if reg != nil {
		reg.MustRegister(m.Outcomes, m.Deduplicated, m.InFlight)
	}
	return m
}
