package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets latticestate aims for; Compare checks a report against them.
const (
	// TargetReplayOfRaw: replay reaches this share of the raw read rate.
	TargetReplayOfRaw = 0.45
	// TargetReplayOverNaive: replay is this many times the naive rate.
	TargetReplayOverNaive = 30.0
	// TargetLiveRate is the offered rate (events/s) at which the live p99
	// is held to TargetLiveP99Ms: 10,000 hosts heartbeating every 3 s.
	TargetLiveRate  = 3333
	TargetLiveP99Ms = 25.0
	// TargetLiveHighRate is three times that load, at which the live p99
	// is held to TargetLiveHighP99Ms.
	TargetLiveHighRate  = 10_000
	TargetLiveHighP99Ms = 50.0
	// LiveStressRate is offered to find where latency breaks; it has no
	// target.
	LiveStressRate = 30_000
	// TargetMemoryGrowth: peak RSS replaying the whole history is at most
	// this many times that of replaying its first quarter.
	TargetMemoryGrowth = 1.25
	// TargetMemoryMiB bounds the peak RSS replaying the whole history.
	TargetMemoryMiB = 100.0
)

// ReportVersion is the version of the JSON report's layout.
const ReportVersion = 1

// Report is the result of one benchmark run, as printed and as JSON.
type Report struct {
	Version int       `json:"report_version"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	// Server is "embedded" or the NATS URL (without credentials).
	Server  string   `json:"server"`
	Params  Params   `json:"params"`
	Stream  Filled   `json:"stream"`
	Stages  []Stage  `json:"stages"`
	Targets []Target `json:"targets"`
	// LiveBreak says up to which offered rate the live stage held its
	// latency, and where it broke; nil without a live stage.
	LiveBreak *LiveBreak `json:"live_break,omitempty"`
}

// LiveBreak is where the live latency breaks, from the live stages of a
// run: the highest offered rate up to which every stage applied every
// event, at TargetLiveHighP99Ms or less at p99 and at 95% of the offered
// rate or more, and the lowest rate at which one did not.
type LiveBreak struct {
	// HeldUpTo is 0 when no rate held.
	HeldUpTo float64 `json:"held_up_to_per_s"`
	// BrokeAt is 0 when every rate held; then P99Ms and AppliedPerSec are
	// those of the highest rate.
	BrokeAt       float64 `json:"broke_at_per_s,omitempty"`
	P99Ms         float64 `json:"p99_ms"`
	AppliedPerSec float64 `json:"applied_per_s"`
	Unapplied     int     `json:"unapplied"`
}

// Machine is where the run happened.
type Machine struct {
	GoVersion  string `json:"go_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// ThisMachine describes the running process's machine.
func ThisMachine() Machine {
	return Machine{GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
}

// Params are the parameters of a run.
type Params struct {
	Events       int       `json:"events"`
	Hosts        int       `json:"hosts"`
	Schema       string    `json:"schema"`
	Churn        float64   `json:"churn"`
	Seed         uint64    `json:"seed"`
	NaiveEvents  int       `json:"naive_events"`
	LiveRates    []float64 `json:"live_rates"`
	LiveSeconds  float64   `json:"live_seconds"`
	MemoryEvents int       `json:"memory_events"`
	BatchSize    int       `json:"batch_size"`
	FlushWindow  int       `json:"flush_window"`
	Passes       int       `json:"passes"`
	Smoke        bool      `json:"smoke"`
	// MsgIDs says whether events were published with a Nats-Msg-Id.
	MsgIDs        bool   `json:"msg_ids"`
	ProfiledStage string `json:"profiled_stage,omitempty"`
}

// Target is one goal and whether this run met it.
type Target struct {
	Name string `json:"name"`
	// Goal is the condition, e.g. ">= 0.30".
	Goal string `json:"goal"`
	// Measured is nil when the run did not measure it.
	Measured *float64 `json:"measured"`
	Pass     bool     `json:"pass"`
}

// stage returns the first stage named name (and, for live, offered at
// rate), or nil.
func (r *Report) stage(name string, rate float64) *Stage {
	for i := range r.Stages {
		s := &r.Stages[i]
		if s.Name == name && (s.Live == nil || s.Live.OfferedPerSec == rate) {
			return s
		}
	}
	return nil
}

// Compare sets every stage's ratios to the raw and naive rates and checks
// the targets.
func (r *Report) Compare() {
	raw, naive := r.stage("raw", 0), r.stage("naive", 0)
	for i := range r.Stages {
		s := &r.Stages[i]
		if s.Name != "raw" && s.Name != "naive" && s.Name != "replay" {
			continue
		}
		if raw != nil && raw.EventsPerSec > 0 {
			s.RatioToRaw = s.EventsPerSec / raw.EventsPerSec
		}
		if naive != nil && naive.EventsPerSec > 0 {
			s.RatioToNaive = s.EventsPerSec / naive.EventsPerSec
		}
	}
	r.Targets = nil
	replay := r.stage("replay", 0)
	var ofRaw, overNaive *float64
	if replay != nil && replay.RatioToRaw > 0 {
		ofRaw = &replay.RatioToRaw
	}
	if replay != nil && replay.RatioToNaive > 0 {
		overNaive = &replay.RatioToNaive
	}
	r.add("replay events/s ÷ raw events/s", fmt.Sprintf(">= %.2f", TargetReplayOfRaw), ofRaw,
		func(v float64) bool { return v >= TargetReplayOfRaw })
	r.add("replay events/s ÷ naive events/s", fmt.Sprintf(">= %.0f", TargetReplayOverNaive), overNaive,
		func(v float64) bool { return v >= TargetReplayOverNaive })
	r.addLive(TargetLiveRate, TargetLiveP99Ms)
	r.addLive(TargetLiveHighRate, TargetLiveHighP99Ms)
	var growth *float64
	if mem := r.stage("memory", 0); mem != nil && mem.Memory.GrowthRatio > 0 {
		growth = &mem.Memory.GrowthRatio
	}
	r.add("replay peak RSS, whole history ÷ its first quarter", fmt.Sprintf("<= %.2f", TargetMemoryGrowth), growth,
		func(v float64) bool { return v <= TargetMemoryGrowth })
	var rss *float64
	if mem := r.stage("memory", 0); mem != nil && mem.Memory.RSSKiB > 0 {
		v := float64(mem.Memory.RSSKiB) / 1024
		rss = &v
	}
	r.add(fmt.Sprintf("replay peak RSS MiB, %d events", r.Params.MemoryEvents), fmt.Sprintf("<= %.0f", TargetMemoryMiB), rss,
		func(v float64) bool { return v <= TargetMemoryMiB })
	var asOf *float64
	if s := r.stage("asof", 0); s != nil && s.AsOf != nil && s.AsOf.WorstRatio > 0 {
		asOf = &s.AsOf.WorstRatio
	}
	r.LiveBreak = r.liveBreak()
	r.add("host list as_of ms ÷ live list ms, worst point of the history", fmt.Sprintf("<= %.0f", TargetAsOfOverLive), asOf,
		func(v float64) bool { return v <= TargetAsOfOverLive })
}

// addLive checks the live p99 at rate against p99Ms: every event applied.
func (r *Report) addLive(rate, p99Ms float64) {
	var p99 *float64
	live := r.stage("live", rate)
	if live != nil && live.Live.Samples > 0 {
		p99 = &live.Live.P99Ms
	}
	r.add(fmt.Sprintf("live p99 ms, publish to KV write, at %.0f events/s, every event applied", rate),
		fmt.Sprintf("< %.0f", p99Ms), p99,
		func(v float64) bool { return v < p99Ms && live.Live.Unapplied == 0 })
}

// liveBreak finds where the live latency breaks among the live stages.
func (r *Report) liveBreak() *LiveBreak {
	var lb *LiveBreak
	rates := slices.Clone(r.Params.LiveRates)
	slices.Sort(rates)
	for _, rate := range rates {
		s := r.stage("live", rate)
		if s == nil || s.Live.Samples == 0 {
			continue
		}
		if lb == nil {
			lb = &LiveBreak{}
		}
		lb.P99Ms, lb.AppliedPerSec, lb.Unapplied = s.Live.P99Ms, s.EventsPerSec, s.Live.Unapplied
		if s.Live.Unapplied > 0 || s.Live.P99Ms > TargetLiveHighP99Ms || s.EventsPerSec < 0.95*rate {
			lb.BrokeAt = rate
			return lb
		}
		lb.HeldUpTo = rate
	}
	return lb
}

func (r *Report) add(name, goal string, v *float64, pass func(float64) bool) {
	t := Target{Name: name, Goal: goal, Measured: v}
	if v != nil {
		t.Pass = pass(*v)
	}
	r.Targets = append(r.Targets, t)
}

// Missing lists the numbers a run should have produced but that are zero:
// a stage that did not run or measured nothing.
func (r *Report) Missing() []string {
	var out []string
	need := func(ok bool, what string) {
		if !ok {
			out = append(out, what)
		}
	}
	need(r.Stream.Events > 0 && r.Stream.Bytes > 0, "stream: no events published")
	for _, name := range []string{"raw", "naive", "replay", "memory", "asof"} {
		s := r.stage(name, 0)
		need(s != nil, name+": stage missing")
		if s == nil {
			continue
		}
		need(s.Events > 0 && s.Seconds > 0 && s.EventsPerSec > 0, name+": no events/s")
		switch name {
		case "replay":
			need(s.KVWrites > 0 && s.KVWritesPerSec > 0, "replay: no KV writes/s")
		case "memory":
			need(s.Memory.RSSKiB > 0 && s.Memory.QuarterRSSKiB > 0 && s.Memory.GrowthRatio > 0, "memory: no peak RSS")
		case "asof":
			need(s.AsOf != nil && s.AsOf.LiveListMs > 0 && s.AsOf.WorstRatio > 0, "asof: no timings")
		}
	}
	for _, rate := range r.Params.LiveRates {
		name := fmt.Sprintf("live at %.0f/s", rate)
		s := r.stage("live", rate)
		need(s != nil, name+": stage missing")
		if s == nil {
			continue
		}
		need(s.EventsPerSec > 0 && s.Live.Samples > 0, name+": no events applied")
		need(s.Live.P50Ms > 0 && s.Live.P99Ms > 0 && s.Live.MaxMs > 0, name+": no latency")
	}
	return out
}

// WriteTable prints the stages and the targets for people.
func (r *Report) WriteTable(w io.Writer) error {
	m, p := r.Machine, r.Params
	ids := "without"
	if p.MsgIDs {
		ids = "with"
	}
	fmt.Fprintf(w, "latticestate bench: %d events (%s, %d hosts, churn %.2f, %d B/event on average, %s Nats-Msg-Id), server %s\n",
		r.Stream.Events, p.Schema, p.Hosts, p.Churn, avg(r.Stream.Bytes, r.Stream.Events), ids, r.Server)
	fmt.Fprintf(w, "%s %s/%s, %d CPUs, GOMAXPROCS %d\n\n", m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tevents\tseconds\tevents/s\tvs raw\tvs naive\t\textra")
	for _, s := range r.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%s\t\t%s\n", stageLabel(s), s.Events, s.Seconds, s.EventsPerSec,
			ratio(s.RatioToRaw, "%.3f"), ratio(s.RatioToNaive, "%.1f"), extra(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Smoke {
		fmt.Fprintln(w, "\ntargets (a smoke run is too small to judge them):")
	} else {
		fmt.Fprintln(w, "\ntargets:")
	}
	defer r.writeLiveBreak(w)
	for _, t := range r.Targets {
		verdict, got := "MISS", "not measured"
		if t.Measured != nil {
			got = fmt.Sprintf("%.3g", *t.Measured)
		}
		if t.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "  %s  %s %s: %s\n", verdict, t.Name, t.Goal, got)
	}
	return nil
}

// writeLiveBreak prints where the live latency broke.
func (r *Report) writeLiveBreak(w io.Writer) {
	lb := r.LiveBreak
	if lb == nil {
		return
	}
	held := "no offered rate"
	if lb.HeldUpTo > 0 {
		held = fmt.Sprintf("up to %.0f events/s", lb.HeldUpTo)
	}
	if lb.BrokeAt == 0 {
		fmt.Fprintf(w, "\nlive latency held (p99 <= %.0f ms, every event applied at the offered rate) %s, every rate offered\n", TargetLiveHighP99Ms, held)
		return
	}
	fmt.Fprintf(w, "\nlive latency held (p99 <= %.0f ms, every event applied at the offered rate) %s; it broke at %.0f events/s: p99 %.0f ms, %.0f applied/s",
		TargetLiveHighP99Ms, held, lb.BrokeAt, lb.P99Ms, lb.AppliedPerSec)
	if lb.Unapplied > 0 {
		fmt.Fprintf(w, ", %d not applied within the settle time", lb.Unapplied)
	}
	fmt.Fprintln(w)
}

func stageLabel(s Stage) string {
	if s.Live != nil {
		return fmt.Sprintf("%s %.0f/s", s.Name, s.Live.OfferedPerSec)
	}
	return s.Name
}

func ratio(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func extra(s Stage) string {
	var parts []string
	if s.CPUPercent > 0 {
		parts = append(parts, fmt.Sprintf("CPU %.0f%%", s.CPUPercent))
	}
	if len(s.PassesPerSec) > 1 {
		rates := make([]string, len(s.PassesPerSec))
		for i, r := range s.PassesPerSec {
			rates[i] = fmt.Sprintf("%.0f", r)
		}
		parts = append(parts, fmt.Sprintf("median of %d passes (%s events/s)", len(rates), strings.Join(rates, ", ")))
	}
	if s.KVWrites > 0 {
		parts = append(parts, fmt.Sprintf("%.0f KV writes/s (%.2f per event)", s.KVWritesPerSec, float64(s.KVWrites)/float64(max(s.Events, 1))))
	}
	if l := s.Live; l != nil {
		parts = append(parts, fmt.Sprintf("published %.0f/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; GC %d cycles, %.2f s CPU",
			l.PublishedPerSec, l.P50Ms, l.P99Ms, l.MaxMs, l.GCCycles, l.GCCPUSeconds))
		if l.Windows > 0 {
			parts = append(parts, fmt.Sprintf("%d windows written", l.Windows))
		}
		if l.Unapplied > 0 {
			parts = append(parts, fmt.Sprintf("%d NOT APPLIED", l.Unapplied))
		}
	}
	if a := s.AsOf; a != nil {
		pts := make([]string, len(a.Points))
		for i, p := range a.Points {
			pts[i] = fmt.Sprintf("seq %d %.1f ms (×%.2f, again %.1f ms, forward %.1f ms)", p.Seq, p.Ms, p.Ratio, p.AgainMs, p.ForwardMs)
		}
		parts = append(parts, fmt.Sprintf("%d hosts: live list %.1f ms; as_of %s; snapshots every %d: %.1f MiB, %.1f%% of the stream's %.1f MiB",
			a.Hosts, a.LiveListMs, strings.Join(pts, ", "), a.Snapshots.Every, float64(a.Snapshots.Bytes)/(1<<20),
			100*a.Snapshots.Share, float64(a.Snapshots.StreamBytes)/(1<<20)))
	}
	if m := s.Memory; m != nil {
		parts = append(parts, fmt.Sprintf("peak RSS %.1f MiB; %.1f MiB at %d events (×%.2f)",
			float64(m.RSSKiB)/1024, float64(m.QuarterRSSKiB)/1024, m.QuarterEvents, m.GrowthRatio))
	}
	return strings.Join(parts, "; ")
}

func avg(total, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return total / n
}
