package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

func TestProvider_ApplyHost(t *testing.T) {
	httpDefault := eventtest.Provider{ID: provHTTP, LinkName: "default", ContractID: contractHS}
	httpBackup := eventtest.Provider{ID: provHTTP, LinkName: "backup", ContractID: contractHS}
	started := func(p eventtest.Provider) []byte { return eventtest.ProviderStarted(hostA, p) }
	stopped := func(p eventtest.Provider) []byte { return eventtest.ProviderStopped(hostA, p) }
	check := func(passed bool, p eventtest.Provider) []byte { return eventtest.HealthCheck(hostA, passed, p) }
	const (
		aw = projections.StatusAwaiting
		ok = projections.StatusHealthy
		ko = projections.StatusUnhealthy
	)

	tests := []struct {
		name   string
		events [][]byte
		want   map[string]projections.Provider
	}{
		{"provider_started adds Awaiting", [][]byte{started(httpDefault)},
			map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, aw)}},
		{"missing link_name is default, missing contract_id empty", [][]byte{started(eventtest.Provider{ID: provKV})},
			map[string]projections.Provider{provKV + "/default": provider(provKV, "default", "", aw)}},
		{"null link_name is default", [][]byte{eventtest.Line(eventtest.WasmcloudType+"provider_started", hostA,
			map[string]any{"public_key": provKV, "link_name": nil, "contract_id": contractKV})},
			map[string]projections.Provider{provKV + "/default": provider(provKV, "default", contractKV, aw)}},
		{"1.x provider_id", [][]byte{started(eventtest.Provider{ID: "httpserver", V1: true})},
			map[string]projections.Provider{"httpserver/default": provider("httpserver", "default", "", aw)}},
		{"keyed by link name", [][]byte{started(httpDefault), started(httpBackup)}, map[string]projections.Provider{
			provHTTP + "/default": provider(provHTTP, "default", contractHS, aw),
			provHTTP + "/backup":  provider(provHTTP, "backup", contractHS, aw),
		}},
		{"provider_started keeps an existing entry", [][]byte{
			started(httpDefault), check(true, httpDefault),
			started(eventtest.Provider{ID: provHTTP, ContractID: "wasmcloud:other"}),
		}, map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, ok)}},
		{"provider_stopped removes the entry", [][]byte{started(httpDefault), started(httpBackup), stopped(httpDefault)},
			map[string]projections.Provider{provHTTP + "/backup": provider(provHTTP, "backup", contractHS, aw)}},
		{"provider_stopped without link_name removes default", [][]byte{started(httpDefault), stopped(eventtest.Provider{ID: provHTTP})},
			map[string]projections.Provider{}},
		{"provider_stopped of an unknown provider changes nothing", [][]byte{started(httpDefault), stopped(httpBackup)},
			map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, aw)}},
		{"1.x provider_stopped", [][]byte{
			started(eventtest.Provider{ID: "httpserver", V1: true}), stopped(eventtest.Provider{ID: "httpserver", V1: true}),
		}, map[string]projections.Provider{}},
		{"health_check_passed", [][]byte{started(httpDefault), check(true, httpDefault)},
			map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, ok)}},
		{"health_check_failed", [][]byte{started(httpDefault), check(true, httpDefault), check(false, httpDefault)},
			map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, ko)}},
		{"health check matches the link name", [][]byte{started(httpDefault), started(httpBackup), check(false, httpBackup)},
			map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", contractHS, aw),
				provHTTP + "/backup":  provider(provHTTP, "backup", contractHS, ko),
			}},
		{"1.x health check with provider_id and no link name", [][]byte{
			started(eventtest.Provider{ID: "httpserver", V1: true}), check(false, eventtest.Provider{ID: "httpserver", V1: true}),
		}, map[string]projections.Provider{"httpserver/default": provider("httpserver", "default", "", ko)}},
		{"health check of an unknown provider changes nothing", [][]byte{started(httpDefault), check(false, eventtest.Provider{ID: provKV})},
			map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, aw)}},
		{"status survives a heartbeat", [][]byte{
			started(httpDefault), check(false, httpDefault),
			eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{Providers: []eventtest.Provider{httpDefault}}),
		}, map[string]projections.Provider{provHTTP + "/default": provider(provHTTP, "default", contractHS, ko)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t, tt.events...)
			h := mustHost(t, f, hostA)
			require.Equal(t, tt.want, h.Providers)
			require.Equal(t, uint64(len(tt.events)), h.Seq)
		})
	}

	t.Run("a provider check wins over an actor with the same id", func(t *testing.T) {
		f := mustFold(t,
			eventtest.ActorStarted(hostA, "same"),
			eventtest.ProviderStarted(hostA, eventtest.Provider{ID: "same"}),
			eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: "same"}),
		)
		h := mustHost(t, f, hostA)
		require.Equal(t, ok, h.Providers["same/default"].Status)
		require.Equal(t, aw, h.Actors["same"].Status)
	})
}
