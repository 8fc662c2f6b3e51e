package view

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the lattice gauges, which dashboards and alerts use.
const (
	LatticeHostsMetric          = "latticestate_lattice_hosts"
	LatticeActorInstancesMetric = "latticestate_lattice_actor_instances"
	LatticeProvidersMetric      = "latticestate_lattice_providers"
)

// Metrics are the view's Prometheus metrics: the lattices themselves,
// counted from the view at every scrape, and the view's own health.
type Metrics struct {
	v *View

	hosts          *prometheus.Desc
	actorInstances *prometheus.Desc
	providers      *prometheus.Desc

	revision    prometheus.Gauge
	reloads     prometheus.Counter
	invalid     prometheus.Counter
	watchers    prometheus.Gauge
	dropCounter *prometheus.CounterVec
	rejected    prometheus.Counter
}

var _ prometheus.Collector = (*Metrics)(nil)

func newMetrics(v *View) *Metrics {
	m := &Metrics{
		v: v,
		hosts: prometheus.NewDesc(LatticeHostsMetric,
			"Hosts of a lattice by status, as projected.", []string{"lattice", "status"}, nil),
		actorInstances: prometheus.NewDesc(LatticeActorInstancesMetric,
			"Actor (component) instances running in a lattice, as projected.", []string{"lattice"}, nil),
		providers: prometheus.NewDesc(LatticeProvidersMetric,
			"Provider entries of a lattice's hosts by status, as projected.", []string{"lattice", "status"}, nil),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latticestate_view_revision",
			Help: "Last revision of the state bucket applied to the in-memory view."}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "latticestate_view_reloads_total",
			Help: "Times the view's watch of the state bucket ended and the view reloaded it."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "latticestate_view_invalid_documents_total",
			Help: "Host documents in the state bucket the view could not read and left out."}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latticestate_watchers",
			Help: "Watchers (/watch streams) connected."}),
		dropCounter: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latticestate_watchers_dropped_total",
			Help: "Watchers ended by the server with a resync event: slow (buffer full), reloaded, recreated (bucket) or stopped."}, []string{"reason"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "latticestate_watchers_rejected_total",
			Help: "Watch requests refused because the maximum number of watchers was reached."}),
	}
	// Every reason has a series from the start, so that rate() sees the
	// first drop.
	for _, reason := range []string{"slow", "reloaded", "recreated", "stopped"} {
		m.dropCounter.WithLabelValues(reason)
	}
	return m
}

// Metrics returns the view's metrics, to register with a registry.
func (v *View) Metrics() *Metrics { return v.metrics }

func (m *Metrics) dropped(err error) {
	reason := "stopped"
	switch {
	case errors.Is(err, ErrSlowWatcher):
		reason = "slow"
	case errors.Is(err, ErrReloaded):
		reason = "reloaded"
	case errors.Is(err, ErrRecreated):
		reason = "recreated"
	}
	m.dropCounter.WithLabelValues(reason).Inc()
}

func (m *Metrics) own() []prometheus.Collector {
	return []prometheus.Collector{m.revision, m.reloads, m.invalid, m.watchers, m.dropCounter, m.rejected}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.hosts
	ch <- m.actorInstances
	ch <- m.providers
	for _, c := range m.own() {
		c.Describe(ch)
	}
}

// scrapeSync bounds how long a scrape waits for the view to catch up with
// the bucket.
const scrapeSync = 2 * time.Second

// Collect implements prometheus.Collector. The lattice gauges are counted
// after the view caught up with the bucket, so that a scrape after a write
// sees it; a lattice or status that is gone has no series.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.own() {
		c.Collect(ch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeSync)
	err := m.v.Sync(ctx)
	cancel()
	if err != nil && !errors.Is(err, ErrNotCurrent) {
		m.v.log.Debug("state view: lattice gauges from a view that may be behind", "err", err)
	}
	m.v.mu.RLock()
	defer m.v.mu.RUnlock()
	if m.v.st == nil {
		return
	}
	for name, l := range m.v.st.lattices {
		t := l.tally
		if t.nhosts == 0 {
			continue
		}
		for status, n := range t.hosts {
			send(ch, m.hosts, float64(n), name, status)
		}
		send(ch, m.actorInstances, float64(t.actorInstances()), name)
		for status, n := range t.providers {
			send(ch, m.providers, float64(n), name, status)
		}
	}
}

// send sends a gauge, leaving out one whose label values Prometheus
// refuses (a status that is not UTF-8 in a document that was not written
// by the projector).
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...); err == nil {
		ch <- m
	}
}
