package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"latticestate/internal/sim"
)

// demoHosts are simulated hosts on their own connection, as real hosts
// would be.
type demoHosts struct {
	nc      *nats.Conn
	lattice *sim.Lattice
	log     *slog.Logger
}

// newDemo connects the demo hosts with the server's credentials, which
// allow them to publish only where the projector's user may.
func (r *running) newDemo() (*demoHosts, error) {
	nc, err := nats.Connect(r.url, append([]nats.Option{nats.Name("latticestate-demo-hosts")}, r.cfg.NATSOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("demo hosts: %w", err)
	}
	lattice, err := sim.New(nc, sim.Config{
		Hosts: r.cfg.DemoHosts, Interval: r.cfg.HeartbeatInterval, Scenario: sim.ScenarioChurn, SilentRatio: 0.2,
		Logger: r.log.With("component", "demo"),
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("demo hosts: %w", err)
	}
	r.log.Info("demo hosts started", "hosts", r.cfg.DemoHosts, "lattice", sim.DefaultLattice)
	return &demoHosts{nc: nc, lattice: lattice, log: r.log}, nil
}

// run runs the hosts until ctx ends, when they publish host_stopped. A
// failure to say goodbye is only logged: the server is stopping anyway.
func (d *demoHosts) run(ctx context.Context) error {
	defer d.nc.Close()
	err := d.lattice.Run(ctx)
	if err != nil && ctx.Err() != nil {
		d.log.Warn("demo hosts", "err", err)
		return nil
	}
	return err
}
