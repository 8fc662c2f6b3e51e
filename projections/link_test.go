package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

func TestLink_ApplyLink(t *testing.T) {
	otp := eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "default", Values: map[string]string{"PORT": "8080"}}
	otpKey := actorEcho + "/" + contractHS + "/default"
	otpLink := &projections.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "default", Values: map[string]string{"PORT": "8080"}}
	v1 := eventtest.Link{SourceID: "http-component", Target: "kvredis", Name: "default", WitNamespace: "wasi", WitPackage: "keyvalue", Interfaces: []string{"atomics", "store"}}
	v1Key := "http-component/wasi:keyvalue/default"
	v1Link := &projections.Link{
		SourceID: "http-component", Target: "kvredis", Name: "default", WitNamespace: "wasi", WitPackage: "keyvalue",
		Interfaces: []string{"atomics", "store"}, SourceConfig: []string{}, TargetConfig: []string{},
	}
	set := func(l eventtest.Link) []byte { return eventtest.LinkdefSet(hostA, l) }
	del := func(l eventtest.Link) []byte { return eventtest.LinkdefDeleted(hostA, l) }

	tests := []struct {
		name   string
		events [][]byte
		want   map[string]*projections.Link
	}{
		{"OTP linkdef_set keyed actor_id/contract_id/link_name", [][]byte{set(otp)}, map[string]*projections.Link{otpKey: otpLink}},
		{"OTP missing link_name is default, missing values empty", [][]byte{set(eventtest.Link{ActorID: actorEcho, ProviderID: provKV, ContractID: contractKV})},
			map[string]*projections.Link{actorEcho + "/" + contractKV + "/default": {
				ActorID: actorEcho, ProviderID: provKV, ContractID: contractKV, LinkName: "default", Values: map[string]string{},
			}}},
		{"OTP link names are distinct links", [][]byte{set(otp), set(eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "admin"})},
			map[string]*projections.Link{otpKey: otpLink, actorEcho + "/" + contractHS + "/admin": {
				ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "admin", Values: map[string]string{},
			}}},
		{"linkdef_set replaces the link", [][]byte{set(eventtest.Link{ActorID: actorEcho, ProviderID: "VOLD", ContractID: contractHS}), set(otp)},
			map[string]*projections.Link{otpKey: otpLink}},
		{"OTP linkdef_deleted removes it", [][]byte{set(otp), del(eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "default"})},
			map[string]*projections.Link{}},
		{"linkdef_deleted of an unknown link changes nothing", [][]byte{set(otp), del(eventtest.Link{ActorID: actorKV, ContractID: contractHS})},
			map[string]*projections.Link{otpKey: otpLink}},
		{"1.x linkdef_set keyed source_id/wit_namespace:wit_package/name", [][]byte{set(v1)}, map[string]*projections.Link{v1Key: v1Link}},
		{"1.x missing name is default", [][]byte{set(eventtest.Link{SourceID: "s", Target: "t", WitNamespace: "wasi", WitPackage: "http"})},
			map[string]*projections.Link{"s/wasi:http/default": {
				SourceID: "s", Target: "t", Name: "default", WitNamespace: "wasi", WitPackage: "http",
				Interfaces: []string{}, SourceConfig: []string{}, TargetConfig: []string{},
			}}},
		{"1.x linkdef_deleted removes it", [][]byte{set(v1), set(otp), del(eventtest.Link{SourceID: "http-component", WitNamespace: "wasi", WitPackage: "keyvalue"})},
			map[string]*projections.Link{otpKey: otpLink}},
		{"links do not create hosts", [][]byte{set(otp), set(v1), del(v1)}, map[string]*projections.Link{otpKey: otpLink}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t, tt.events...)
			require.Equal(t, tt.want, f.Lattice.Links)
			require.Empty(t, f.Lattice.Hosts)
			require.Empty(t, f.Intents)
		})
	}

	t.Run("encodes only its own generation's members", func(t *testing.T) {
		f := mustFold(t, set(otp), set(v1))
		require.JSONEq(t, `{
			"actor_id": "`+actorEcho+`", "provider_id": "`+provHTTP+`", "contract_id": "wasmcloud:httpserver",
			"link_name": "default", "values": {"PORT": "8080"}}`, string(mustMarshal(t, f.Lattice.Links[otpKey])))
		require.JSONEq(t, `{
			"source_id": "http-component", "target": "kvredis", "name": "default", "wit_namespace": "wasi",
			"wit_package": "keyvalue", "interfaces": ["atomics", "store"], "source_config": [], "target_config": []}`,
			string(mustMarshal(t, f.Lattice.Links[v1Key])))
	})
	t.Run("cur is not modified and other events leave it", func(t *testing.T) {
		cur := &projections.Link{ActorID: "x", Values: map[string]string{"a": "b"}}
		want := *cur
		ev := mustDecode(t, set(otp))
		require.Equal(t, otpLink, projections.ApplyLink(cur, &ev))
		require.Equal(t, &want, cur)
		ev = mustDecode(t, del(otp))
		require.Nil(t, projections.ApplyLink(cur, &ev))
		require.Equal(t, &want, cur)
		for _, line := range [][]byte{eventtest.ActorStarted(hostA, actorEcho), eventtest.RefmapSet(hostA, "oci", "k")} {
			ev := mustDecode(t, line)
			require.Same(t, cur, projections.ApplyLink(cur, &ev))
		}
	})
}

