package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/bench"
	"latticestate/internal/cli"
	"latticestate/internal/embedded"
	"latticestate/internal/sim"
	"latticestate/pipeline"
	"latticestate/streams"
)

// eventBytes is a generous size of one stored event, for the disk check.
const eventBytes = 2048

func runBench(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the projector binary for the memory stage: %w", err)
	}
	natsURL, server, stopServer, err := benchServer(cfg, stderr)
	if err != nil {
		return err
	}
	defer stopServer()
	nc, err := nats.Connect(natsURL, nats.Name("latticestate-bench"))
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s: %w", server, err)
	}
	defer nc.Close()
	js, err := streams.NewJetStream(nc)
	if err != nil {
		return err
	}
	if s, err := js.Stream(ctx, streams.EventsStream); err == nil {
		if info, err := s.Info(ctx); err == nil && info.State.Msgs > 0 {
			return cli.Exit(2, fmt.Errorf("stream %s at %s is not empty (messages: %d): bench writes into it, so run it against a scratch server (leave --nats-url empty for an embedded one)",
				streams.EventsStream, server, info.State.Msgs))
		}
	}
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	if err != nil {
		return err
	}
	b := &benchRun{cfg: cfg, js: js, res: res, stderr: stderr, tty: isTerminal(stderr), exe: exe, natsURL: natsURL}
	b.report = bench.Report{Version: bench.ReportVersion, Started: time.Now().UTC(), Machine: bench.ThisMachine(), Server: server,
		Params: bench.Params{Events: cfg.events, Hosts: cfg.hosts, Schema: cfg.schema, Churn: cfg.churn, Seed: cfg.seed,
			NaiveEvents: min(cfg.naiveEvents, cfg.events), LiveRates: cfg.liveRates, LiveSeconds: cfg.liveDuration.Seconds(),
			MemoryEvents: cfg.memoryEvents, BatchSize: cfg.batchSize, FlushWindow: cfg.flushWindow, Passes: cfg.passes, Smoke: cfg.smoke,
			MsgIDs: cfg.msgIDs}}
	if cfg.cpuProfile != "" || cfg.memProfile != "" {
		b.report.Params.ProfiledStage = cfg.profileStage
	}
	if b.hist, err = sim.NewHistory(sim.Config{Hosts: cfg.hosts, Schema: sim.Schema(cfg.schema), Seed: cfg.seed}, cfg.churn); err != nil {
		return cli.Exit(2, err)
	}
	if !cfg.msgIDs {
		b.hist.OmitMsgIDs()
	}
	if err := b.run(ctx); err != nil {
		return err
	}
	b.report.Compare()
	return b.output(stdout)
}

// benchServer returns the URL to use and how to name it in the report:
// --nats-url, or an embedded server started in --data-dir or a temporary
// directory, with the function that stops it and removes that directory.
func benchServer(cfg benchConfig, stderr io.Writer) (natsURL, name string, stop func(), err error) {
	if cfg.natsURL != "" {
		name = cfg.natsURL
		if u, err := url.Parse(cfg.natsURL); err == nil {
			u.User = nil
			name = u.String()
		}
		return cfg.natsURL, name, func() {}, nil
	}
	dir, remove := cfg.dataDir, func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "latticestate-bench-"); err != nil {
			return "", "", nil, err
		}
		remove = func() { _ = os.RemoveAll(dir) }
	}
	need := uint64(max(cfg.events, cfg.memoryEvents)+2*cfg.naiveEvents) * eventBytes
	if free, err := bench.FreeBytes(dir); err == nil && free < need {
		remove()
		return "", "", nil, fmt.Errorf("%s has %d MiB free, the run needs about %d MiB: choose --data-dir elsewhere or fewer --memory-events",
			dir, free>>20, need>>20)
	}
	syncPolicy, err := embedded.ParseSync(cfg.sync)
	if err != nil {
		remove()
		return "", "", nil, cli.Exit(2, fmt.Errorf("--sync: %w", err))
	}
	srv, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: dir, ServerName: "latticestate-bench", Sync: syncPolicy})
	if err != nil {
		remove()
		return "", "", nil, err
	}
	fmt.Fprintf(stderr, "bench: embedded NATS server at %s storing in %s\n", srv.ClientURL(), dir)
	return srv.ClientURL(), "embedded", func() {
		srv.Shutdown()
		srv.WaitForShutdown()
		remove()
	}, nil
}

