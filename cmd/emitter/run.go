package main

import (
	"context"
	"fmt"
	"io"
	"latticestate/internal/cli"
	"log/slog"

	"github.com/nats-io/nats.go"

	"latticestate/internal/sim"
)

// run connects to NATS and runs the simulated hosts until ctx ends or the
// count is reached.
func run(ctx context.Context, o options, log *slog.Logger) error {
	cfg := sim.Config{
		Hosts: o.hosts, Interval: o.interval, Lattice: o.lattice, Schema: sim.Schema(o.schema),
		Scenario: sim.Scenario(o.scenario), Rate: o.rate, Count: o.count, SilentRatio: o.silentRatio,
		Seed: o.seed, Logger: log,
	}
	if o.hosts <= 0 {
		return usageError(fmt.Errorf("--hosts %d: need at least one host", o.hosts))
	}
	if o.interval <= 0 {
		return usageError(fmt.Errorf("--interval %v: need a positive interval", o.interval))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	sec, err := o.conn.Options()
	if err != nil {
		return usageError(err)
	}
	nc, err := nats.Connect(o.natsURL, append(cli.NATSOptions("latticestate-emitter", log), sec...)...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", o.natsURL, err)
	}
	defer nc.Close()
	lattice, err := sim.New(nc, cfg)
	if err != nil {
		return err
	}
	if err := lattice.Run(ctx); err != nil {
		return err
	}
	if err := nc.Drain(); err != nil {
		return fmt.Errorf("drain NATS connection: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
