// Package bench measures latticestate against what JetStream itself can do,
// on one stream in one run: the raw read rate of an ordered consumer (the
// ceiling), a naive projector that gets, merges, puts and acks one event at
// a time (the floor), latticestate's pipeline replaying into an empty
// bucket, a live projector under a fixed offered rate (latency from publish
// to KV write), and the peak memory of `projector replay` for two lengths
// of history.
//
// `projector bench` and the pipeline's Go benchmark both run these stages;
// the package knows nothing of flags.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"latticestate/streams"
)

// Progress is told how many of total items a stage has done; nil reports
// nothing.
type Progress func(done, total uint64)

func (p Progress) report(done, total uint64) {
	if p != nil {
		p(done, total)
	}
}

// Stage is one measured stage. Events/Seconds is its rate; the pointers
// hold what only some stages measure.
type Stage struct {
	// Name is raw, naive, replay, live, memory or asof.
	Name         string  `json:"stage"`
	Events       uint64  `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	// RatioToRaw and RatioToNaive compare EventsPerSec with the raw and
	// naive stages of the same run (0: not compared).
	RatioToRaw   float64 `json:"ratio_to_raw,omitempty"`
	RatioToNaive float64 `json:"ratio_to_naive,omitempty"`
	// KVWrites counts documents written (replay, live).
	KVWrites       uint64  `json:"kv_writes,omitempty"`
	KVWritesPerSec float64 `json:"kv_writes_per_s,omitempty"`
	// CPUPercent is the CPU time of the whole process (projector,
	// publisher and an embedded server) per second of the stage: 200 is
	// two cores busy. Below the core count the stage waited.
	CPUPercent float64 `json:"cpu_percent,omitempty"`
	// PassesPerSec are the rates of every pass of a stage run more than
	// once; the stage is the pass with the median rate.
	PassesPerSec []float64 `json:"passes_events_per_s,omitempty"`
	Live         *Live     `json:"live,omitempty"`
	Memory       *Memory   `json:"memory,omitempty"`
	AsOf         *AsOf     `json:"as_of,omitempty"`
}

// Median runs a stage passes times and returns the pass with the median
// rate, with the rate of every pass. One pass of a second or two is at the
// mercy of whatever else the machine does in that second.
func Median(passes int, run func() (Stage, error)) (Stage, error) {
	var runs []Stage
	for range max(passes, 1) {
		st, err := run()
		if err != nil {
			return st, err
		}
		runs = append(runs, st)
	}
	rates := make([]float64, len(runs))
	for i, st := range runs {
		rates[i] = st.EventsPerSec
	}
	slices.SortStableFunc(runs, func(a, b Stage) int { return cmp.Compare(a.EventsPerSec, b.EventsPerSec) })
	median := runs[len(runs)/2]
	if len(runs) > 1 {
		median.PassesPerSec = rates
	}
	return median, nil
}

// rate sets EventsPerSec from Events and Seconds, and CPUPercent from the
// process's CPU time at the start of the stage.
func (s *Stage) rate(cpuAtStart time.Duration) {
	if s.Seconds > 0 {
		s.EventsPerSec = float64(s.Events) / s.Seconds
		if cpu := processCPU(); cpu > 0 && cpuAtStart > 0 {
			s.CPUPercent = 100 * (cpu - cpuAtStart).Seconds() / s.Seconds
		}
	}
}

// Live is what the live stage measured at one offered rate.
type Live struct {
	// OfferedPerSec is the rate the publisher was asked for;
	// PublishedPerSec what it achieved.
	OfferedPerSec   float64 `json:"offered_per_s"`
	PublishedPerSec float64 `json:"published_per_s"`
	// Samples is the number of events with a latency; Unapplied those
	// published but not written within the settle time.
	Samples   int `json:"samples"`
	Unapplied int `json:"unapplied"`
	// Latency from the publish call to the KV write of the event's
	// document, in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// GCCycles and GCCPUSeconds are the garbage collections of the
	// measuring process (publisher, projector and an embedded server)
	// during the stage, and the CPU time they took: each cycle slows all
	// three, and latency peaks follow them.
	GCCycles     uint64  `json:"gc_cycles"`
	GCCPUSeconds float64 `json:"gc_cpu_s"`
	// Windows is how many windows the projector wrote during the stage,
	// those holding only a checkpoint included: at the head of the
	// stream, about one per batch; far fewer, with fewer KV writes than
	// events, when it fell behind and caught up.
	Windows uint64 `json:"windows,omitempty"`
}

// Memory is the peak resident memory of `projector replay` processes.
type Memory struct {
	// RSSKiB is the peak RSS replaying Events; QuarterRSSKiB replaying the
	// first quarter of them.
	RSSKiB        int64  `json:"rss_kib"`
	QuarterEvents uint64 `json:"quarter_events"`
	QuarterRSSKiB int64  `json:"quarter_rss_kib"`
	// GrowthRatio is RSSKiB / QuarterRSSKiB.
	GrowthRatio float64 `json:"growth_ratio"`
}

// counterValue reads a Prometheus counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// FreshBucket deletes the state bucket name if it exists and creates it
// empty, configured as the projector's state bucket.
func FreshBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, jetstream.Stream, error) {
	if err := js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return streams.EnsureState(ctx, js, name, streams.DefaultOptions())
}

// deleteConsumer removes a durable consumer if it exists.
func deleteConsumer(ctx context.Context, s jetstream.Stream, name string) error {
	if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s: %w", name, err)
	}
	return nil
}

// since is the seconds elapsed since start.
func since(start time.Time) float64 { return time.Since(start).Seconds() }
