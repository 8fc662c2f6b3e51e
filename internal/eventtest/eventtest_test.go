package eventtest_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
)

func TestHostID(t *testing.T) {
	seen := map[string]int{}
	for i := range 200 {
		id := eventtest.HostID(i)
		require.True(t, nkeys.IsValidPublicServerKey(id), "HostID(%d) = %q", i, id)
		require.Len(t, id, 56)
		require.Equal(t, id, eventtest.HostID(i), "HostID(%d) is not deterministic", i)
		prev, dup := seen[id]
		require.False(t, dup, "HostID(%d) = HostID(%d)", i, prev)
		seen[id] = i
	}
	// Stable across runs and machines: golden files depend on it.
	require.Equal(t, "NCOIHSHILGZPS4SPO6YPNGT6UXQE2HYSIY2QNYBIUY3QRLOGGD5MMYZE", eventtest.HostID(0))
}

func TestLine(t *testing.T) {
	host := eventtest.HostID(1)
	lines := map[string][]byte{
		"com.wasmcloud.lattice.host_heartbeat":      eventtest.HostHeartbeat(host, eventtest.Heartbeat{}),
		"com.wasmcloud.lattice.host_started":        eventtest.HostStarted(host, eventtest.HostInfo{}),
		"com.wasmcloud.lattice.host_stopped":        eventtest.HostStopped(host, nil),
		"com.wasmcloud.lattice.actor_started":       eventtest.ActorStarted(host, "MA"),
		"com.wasmcloud.lattice.actor_stopped":       eventtest.ActorStopped(host, "MA"),
		"com.wasmcloud.lattice.component_scaled":    eventtest.ComponentScaled(host, "c", 2),
		"com.wasmcloud.lattice.provider_started":    eventtest.ProviderStarted(host, eventtest.Provider{ID: "VA"}),
		"com.wasmcloud.lattice.provider_stopped":    eventtest.ProviderStopped(host, eventtest.Provider{ID: "VA"}),
		"com.wasmcloud.lattice.health_check_passed": eventtest.HealthCheck(host, true, eventtest.Provider{ID: "VA"}),
		"com.wasmcloud.lattice.health_check_failed": eventtest.HealthCheck(host, false, eventtest.Provider{ID: "VA"}),
		"com.wasmcloud.lattice.labels_changed":      eventtest.LabelsChanged(host, map[string]string{"a": "b"}),
		"com.wasmcloud.lattice.linkdef_set":         eventtest.LinkdefSet(host, eventtest.Link{ActorID: "MA"}),
		"com.wasmcloud.lattice.linkdef_deleted":     eventtest.LinkdefDeleted(host, eventtest.Link{SourceID: "s"}),
		"com.wasmcloud.lattice.refmap_set":          eventtest.RefmapSet(host, "oci", "MA"),
		"dev.latticestate.host_labels_resolved":     eventtest.HostLabelsResolved(host, nil, "timeout"),
		"dev.latticestate.host_stale":               eventtest.HostStale(host),
		"dev.latticestate.host_expired":             eventtest.HostExpired(host, nil, 7),
		"com.wasmcloud.lattice.config_set":          eventtest.Line("com.wasmcloud.lattice.config_set", host, nil),
	}
	base64Line := eventtest.HostHeartbeat(host, eventtest.Heartbeat{}, eventtest.Base64())
	ids := map[string]bool{}
	for name, line := range lines {
		var env map[string]any
		require.NoError(t, json.Unmarshal(line, &env), name)
		require.Equal(t, "1.0", env["specversion"], name)
		require.Equal(t, eventtest.DefaultTime, env["time"], name)
		require.Contains(t, name, env["type"], name)
		require.NotEmpty(t, env["id"], name)
		require.False(t, ids[env["id"].(string)], "%s: id not distinct", name)
		ids[env["id"].(string)] = true
	}
	require.Equal(t, eventtest.HostHeartbeat(host, eventtest.Heartbeat{}), eventtest.HostHeartbeat(host, eventtest.Heartbeat{}),
		"builders are deterministic")
	var env map[string]any
	require.NoError(t, json.Unmarshal(lines["dev.latticestate.host_stale"], &env))
	require.Equal(t, eventtest.ProjectorSource, env["source"])
	require.Equal(t, map[string]any{"host_id": host}, env["data"])
	env = nil
	require.NoError(t, json.Unmarshal(lines["dev.latticestate.host_expired"], &env))
	require.Equal(t, map[string]any{"host_id": host, "last_seen": nil, "seq": 7.0}, env["data"])

	env = nil
	require.NoError(t, json.Unmarshal(base64Line, &env))
	require.NotContains(t, env, "data")
	raw, err := base64.StdEncoding.DecodeString(env["data_base64"].(string))
	require.NoError(t, err)
	require.True(t, json.Valid(raw))
}

func TestLine_Options(t *testing.T) {
	line := eventtest.Line("t", "s", nil, eventtest.Set("specversion", 1.0), eventtest.Delete("time"), eventtest.Set("id", "x"))
	var env map[string]any
	require.NoError(t, json.Unmarshal(line, &env))
	require.Equal(t, map[string]any{
		"specversion": 1.0, "id": "x", "type": "t", "source": "s", "datacontenttype": "application/json",
	}, env)
}

func TestHostHeartbeat_Shapes(t *testing.T) {
	host := eventtest.HostID(2)
	hb := eventtest.Heartbeat{
		Actors:    map[string]uint64{"MB": 2, "MA": 1, "MZ": 0},
		Providers: []eventtest.Provider{{ID: "VA", LinkName: "default", ContractID: "wasmcloud:httpserver"}, {ID: "http", V1: true}},
	}
	data := func(shape eventtest.Inventory) map[string]any {
		hb.Shape = shape
		var env struct{ Data map[string]any }
		require.NoError(t, json.Unmarshal(eventtest.HostHeartbeat(host, hb), &env))
		return env.Data
	}

	list := data(eventtest.ActorList)["actors"].([]any)
	require.Len(t, list, 3, "one entry per instance, none for a count of 0")
	require.Equal(t, "MA", list[0].(map[string]any)["public_key"])
	require.Equal(t, map[string]any{"MA": 1.0, "MB": 2.0, "MZ": 0.0}, data(eventtest.ActorMap)["actors"])

	d := data(eventtest.Components)
	require.NotContains(t, d, "actors")
	require.Equal(t, host, d["host_id"])
	components := d["components"].([]any)
	require.Len(t, components, 3)
	require.Equal(t, 2.0, components[1].(map[string]any)["max_instances"])
	providers := d["providers"].([]any)
	require.Equal(t, "VA", providers[0].(map[string]any)["public_key"])
	require.Equal(t, "http", providers[1].(map[string]any)["id"])
	require.NotContains(t, providers[1], "link_name")
	require.NotContains(t, d, "labels", "nil labels are left out")
}
