package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
	"latticestate/internal/sim"
)

// options are the emitter's flags.
type options struct {
	natsURL     string
	hosts       int
	interval    time.Duration
	lattice     string
	schema      string
	scenario    string
	rate        float64
	count       int
	silentRatio float64
	seed        uint64
	logLevel    string
	conn        cli.ConnFlags
}

// rootLong is the emitter's help text.
const rootLong = `emitter runs simulated wasmCloud hosts on a NATS lattice, for demos, tests and
load. Each host has a stable id (a server public nkey), a friendly name such as
"wandering-moon-6866", labels (hostcore.arch, hostcore.os, hostcore.osfamily,
region, zone) and an inventory of actors and providers. Hosts publish
CloudEvents 1.0 (JSON) with core NATS, each with the headers Nats-Msg-Id (the
event id) and a W3C traceparent, in the exact shapes of:

  --schema otp   0.5x OTP hosts: every event on wasmbus.evt.<lattice>
  --schema v1    1.x hosts: events on wasmbus.evt.<lattice>.<kind>

On start every host publishes host_started and the events that start its
inventory; on SIGINT or SIGTERM (or after --count events) every host publishes
host_stopped and the emitter exits once the server has them.

Scenarios (--scenario):
  steady   heartbeats only, every --interval per host
  churn    heartbeats plus lifecycle churn: actors and providers started and
           stopped (the next heartbeats agree), health checks passing and
           failing, links set, hosts leaving and new hosts joining

With --rate N the hosts' schedules are replaced by one fixed total rate of N
events per second (heartbeats round-robin across hosts; under churn about one
event in four is a lifecycle event), for load tests.

Each host answers inventory requests on its generation's control subject:
  otp  wasmbus.ctl.<lattice>.get.<host>.inv, reply: the inventory with labels
  v1   wasmbus.ctl.v1.<lattice>.host.get.<host>,
       reply: {"success":true,"message":"","response":<inventory with labels>}
The other generation's subject has no responders, as with real hosts.
--silent-ratio makes that share of hosts never answer (requests time out) and
never send labels.

The same --seed gives the same hosts, names, labels, inventories and churn
choices; event ids and trace ids are always random. Every flag can also be set
in the environment as LATTICESTATE_<FLAG>, e.g. LATTICESTATE_NATS_URL.

` + cli.ConnHelp + `
The user needs to publish wasmbus.evt.>, subscribe to wasmbus.ctl.> and answer
requests (the emitter user in deploy/nats/nats.conf).

Exit status: 0 after a clean shutdown, 1 when NATS fails, 2 on usage errors
(a connection flag's file that cannot be read among them).`

func newRootCmd() *cobra.Command {
	o := options{
		natsURL: "nats://127.0.0.1:4222", hosts: sim.DefaultHosts, interval: sim.DefaultInterval,
		lattice: sim.DefaultLattice, schema: string(sim.SchemaOTP), scenario: string(sim.ScenarioSteady), logLevel: "info",
	}
	cmd := &cobra.Command{
		Use:   "emitter [flags]",
		Short: "Run simulated wasmCloud hosts that publish lattice events to NATS",
		Long:  rootLong,
		Example: `  emitter --hosts 5
  emitter --schema v1 --scenario churn --interval 5s
  emitter --hosts 1000 --rate 5000 --count 100000 --silent-ratio 0.1
  nats sub 'wasmbus.evt.>' & emitter --hosts 2 --interval 2s --seed 42`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError(err)
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       func(cmd *cobra.Command, _ []string) error { return applyEnvOrUsage(cmd) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, o, newLogger(cmd.ErrOrStderr(), o.logLevel))
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	f := cmd.Flags()
	o.conn.Register(f)
	f.StringVar(&o.natsURL, "nats-url", o.natsURL, "NATS server to publish to")
	f.IntVar(&o.hosts, "hosts", o.hosts, "number of simulated hosts")
	f.DurationVar(&o.interval, "interval", o.interval, "heartbeat interval of each host (ignored with --rate)")
	f.StringVar(&o.lattice, "lattice", o.lattice, "lattice name (subject token)")
	f.StringVar(&o.schema, "schema", o.schema, "host generation: otp (0.5x) or v1 (1.x)")
	f.StringVar(&o.scenario, "scenario", o.scenario, "steady (heartbeats only) or churn (lifecycle churn)")
	f.Float64Var(&o.rate, "rate", 0, "total events per second across all hosts; 0 uses --interval per host")
	f.IntVar(&o.count, "count", 0, "stop after this many heartbeat and churn events; 0 runs until SIGINT/SIGTERM")
	f.Float64Var(&o.silentRatio, "silent-ratio", 0, "share of hosts (0..1) that never answer inventory requests nor send labels")
	f.Uint64Var(&o.seed, "seed", 0, "seed for hosts, inventories and churn; 0 picks one (logged)")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "debug, info, warn or error")
	return cmd
}

func applyEnvOrUsage(cmd *cobra.Command) error {
	if err := cli.ApplyEnv(cmd); err != nil {
		return usageError(err)
	}
	return nil
}
