package sim_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/projections"
)

// freeForm names objects whose keys are data, not schema: they must be
// string maps, with any keys.
var freeForm = map[string]bool{"labels": true, "annotations": true, "values": true}

// shapeDiff compares got with want as JSON shapes: the same set of keys in
// every object (free-form maps: string values), the same JSON type for every
// value, every array element shaped as want's first. It returns the
// differences, with their paths.
func shapeDiff(path string, want, got any) []string {
	if typeOf(want) != typeOf(got) {
		return []string{fmt.Sprintf("%s: %s, want %s", path, typeOf(got), typeOf(want))}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		name := path[strings.LastIndexByte(path, '.')+1:]
		if freeForm[name] {
			for k, v := range g {
				if _, ok := v.(string); !ok {
					diffs = append(diffs, fmt.Sprintf("%s.%s: %s, want string", path, k, typeOf(v)))
				}
			}
			return diffs
		}
		if wk, gk := sortedKeys(w), sortedKeys(g); !slices.Equal(wk, gk) {
			return []string{fmt.Sprintf("%s: keys %v, want %v", path, gk, wk)}
		}
		for k := range w {
			diffs = append(diffs, shapeDiff(path+"."+k, w[k], g[k])...)
		}
	case []any:
		if len(w) == 0 {
			return nil
		}
		for i, e := range got.([]any) {
			diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[0], e)...)
		}
	}
	return diffs
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestShapeDiff(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		diffs     int
	}{
		{"same", `{"a":1,"b":[{"c":"x"}]}`, `{"b":[{"c":"y"},{"c":"z"}],"a":2}`, 0},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, 1},
		{"extra key", `{"a":1}`, `{"a":1,"b":2}`, 1},
		{"wrong type", `{"a":1}`, `{"a":"1"}`, 1},
		{"nested element", `{"b":[{"c":"x"}]}`, `{"b":[{"c":"x"},{"d":"x"}]}`, 1},
		{"labels are free-form", `{"labels":{"a":"x"}}`, `{"labels":{"b":"y","c":"z"}}`, 0},
		{"labels are strings", `{"labels":{"a":"x"}}`, `{"labels":{"a":1}}`, 1},
		{"null is a type", `{"tags":null}`, `{"tags":[]}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got any
			require.NoError(t, json.Unmarshal([]byte(tt.want), &want))
			require.NoError(t, json.Unmarshal([]byte(tt.got), &got))
			require.Len(t, shapeDiff("$", want, got), tt.diffs, "%v", shapeDiff("$", want, got))
		})
	}
}

// TestLattice_Heartbeat_MatchesFixtures checks the whole heartbeat event of
// each generation against the captured one: OTP against
// otp_heartbeat_full.json, 1.x against v1_samples.jsonl's heartbeat.
func TestLattice_Heartbeat_MatchesFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/otp_heartbeat_full.json")
	require.NoError(t, err)
	var otpFixture map[string]any
	require.NoError(t, json.Unmarshal(b, &otpFixture))
	v1Fixture := fixtureOf(t, "v1_samples.jsonl", projections.KindHostHeartbeat)
	for _, tt := range []struct {
		schema  sim.Schema
		fixture map[string]any
	}{{sim.SchemaOTP, otpFixture}, {sim.SchemaV1, v1Fixture}} {
		t.Run(string(tt.schema), func(t *testing.T) {
			nc, obs := mustConnect(t)
			c := mustCapture(t, obs)
			l := mustStart(t, nc, sim.Config{Hosts: 3, Interval: time.Hour, Schema: tt.schema})
			for _, id := range l.HostIDs() {
				require.NoError(t, l.Heartbeat(id))
			}
			natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if n := len(of(c.mustDecodeAll(t), projections.KindHostHeartbeat, "")); n < 3 {
					return fmt.Errorf("%d heartbeats", n)
				}
				return nil
			})
			for _, e := range of(c.mustDecodeAll(t), projections.KindHostHeartbeat, "") {
				var got map[string]any
				require.NoError(t, json.Unmarshal(e.msg.Data, &got))
				data := got["data"].(map[string]any)
				require.NotEmpty(t, data[inventoryList(tt.schema)], "a heartbeat with actors, to compare their shape")
				require.NotEmpty(t, data["providers"])
				require.Empty(t, shapeDiff("$", tt.fixture, got), "%s", e.msg.Data)
				require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, got["time"])
			}
		})
	}
}

func inventoryList(s sim.Schema) string {
	if s == sim.SchemaV1 {
		return "components"
	}
	return "actors"
}

// fixtureOf returns the first event of kind in a testdata JSON-lines file.
func fixtureOf(tb testing.TB, file string, kind projections.Kind) map[string]any {
	tb.Helper()
	for _, v := range mustReadJSONLines(tb, file) {
		if v["type"] == projections.TypeOf(kind) {
			return v
		}
	}
	tb.Fatalf("no %s in %s", kind, file)
	return nil
}

// TestLattice_LifecycleEvents_MatchFixtures checks every lifecycle event
// that a churn run emits against the fixture event of the same kind and
// generation, where the fixtures have one.
func TestLattice_LifecycleEvents_MatchFixtures(t *testing.T) {
	for _, tt := range []struct {
		schema sim.Schema
		file   string
		kinds  []projections.Kind // the fixture's kinds that the simulation emits
	}{
		{sim.SchemaOTP, "otp_sequence.jsonl", []projections.Kind{
			projections.KindHostHeartbeat, projections.KindActorStarted, projections.KindActorStopped,
			projections.KindProviderStarted, projections.KindHealthCheckPassed, projections.KindHealthCheckFailed,
			projections.KindLinkdefSet,
		}},
		{sim.SchemaV1, "v1_samples.jsonl", []projections.Kind{
			projections.KindHostStarted, projections.KindHostHeartbeat, projections.KindComponentScaled,
			projections.KindProviderStarted, projections.KindHealthCheckFailed, projections.KindHostStopped,
		}},
	} {
		t.Run(string(tt.schema), func(t *testing.T) {
			fixtures := map[string]map[string]any{}
			for _, v := range mustReadJSONLines(t, tt.file) {
				if _, ok := fixtures[v["type"].(string)]; !ok {
					fixtures[v["type"].(string)] = v
				}
			}
			nc, obs := mustConnect(t)
			c := mustCapture(t, obs)
			l := mustStart(t, nc, sim.Config{Hosts: 4, Schema: tt.schema, Scenario: sim.ScenarioChurn, Rate: 5000, Count: 1500})
			require.NoError(t, l.wait(t))
			c.waitFor(t, l.Published())
			compared := map[projections.Kind]int{}
			for _, m := range c.all() {
				var got map[string]any
				require.NoError(t, json.Unmarshal(m.Data, &got))
				typ := got["type"].(string)
				want, ok := fixtures[typ]
				if !ok {
					continue
				}
				require.Empty(t, shapeDiff("$", want, got), "%s", m.Data)
				compared[projections.Kind(strings.TrimPrefix(typ, projections.WasmcloudTypePrefix))]++
			}
			for _, k := range tt.kinds {
				require.Positive(t, compared[k], "no %s emitted to compare with %s: %v", k, tt.file, compared)
			}
		})
	}
}