func TestRefmap_ApplyRefmap(t *testing.T) {
	t.Run("maps the OCI reference to the public key", func(t *testing.T) {
		f := mustFold(t,
			eventtest.RefmapSet(hostA, "wasmcloud.azurecr.io/echo:0.3.4", actorEcho),
			eventtest.RefmapSet(hostB, "wasmcloud.azurecr.io/kv:0.1.0", actorKV),
			eventtest.RefmapSet(hostB, "wasmcloud.azurecr.io/echo:0.3.4", "MNEWER"),
		)
		require.Equal(t, map[string]string{
			"wasmcloud.azurecr.io/echo:0.3.4": "MNEWER",
			"wasmcloud.azurecr.io/kv:0.1.0":   actorKV,
		}, f.Lattice.Refmaps)
		require.Empty(t, f.Lattice.Hosts)
		require.Empty(t, f.Intents)
	})
	t.Run("other events leave the entry", func(t *testing.T) {
		ev := mustDecode(t, eventtest.ActorStarted(hostA, actorEcho))
		require.Equal(t, "cur", projections.ApplyRefmap("cur", &ev))
		ev = mustDecode(t, eventtest.RefmapSet(hostA, "oci", "new"))
		require.Equal(t, "new", projections.ApplyRefmap("cur", &ev))
	})
}

func TestEvent_Target(t *testing.T) {
	tests := []struct {
		line []byte
		want projections.Target
	}{
		{eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}), projections.Target{Kind: projections.TargetHost, Key: hostA}},
		{eventtest.ActorStarted(hostB, actorEcho), projections.Target{Kind: projections.TargetHost, Key: hostB}},
		{eventtest.HostStopped(hostA, nil), projections.Target{Kind: projections.TargetHost, Key: hostA}},
		{eventtest.HostStale(hostB), projections.Target{Kind: projections.TargetHost, Key: hostB}},
		{eventtest.HostLabelsResolved(hostB, nil, "error"), projections.Target{Kind: projections.TargetHost, Key: hostB}},
		{eventtest.LinkdefSet(hostA, eventtest.Link{ActorID: "a", ContractID: "c"}), projections.Target{Kind: projections.TargetLink, Key: "a/c/default"}},
		{eventtest.LinkdefDeleted(hostA, eventtest.Link{SourceID: "s", WitNamespace: "n", WitPackage: "p", Name: "x"}), projections.Target{Kind: projections.TargetLink, Key: "s/n:p/x"}},
		{eventtest.RefmapSet(hostA, "oci://x", "k"), projections.Target{Kind: projections.TargetRefmap, Key: "oci://x"}},
		{eventtest.Line(eventtest.WasmcloudType+"config_set", hostA, nil), projections.Target{}},
	}
	for _, tt := range tests {
		ev := mustDecode(t, tt.line)
		t.Run(ev.Type, func(t *testing.T) {
			require.Equal(t, tt.want, ev.Target())
		})
	}
}