// benchRun carries one run's connections and its report.
type benchRun struct {
	cfg     benchConfig
	js      jetstream.JetStream
	res     *streams.Resources
	hist    *sim.History
	stderr  io.Writer
	tty     bool
	exe     string
	natsURL string
	report  bench.Report
	bar     *progress
}

// run runs every stage in order.
func (b *benchRun) run(ctx context.Context) error {
	cfg := b.cfg
	b.logf("publishing %d events of %d %s hosts", cfg.events, cfg.hosts, cfg.schema)
	filled, err := bench.Fill(ctx, b.js, b.hist, cfg.events, b.progress("publishing", cfg.events))
	b.done()
	if err != nil {
		return err
	}
	b.report.Stream = filled
	n := int(filled.LastSeq)

	b.logf("raw: reading %d events with an ordered consumer, %d passes", n, cfg.passes)
	if err := b.stage(bench.Median(cfg.passes, func() (bench.Stage, error) {
		return bench.Raw(ctx, b.res.Events, n, b.progress("raw", n))
	})); err != nil {
		return err
	}
	naive := min(cfg.naiveEvents, n)
	b.logf("naive: get, merge, put and ack %d events one at a time, %d passes", naive, cfg.passes)
	if err := b.stage(bench.Median(cfg.passes, func() (bench.Stage, error) {
		return bench.Naive(ctx, b.js, b.res.Events, naive, b.progress("naive", naive))
	})); err != nil {
		return err
	}
	opts := []pipeline.Option{pipeline.WithBatchSize(cfg.batchSize), pipeline.WithFlushWindow(cfg.flushWindow)}
	b.logf("replay: latticestate's projector, %d events into an empty bucket, %d passes", n, cfg.passes)
	stopProfile, err := b.profile("replay")
	if err != nil {
		return err
	}
	err = b.stage(bench.Median(cfg.passes, func() (bench.Stage, error) {
		return bench.Replay(ctx, b.js, b.res, n, b.progress("replay", n), opts...)
	}))
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if err := b.live(ctx, opts); err != nil {
		return err
	}
	if err := b.memory(ctx); err != nil {
		return err
	}
	return b.asOf(ctx)
}

// asOf times time travel over the whole stream (topped up by memory).
func (b *benchRun) asOf(ctx context.Context) error {
	info, err := b.res.Events.Info(ctx)
	if err != nil {
		return err
	}
	n := info.State.LastSeq
	b.logf("asof: latticestate's projector with snapshots every %d over %d events, then the host list live and as of 3 points, %d requests each",
		b.cfg.snapshotEvery, n, asOfRequests)
	return b.stage(bench.AsOfStage(ctx, b.js, b.res, sim.DefaultLattice, b.cfg.snapshotEvery, asOfRequests, b.progress("asof", int(n))))
}

// asOfRequests is how many times the asof stage asks for each point.
const asOfRequests = 7

// live runs the live stage at each rate, with one projector.
func (b *benchRun) live(ctx context.Context, opts []pipeline.Option) error {
	warmup, err := bench.Generate(b.hist, 1)
	if err != nil {
		return err
	}
	stopProfile, err := b.profile("live")
	if err != nil {
		return err
	}
	// The events are published on a connection of their own, as hosts
	// publish on theirs.
	pub, err := nats.Connect(b.natsURL, nats.Name("latticestate-bench-publisher"))
	if err != nil {
		return errors.Join(fmt.Errorf("connect the live stage's publisher: %w", err), stopProfile())
	}
	defer pub.Close()
	l, err := bench.StartLive(ctx, pub, b.js, b.res, warmup, opts...)
	if err == nil {
		for _, rate := range b.cfg.liveRates {
			// Each rate's events are generated just before it is offered:
			// 30,000/s for 10 s is about 450 MB of messages.
			var msgs *bench.Events
			if msgs, err = bench.Generate(b.hist, int(rate*b.cfg.liveDuration.Seconds())); err != nil {
				break
			}
			b.logf("live: offering %.0f events/s for %v to the running projector", rate, b.cfg.liveDuration)
			settle := max(10*time.Second, b.cfg.liveDuration)
			if err = b.stage(l.Offer(ctx, msgs, rate, settle, b.progress("live", msgs.Len()))); err != nil {
				break
			}
		}
		err = errors.Join(err, l.Stop())
	}
	if err == nil {
		err = b.floor(ctx, pub)
	}
	return errors.Join(err, stopProfile())
}

