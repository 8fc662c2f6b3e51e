package server

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/pipeline"
)

// fixedStatus is a projector's progress as the server asks for it.
type fixedStatus struct {
	st  pipeline.Status
	err error
}

func (f fixedStatus) Status(context.Context) (pipeline.Status, error) { return f.st, f.err }

var _ statusReporter = fixedStatus{}

func TestProjectorSet_Sweeps(t *testing.T) {
	leading := fixedStatus{st: pipeline.Status{Active: true}}
	standby := fixedStatus{st: pipeline.Status{}}
	behind := fixedStatus{st: pipeline.Status{Active: true, Lag: 3}}
	failing := fixedStatus{err: errors.New("last event on >: timeout")}
	tests := []struct {
		name    string
		set     projectorSet
		lattice string
		want    bool
	}{
		{"the projector of every lattice, leading and caught up", projectorSet{"": leading}, "a", true},
		{"the projector of every lattice on standby", projectorSet{"": standby}, "a", false},
		{"catching up", projectorSet{"": behind}, "a", false},
		{"status unknown", projectorSet{"": failing}, "a", false},
		{"the lattice's own projector", projectorSet{"a": leading, "b": standby}, "a", true},
		{"the other lattice's projector is on standby", projectorSet{"a": leading, "b": standby}, "b", false},
		{"a lattice this server does not project", projectorSet{"a": leading}, "c", false},
		{"no projectors", projectorSet{}, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.set.sweeps(context.Background(), tt.lattice))
		})
	}
}

func TestProjectorSet_Lag(t *testing.T) {
	ctx := context.Background()
	lag, err := projectorSet{
		"a": fixedStatus{st: pipeline.Status{Lag: 5}},
		"b": fixedStatus{st: pipeline.Status{Lag: 1}},
	}.Lag(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, lag)
	_, err = projectorSet{"a": fixedStatus{err: errors.New("last event on >: timeout")}}.Lag(ctx)
	require.ErrorContains(t, err, "timeout")
}
