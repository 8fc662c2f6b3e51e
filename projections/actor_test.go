package projections_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

func TestActor_ApplyHost(t *testing.T) {
	start := func(id string) []byte { return eventtest.ActorStarted(hostA, id) }
	stop := func(id string) []byte { return eventtest.ActorStopped(hostA, id) }
	scale := func(id string, n uint64) []byte { return eventtest.ComponentScaled(hostA, id, n) }
	passed := func(id string) []byte { return eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: id}) }
	failed := func(id string) []byte { return eventtest.HealthCheck(hostA, false, eventtest.Provider{ID: id}) }

	tests := []struct {
		name   string
		events [][]byte
		want   map[string]projections.Actor
	}{
		{"actor_started adds 1 Awaiting", [][]byte{start(actorEcho)}, map[string]projections.Actor{actorEcho: awaiting(1)}},
		{"actor_started counts up", [][]byte{start(actorEcho), start(actorEcho), start(actorKV)},
			map[string]projections.Actor{actorEcho: awaiting(2), actorKV: awaiting(1)}},
		{"actor_stopped counts down", [][]byte{start(actorEcho), start(actorEcho), stop(actorEcho)},
			map[string]projections.Actor{actorEcho: awaiting(1)}},
		{"actor_stopped removes the entry at 0", [][]byte{start(actorEcho), start(actorKV), stop(actorEcho)},
			map[string]projections.Actor{actorKV: awaiting(1)}},
		{"actor_stopped of an unknown actor changes nothing", [][]byte{start(actorKV), stop(actorEcho)},
			map[string]projections.Actor{actorKV: awaiting(1)}},
		{"never negative", [][]byte{start(actorEcho), stop(actorEcho), stop(actorEcho), stop(actorEcho), start(actorEcho)},
			map[string]projections.Actor{actorEcho: awaiting(1)}},
		{"actor_started keeps the status", [][]byte{start(actorEcho), passed(actorEcho), start(actorEcho)},
			map[string]projections.Actor{actorEcho: healthy(2)}},
		{"actor_stopped keeps the status", [][]byte{start(actorEcho), start(actorEcho), passed(actorEcho), stop(actorEcho)},
			map[string]projections.Actor{actorEcho: healthy(1)}},
		{"a restarted actor is Awaiting again", [][]byte{start(actorEcho), passed(actorEcho), stop(actorEcho), start(actorEcho)},
			map[string]projections.Actor{actorEcho: awaiting(1)}},
		{"component_scaled sets max_instances", [][]byte{scale("c", 5)}, map[string]projections.Actor{"c": awaiting(5)}},
		{"component_scaled down", [][]byte{scale("c", 5), scale("c", 2)}, map[string]projections.Actor{"c": awaiting(2)}},
		{"component_scaled to 0 removes", [][]byte{scale("c", 5), scale("d", 1), scale("c", 0)},
			map[string]projections.Actor{"d": awaiting(1)}},
		{"component_scaled to 0 of an unknown component changes nothing", [][]byte{scale("d", 1), scale("c", 0)},
			map[string]projections.Actor{"d": awaiting(1)}},
		{"component_scaled keeps the status", [][]byte{scale("c", 1), failed("c"), scale("c", 3)},
			map[string]projections.Actor{"c": {Count: 3, Status: projections.StatusUnhealthy}}},
		{"component_scaled replaces a started count", [][]byte{start("c"), start("c"), start("c"), scale("c", 1)},
			map[string]projections.Actor{"c": awaiting(1)}},
		{"actor_stopped after component_scaled", [][]byte{scale("c", 2), stop("c"), stop("c")}, map[string]projections.Actor{}},
		{"health_check_passed on an actor", [][]byte{start(actorEcho), passed(actorEcho)},
			map[string]projections.Actor{actorEcho: healthy(1)}},
		{"health_check_failed on an actor", [][]byte{start(actorEcho), passed(actorEcho), failed(actorEcho)},
			map[string]projections.Actor{actorEcho: {Count: 1, Status: projections.StatusUnhealthy}}},
		{"health check of an unknown actor changes nothing", [][]byte{start(actorEcho), passed(actorKV)},
			map[string]projections.Actor{actorEcho: awaiting(1)}},
		{"0.8x actor_started with component_id", [][]byte{
			eventtest.Line(eventtest.WasmcloudType+"actor_started", hostA, map[string]any{"component_id": "c", "instance_id": "i"}),
		}, map[string]projections.Actor{"c": awaiting(1)}},
		{"actor_stopped with actor_id", [][]byte{
			start("c"),
			eventtest.Line(eventtest.WasmcloudType+"actor_stopped", hostA, map[string]any{"actor_id": "c"}),
		}, map[string]projections.Actor{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t, tt.events...)
			h := mustHost(t, f, hostA)
			require.Equal(t, tt.want, h.Actors)
			require.Equal(t, uint64(len(tt.events)), h.Seq)
			for id, a := range h.Actors {
				require.Positive(t, a.Count, "actor %s", id)
			}
		})
	}
}

func TestActor_ApplyHostHeartbeatCount(t *testing.T) {
	// A heartbeat's instance counts are kept exactly, however large.
	for _, shape := range []eventtest.Inventory{eventtest.ActorMap, eventtest.Components} {
		f := mustFold(t, eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{
			Shape: shape, Actors: map[string]uint64{"big": math.MaxUint64, "one": 1},
		}))
		require.Equal(t, map[string]projections.Actor{"big": awaiting(math.MaxUint64), "one": awaiting(1)},
			mustHost(t, f, hostA).Actors)
	}
}

// TestActor_ApplyHostCountOverflow demonstrates a bug: instance counts of
// the same component listed twice are summed in a uint64 that wraps, so a
// heartbeat whose counts add up to 2^64 leaves an entry with count 0 (and
// other sums leave a wrong, small count). DESIGN §3: "count = max_instances;
// entries with a count of 0 are dropped"; Heartbeat.Actors is documented as
// "(> 0)".
// A heartbeat whose instance counts add up past 2^64 is rejected as data of
// the wrong shape rather than wrapping to a small or zero count.
func TestActor_ApplyHostCountOverflow(t *testing.T) {
	line := eventtest.Line(eventtest.WasmcloudType+"host_heartbeat", hostA, map[string]any{
		"components": []map[string]any{
			{"id": "c", "max_instances": uint64(math.MaxUint64)},
			{"id": "c", "max_instances": 1},
		},
	})
	_, err := projections.Decode(line)
	require.ErrorIs(t, err, projections.ErrData)
}