// floor runs the floor stage, with the projector stopped, at each live
// rate up to the higher target's.
func (b *benchRun) floor(ctx context.Context, pub *nats.Conn) error {
	for _, rate := range b.cfg.liveRates {
		if rate > bench.TargetLiveHighRate {
			continue
		}
		msgs, err := bench.Generate(b.hist, int(rate*b.cfg.liveDuration.Seconds()))
		if err != nil {
			return err
		}
		b.logf("floor: offering %.0f events/s for %v without the projector", rate, b.cfg.liveDuration)
		settle := max(10*time.Second, b.cfg.liveDuration)
		if err := b.stage(bench.Floor(ctx, pub, b.js, b.res, msgs, rate, settle, b.progress("floor", msgs.Len()))); err != nil {
			return err
		}
	}
	return nil
}

// memory tops the stream up to --memory-events and runs `projector
// replay` over all of them and over the first quarter.
func (b *benchRun) memory(ctx context.Context) error {
	total := uint64(b.cfg.memoryEvents)
	info, err := b.res.Events.Info(ctx)
	if err != nil {
		return err
	}
	if have := info.State.LastSeq; have < total {
		b.logf("memory: publishing %d more events, to %d", total-have, total)
		if _, err := bench.Fill(ctx, b.js, b.hist, int(total-have), b.progress("publishing", int(total-have))); err != nil {
			b.done()
			return err
		}
		b.done()
	}
	runs := make([]bench.ChildReplay, 2)
	for i, upTo := range []uint64{total, total / 4} {
		b.logf("memory: %s replay --to-seq %d (a child process)", b.exe, upTo)
		args := []string{"--nats-url", b.natsURL, "--to-seq", strconv.FormatUint(upTo, 10)}
		if runs[i], err = bench.RunChildReplay(ctx, b.exe, args, b.stderr); err != nil {
			return err
		}
	}
	b.report.Stages = append(b.report.Stages, bench.MemoryStage(runs[0], runs[1]))
	return nil
}

// stage records a finished stage.
func (b *benchRun) stage(st bench.Stage, err error) error {
	b.done()
	if err != nil {
		return fmt.Errorf("%s stage: %w", st.Name, err)
	}
	b.report.Stages = append(b.report.Stages, st)
	b.logf("%s: %d events in %.2f s, %.0f events/s", st.Name, st.Events, st.Seconds, st.EventsPerSec)
	return nil
}

// progress shows a bar on a terminal, else a line every 5 s.
func (b *benchRun) progress(what string, total int) bench.Progress {
	b.done()
	b.bar = newProgress(b.stderr, b.tty, what, 0, uint64(total)).logAs("bench: " + what + ": %d of %d (%.0f events/s)\n")
	return b.bar.set
}

// done ends the current progress bar.
func (b *benchRun) done() {
	if b.bar != nil {
		b.bar.finish()
		b.bar = nil
	}
}

func (b *benchRun) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// profile starts the profiles if they cover stage; the function returned
// stops them and writes the heap profile.
func (b *benchRun) profile(stage string) (func() error, error) {
	if b.cfg.profileStage != stage {
		return func() error { return nil }, nil
	}
	var cpu *os.File
	if b.cfg.cpuProfile != "" {
		var err error
		if cpu, err = os.Create(b.cfg.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if b.cfg.memProfile != "" {
			runtime.GC()
			f, err := os.Create(b.cfg.memProfile)
			if err == nil {
				err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}, nil
}

// output prints the report and writes --json; under --smoke it fails when
// a stage produced no number.
func (b *benchRun) output(stdout io.Writer) error {
	js, err := json.MarshalIndent(&b.report, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if b.cfg.jsonFile != "" {
		if err := os.WriteFile(b.cfg.jsonFile, js, 0o644); err != nil {
			return err
		}
	}
	if b.cfg.format == "json" {
		_, err = stdout.Write(js)
	} else {
		err = b.report.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if missing := b.report.Missing(); b.cfg.smoke && len(missing) > 0 {
		return cli.Exit(1, fmt.Errorf("smoke run incomplete: %s", strings.Join(missing, "; ")))
	}
	return nil
}
