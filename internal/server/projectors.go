package server

import (
	"context"

	"latticestate/internal/httpapi"
	"latticestate/pipeline"
)

// statusReporter is what the server asks of a projector about its
// progress.
type statusReporter interface {
	Status(ctx context.Context) (pipeline.Status, error)
}

var _ statusReporter = (*pipeline.Projector)(nil)

// projectorSet holds a server's projectors by the lattice each projects;
// the key "" is the projector of every lattice.
type projectorSet map[string]statusReporter

var _ httpapi.Progress = projectorSet(nil)

// sweeps is the sweeper's activation policy: the hosts of a lattice are
// swept only by the server whose projector for that lattice holds the
// consumer's lease (only it sees their heartbeats) and has caught up (only
// then do their ages say anything). A lattice this server does not
// project is never swept here.
func (ps projectorSet) sweeps(ctx context.Context, lattice string) bool {
	p, ok := ps[lattice]
	if !ok {
		if p, ok = ps[""]; !ok {
			return false
		}
	}
	st, err := p.Status(ctx)
	return err == nil && st.Active && st.CaughtUp()
}

// Lag returns how far the projectors are behind the stream, all together:
// for each, the stream sequences between the last event on its subjects
// and its checkpoint (see pipeline.Status).
func (ps projectorSet) Lag(ctx context.Context) (uint64, error) {
	var total uint64
	for _, p := range ps {
		st, err := p.Status(ctx)
		if err != nil {
			return 0, err
		}
		total += st.Lag
	}
	return total, nil
}
