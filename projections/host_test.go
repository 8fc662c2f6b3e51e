package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

func strp(s string) *string { return &s }

func TestHost_ApplyHeartbeat(t *testing.T) {
	hb := func(mod func(*eventtest.Heartbeat)) []byte {
		h := eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: labelsOS}}
		mod(&h)
		return eventtest.HostHeartbeat(hostA, h)
	}
	rawHeartbeat := func(data map[string]any) []byte {
		return eventtest.Line(eventtest.WasmcloudType+"host_heartbeat", hostA, data)
	}
	httpDefault := eventtest.Provider{ID: provHTTP, LinkName: "default", ContractID: contractHS}

	tests := []struct {
		name   string
		events [][]byte // folded in order; the last one is the heartbeat under test
		actors map[string]projections.Actor
		provs  map[string]projections.Provider
		labels map[string]string
		// intents raised by all the events.
		intents []projections.Intent
	}{
		{
			name: "OTP actor list counts instances",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) {
				h.Shape, h.Actors = eventtest.ActorList, map[string]uint64{actorEcho: 2, actorKV: 1}
			})},
			actors: map[string]projections.Actor{actorEcho: awaiting(2), actorKV: awaiting(1)},
		},
		{
			name: "older OTP actor map gives counts and drops 0",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) {
				h.Shape, h.Actors = eventtest.ActorMap, map[string]uint64{actorEcho: 3, actorKV: 0}
			})},
			actors: map[string]projections.Actor{actorEcho: awaiting(3)},
		},
		{
			name: "1.x components count max_instances and drop 0",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) {
				h.Shape, h.Actors = eventtest.Components, map[string]uint64{"hello_world": 4, "idle": 0}
			})},
			actors: map[string]projections.Actor{"hello_world": awaiting(4)},
		},
		{
			name: "actor status kept from the current entry, new ones Awaiting",
			events: [][]byte{
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: actorEcho}),
				hb(func(h *eventtest.Heartbeat) { h.Actors = map[string]uint64{actorEcho: 2, actorKV: 1} }),
			},
			actors:  map[string]projections.Actor{actorEcho: healthy(2), actorKV: awaiting(1)},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "actors absent from the heartbeat are dropped",
			events: [][]byte{
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.ComponentScaled(hostA, "other", 7),
				hb(func(h *eventtest.Heartbeat) { h.Actors = map[string]uint64{actorKV: 1} }),
			},
			actors:  map[string]projections.Actor{actorKV: awaiting(1)},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "heartbeat count replaces the counted one",
			events: [][]byte{
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.ActorStarted(hostA, actorEcho),
				hb(func(h *eventtest.Heartbeat) { h.Actors = map[string]uint64{actorEcho: 1} }),
			},
			actors:  map[string]projections.Actor{actorEcho: awaiting(1)},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name:   "new providers get the heartbeat's contract_id and Awaiting",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) { h.Providers = []eventtest.Provider{httpDefault} })},
			provs: map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", contractHS, projections.StatusAwaiting),
			},
		},
		{
			name: "existing provider entries are kept as they are",
			events: [][]byte{
				eventtest.ProviderStarted(hostA, eventtest.Provider{ID: provHTTP, ContractID: "wasmcloud:old"}),
				eventtest.HealthCheck(hostA, false, eventtest.Provider{ID: provHTTP}),
				hb(func(h *eventtest.Heartbeat) { h.Providers = []eventtest.Provider{httpDefault} }),
			},
			provs: map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", "wasmcloud:old", projections.StatusUnhealthy),
			},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "providers absent from the heartbeat are dropped",
			events: [][]byte{
				eventtest.ProviderStarted(hostA, eventtest.Provider{ID: provKV, LinkName: "default", ContractID: contractKV}),
				eventtest.ProviderStarted(hostA, eventtest.Provider{ID: provHTTP, LinkName: "backup", ContractID: contractHS}),
				hb(func(h *eventtest.Heartbeat) { h.Providers = []eventtest.Provider{httpDefault} }),
			},
			provs: map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", contractHS, projections.StatusAwaiting),
			},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "providers keyed public_key/link_name",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) {
				h.Providers = []eventtest.Provider{
					httpDefault,
					{ID: provHTTP, LinkName: "backup", ContractID: contractHS},
					{ID: provKV, ContractID: contractKV},
					{ID: "VNOCONTRACT", LinkName: "x"},
				}
			})},
			provs: map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", contractHS, projections.StatusAwaiting),
				provHTTP + "/backup":  provider(provHTTP, "backup", contractHS, projections.StatusAwaiting),
				provKV + "/default":   provider(provKV, "default", contractKV, projections.StatusAwaiting),
				"VNOCONTRACT/x":       provider("VNOCONTRACT", "x", "", projections.StatusAwaiting),
			},
		},
		{
			name: "1.x providers keyed id/default",
			events: [][]byte{hb(func(h *eventtest.Heartbeat) {
				h.Shape = eventtest.Components
				h.Providers = []eventtest.Provider{{ID: "httpserver", V1: true}}
			})},
			provs: map[string]projections.Provider{
				"httpserver/default": provider("httpserver", "default", "", projections.StatusAwaiting),
			},
		},
		{
			name: "null link_name is default, duplicate keys keep the first",
			events: [][]byte{rawHeartbeat(map[string]any{
				"labels": labelsOS,
				"providers": []map[string]any{
					{"public_key": provHTTP, "link_name": nil, "contract_id": contractHS},
					{"public_key": provHTTP, "link_name": "", "contract_id": "wasmcloud:second"},
				},
			})},
			provs: map[string]projections.Provider{
				provHTTP + "/default": provider(provHTTP, "default", contractHS, projections.StatusAwaiting),
			},
		},
		{
			name: "null lists count as empty",
			events: [][]byte{
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.ProviderStarted(hostA, httpDefault),
				rawHeartbeat(map[string]any{"labels": labelsOS, "actors": nil, "providers": nil}),
			},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "null components and absent actors count as empty",
			events: [][]byte{
				eventtest.ComponentScaled(hostA, "c", 3),
				rawHeartbeat(map[string]any{"labels": labelsOS, "components": nil}),
			},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "absent inventory counts as empty",
			events: [][]byte{
				eventtest.ActorStarted(hostA, actorEcho),
				eventtest.ProviderStarted(hostA, httpDefault),
				rawHeartbeat(map[string]any{"labels": labelsOS}),
			},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name: "labels from the heartbeat replace the current ones",
			events: [][]byte{
				eventtest.LabelsChanged(hostA, map[string]string{"zone": "a", "extra": "x"}),
				hb(func(h *eventtest.Heartbeat) { h.Labels = map[string]string{"zone": "b"} }),
			},
			labels: map[string]string{"zone": "b"},
		},
		{
			name: "present but empty labels replace the current ones",
			events: [][]byte{
				eventtest.LabelsChanged(hostA, map[string]string{"zone": "a"}),
				hb(func(h *eventtest.Heartbeat) { h.Labels = map[string]string{} }),
			},
			labels: map[string]string{},
		},
		{
			name: "absent labels keep the current ones without a request",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}),
				hb(func(h *eventtest.Heartbeat) { h.Labels = nil }),
			},
			labels: map[string]string{"zone": "a"},
		},
		{
			name: "null labels keep the current ones",
			events: [][]byte{
				eventtest.LabelsChanged(hostA, map[string]string{"zone": "a"}),
				rawHeartbeat(map[string]any{"labels": nil}),
			},
			labels: map[string]string{"zone": "a"},
		},
		{
			name:    "a host first seen without labels requests them once",
			events:  [][]byte{hb(func(h *eventtest.Heartbeat) { h.Labels = nil }), hb(func(h *eventtest.Heartbeat) { h.Labels = nil })},
			labels:  map[string]string{},
			intents: []projections.Intent{requestLabels(hostA, 1)},
		},
		{
			name:   "a host first seen with labels requests nothing",
			events: [][]byte{hb(func(*eventtest.Heartbeat) {})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t, tt.events...)
			h := mustHost(t, f, hostA)
			if tt.actors == nil {
				tt.actors = map[string]projections.Actor{}
			}
			if tt.provs == nil {
				tt.provs = map[string]projections.Provider{}
			}
			if tt.labels == nil {
				tt.labels = labelsOS
			}
			require.Equal(t, tt.actors, h.Actors)
			require.Equal(t, tt.provs, h.Providers)
			require.Equal(t, tt.labels, h.Labels)
			require.Equal(t, tt.intents, f.Intents)
			require.Equal(t, projections.StatusUp, h.Status)
			require.Equal(t, uint64(len(tt.events)), h.Seq)
		})
	}
}

func TestHost_ApplyHeartbeatDocument(t *testing.T) {
	line := eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "2022-09-30T07:50:58.990859Z"))
	h, intents := mustApplyHost(t, nil, 42, line)
	require.Empty(t, intents)
	require.Equal(t, &projections.Host{
		HostID: hostA, Lattice: testLattice,
		FriendlyName: "wandering-moon-6866", Version: "0.56.0", Labels: labelsOS,
		UptimeSeconds: 6063, UptimeHuman: "1 hour, 41 minutes, 3 seconds",
		Status: projections.StatusUp, LastSeen: strp("2022-09-30T07:50:58.990859Z"),
		Actors: map[string]projections.Actor{actorEcho: awaiting(2)},
		Providers: map[string]projections.Provider{
			provHTTP + "/default": provider(provHTTP, "default", contractHS, projections.StatusAwaiting),
			provKV + "/default":   provider(provKV, "default", contractKV, projections.StatusAwaiting),
		},
		Seq: 42,
	}, h)

	t.Run("descriptive fields come from the next heartbeat", func(t *testing.T) {
		next := fullHeartbeat()
		next.FriendlyName, next.Version, next.UptimeSeconds, next.UptimeHuman = "renamed", "0.57.0", 7000, "later"
		h2, intents := mustApplyHost(t, h, 43, eventtest.HostHeartbeat(hostA, next, eventtest.Set("time", "2022-09-30T07:51:28Z")))
		require.Empty(t, intents)
		require.Equal(t, "renamed", h2.FriendlyName)
		require.Equal(t, "0.57.0", h2.Version)
		require.Equal(t, uint64(7000), h2.UptimeSeconds)
		require.Equal(t, "later", h2.UptimeHuman)
		require.Equal(t, strp("2022-09-30T07:51:28Z"), h2.LastSeen)
		require.Equal(t, uint64(43), h2.Seq)
	})
	t.Run("a heartbeat without time clears last_seen", func(t *testing.T) {
		h2, _ := mustApplyHost(t, h, 43, eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Delete("time")))
		require.Nil(t, h2.LastSeen)
	})
}

func TestHost_ApplyUnknownHost(t *testing.T) {
	// Any host event about an unknown host creates it: empty strings and
	// maps, uptime 0, last_seen null, status up, and a RequestLabels intent
	// unless the event itself carried labels.
	tests := []struct {
		name   string
		line   []byte
		labels map[string]string // nil: none, so labels are requested
	}{
		{"actor_started", eventtest.ActorStarted(hostA, actorEcho), nil},
		{"actor_stopped", eventtest.ActorStopped(hostA, actorEcho), nil},
		{"component_scaled", eventtest.ComponentScaled(hostA, "c", 0), nil},
		{"provider_started", eventtest.ProviderStarted(hostA, eventtest.Provider{ID: provHTTP}), nil},
		{"provider_stopped", eventtest.ProviderStopped(hostA, eventtest.Provider{ID: provHTTP}), nil},
		{"health_check_passed", eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: provHTTP}), nil},
		{"health_check_failed", eventtest.HealthCheck(hostA, false, eventtest.Provider{ID: provHTTP}), nil},
		{"labels_changed", eventtest.LabelsChanged(hostA, map[string]string{"zone": "a"}), map[string]string{"zone": "a"}},
		{"labels_changed to empty", eventtest.LabelsChanged(hostA, map[string]string{}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, intents := mustApplyHost(t, nil, 7, tt.line)
			want := &projections.Host{
				HostID: hostA, Lattice: testLattice, Labels: map[string]string{}, Status: projections.StatusUp,
				Actors: map[string]projections.Actor{}, Providers: map[string]projections.Provider{}, Seq: 7,
			}
			switch tt.name {
			case "actor_started":
				want.Actors[actorEcho] = awaiting(1)
			case "provider_started":
				want.Providers[provHTTP+"/default"] = provider(provHTTP, "default", "", projections.StatusAwaiting)
			}
			if tt.labels != nil {
				want.Labels = tt.labels
				require.Empty(t, intents)
			} else {
				require.Equal(t, []projections.Intent{requestLabels(hostA, 7)}, intents)
			}
			require.Equal(t, want, h)
		})
	}
}

func TestHost_ApplyHostStarted(t *testing.T) {
	info := eventtest.HostInfo{FriendlyName: "floral-forest-3510", Version: "0.82.0", Labels: map[string]string{"hostcore.os": "macos"}}

	t.Run("creates the host with its labels, friendly name and version", func(t *testing.T) {
		h, intents := mustApplyHost(t, nil, 1, eventtest.HostStarted(hostA, info))
		require.Empty(t, intents)
		seen := eventtest.DefaultTime
		require.Equal(t, &projections.Host{
			HostID: hostA, Lattice: testLattice, FriendlyName: "floral-forest-3510", Version: "0.82.0",
			Labels: map[string]string{"hostcore.os": "macos"}, Status: projections.StatusUp, LastSeen: &seen,
			Actors: map[string]projections.Actor{}, Providers: map[string]projections.Provider{}, Seq: 1,
		}, h)
	})
	t.Run("was seen at the event's time", func(t *testing.T) {
		const at = "2026-01-02T03:04:05.123456Z"
		h, _ := mustApplyHost(t, nil, 1, eventtest.HostStarted(hostA, info, eventtest.Set("time", at)))
		require.NotNil(t, h.LastSeen)
		require.Equal(t, at, *h.LastSeen)
	})
	t.Run("without a time, not seen at any", func(t *testing.T) {
		h, _ := mustApplyHost(t, nil, 1, eventtest.HostStarted(hostA, info, eventtest.Delete("time")))
		require.Nil(t, h.LastSeen)
	})
	t.Run("without labels requests them", func(t *testing.T) {
		h, intents := mustApplyHost(t, nil, 1, eventtest.HostStarted(hostA, eventtest.HostInfo{FriendlyName: "x"}))
		require.Equal(t, []projections.Intent{requestLabels(hostA, 1)}, intents)
		require.Equal(t, map[string]string{}, h.Labels)
		require.Equal(t, "x", h.FriendlyName)
	})
	t.Run("a restarted host starts afresh", func(t *testing.T) {
		f := mustFold(t,
			eventtest.HostHeartbeat(hostA, fullHeartbeat()),
			eventtest.HostStale(hostA),
			eventtest.HostStarted(hostA, info, eventtest.Set("time", "2024-03-06T22:00:00Z")),
		)
		h := mustHost(t, f, hostA)
		require.Empty(t, h.Actors)
		require.Empty(t, h.Providers)
		require.Equal(t, "2024-03-06T22:00:00Z", *h.LastSeen)
		require.Equal(t, projections.StatusUp, h.Status)
		require.Equal(t, info.Labels, h.Labels)
		require.Equal(t, uint64(3), h.Seq)
	})
}

func TestHost_ApplyHostStopped(t *testing.T) {
	tests := []struct {
		name string
		line []byte
	}{
		{"OTP", eventtest.HostStopped(hostA, nil)},
		{"1.x with labels", eventtest.HostStopped(hostA, map[string]string{"hostcore.os": "macos"})},
		{"without data", eventtest.Line(eventtest.WasmcloudType+"host_stopped", hostA, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t,
				eventtest.HostHeartbeat(hostA, fullHeartbeat()),
				eventtest.HostHeartbeat(hostB, fullHeartbeat()),
				tt.line,
			)
			require.NotContains(t, f.Lattice.Hosts, hostA)
			require.Contains(t, f.Lattice.Hosts, hostB)

			h, intents := mustApplyHost(t, nil, 1, tt.line)
			require.Nil(t, h, "host_stopped of an unknown host leaves no host")
			require.Empty(t, intents)
		})
	}
}

func TestHost_ApplyLabelsChanged(t *testing.T) {
	f := mustFold(t,
		eventtest.HostHeartbeat(hostA, fullHeartbeat()),
		eventtest.LabelsChanged(hostA, map[string]string{"zone": "eu"}),
	)
	h := mustHost(t, f, hostA)
	require.Equal(t, map[string]string{"zone": "eu"}, h.Labels, "labels are replaced, not merged")
	require.Equal(t, uint64(2), h.Seq)
	require.Len(t, h.Actors, 1, "inventory is untouched")
}

func TestHost_ApplyLabelsResolved(t *testing.T) {
	resolved := map[string]string{"hostcore.os": "linux"}
	noLabels := eventtest.Heartbeat{HostInfo: eventtest.HostInfo{FriendlyName: "silent"}}
	tests := []struct {
		name    string
		events  [][]byte
		labels  map[string]string // nil: no host
		outcome string
	}{
		{
			name:    "no outcome before one is recorded",
			events:  [][]byte{eventtest.HostHeartbeat(hostA, noLabels)},
			labels:  map[string]string{},
			outcome: "",
		},
		{
			name:    "sets labels on a host that has none",
			events:  [][]byte{eventtest.HostHeartbeat(hostA, noLabels), eventtest.HostLabelsResolved(hostA, resolved, "ok")},
			labels:  resolved,
			outcome: "ok",
		},
		{
			name: "never overrides labels that a heartbeat carried",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostHeartbeat(hostA, fullHeartbeat()),
				eventtest.HostLabelsResolved(hostA, resolved, "ok"),
			},
			labels:  labelsOS,
			outcome: "ok",
		},
		{
			name: "kept by later heartbeats without labels",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostLabelsResolved(hostA, resolved, "ok"),
				eventtest.HostHeartbeat(hostA, noLabels),
			},
			labels:  resolved,
			outcome: "ok",
		},
		{
			name: "replaced by a later heartbeat with labels",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostLabelsResolved(hostA, resolved, "ok"),
				eventtest.HostHeartbeat(hostA, fullHeartbeat()),
			},
			labels:  labelsOS,
			outcome: "ok",
		},
		{
			name:    "a timeout without labels records only the outcome",
			events:  [][]byte{eventtest.HostHeartbeat(hostA, noLabels), eventtest.HostLabelsResolved(hostA, nil, "timeout")},
			labels:  map[string]string{},
			outcome: "timeout",
		},
		{
			name:    "an error without labels records only the outcome",
			events:  [][]byte{eventtest.HostHeartbeat(hostA, noLabels), eventtest.HostLabelsResolved(hostA, nil, "error")},
			labels:  map[string]string{},
			outcome: "error",
		},
		{
			name: "the last outcome counts",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostLabelsResolved(hostA, nil, "timeout"),
				eventtest.HostLabelsResolved(hostA, resolved, "ok"),
			},
			labels:  resolved,
			outcome: "ok",
		},
		{
			name: "a restarted host is asked again",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostLabelsResolved(hostA, nil, "timeout"),
				eventtest.HostStarted(hostA, eventtest.HostInfo{}),
			},
			labels:  map[string]string{},
			outcome: "",
		},
		{
			name:   "does not create an unknown host",
			events: [][]byte{eventtest.HostLabelsResolved(hostA, resolved, "ok")},
		},
		{
			name: "does not bring back a stopped host",
			events: [][]byte{
				eventtest.HostHeartbeat(hostA, noLabels),
				eventtest.HostStopped(hostA, nil),
				eventtest.HostLabelsResolved(hostA, resolved, "ok"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFold(t, tt.events...)
			if tt.labels == nil {
				require.NotContains(t, f.Lattice.Hosts, hostA)
				return
			}
			h := mustHost(t, f, hostA)
			require.Equal(t, tt.labels, h.Labels)
			require.Equal(t, tt.outcome, h.LabelsOutcome)
			require.Equal(t, uint64(len(tt.events)), h.Seq)
			b, err := projections.Marshal(h)
			require.NoError(t, err)
			back, err := projections.UnmarshalHost(b)
			require.NoError(t, err)
			require.Equal(t, h, back, "the outcome survives the document's JSON")
			if tt.outcome == "" {
				require.NotContains(t, string(b), "labels_outcome")
			}
		})
	}
	t.Run("raises no intent", func(t *testing.T) {
		h, _ := mustApplyHost(t, nil, 1, eventtest.HostHeartbeat(hostA, noLabels))
		_, intents := mustApplyHost(t, h, 2, eventtest.HostLabelsResolved(hostA, nil, "timeout"))
		require.Empty(t, intents)
	})
}

func TestHost_ApplyHostStale(t *testing.T) {
	t.Run("marks the host stale", func(t *testing.T) {
		f := mustFold(t, eventtest.HostHeartbeat(hostA, fullHeartbeat()), eventtest.HostStale(hostA))
		h := mustHost(t, f, hostA)
		require.Equal(t, projections.StatusStale, h.Status)
		require.Equal(t, uint64(2), h.Seq)
		require.Len(t, h.Actors, 1, "inventory is untouched")
		require.Equal(t, labelsOS, h.Labels)
	})
	t.Run("the next heartbeat makes it up", func(t *testing.T) {
		f := mustFold(t,
			eventtest.HostHeartbeat(hostA, fullHeartbeat()),
			eventtest.HostStale(hostA),
			eventtest.HostHeartbeat(hostA, fullHeartbeat()),
		)
		require.Equal(t, projections.StatusUp, mustHost(t, f, hostA).Status)
	})
	t.Run("other hosts stay up", func(t *testing.T) {
		f := mustFold(t,
			eventtest.HostHeartbeat(hostA, fullHeartbeat()),
			eventtest.HostHeartbeat(hostB, fullHeartbeat()),
			eventtest.HostStale(hostA),
		)
		require.Equal(t, projections.StatusUp, mustHost(t, f, hostB).Status)
	})
	t.Run("does not create an unknown host", func(t *testing.T) {
		h, intents := mustApplyHost(t, nil, 1, eventtest.HostStale(hostA))
		require.Nil(t, h)
		require.Empty(t, intents)
	})
}

func TestHost_ApplyHostExpired(t *testing.T) {
	const t1, t2 = "2024-03-06T21:32:13Z", "2024-03-06T21:32:43Z"
	hb := func(at string) []byte {
		return eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", at))
	}
	tests := []struct {
		name   string
		events [][]byte // the host_expired is the last one
		kept   bool     // hostA is still there, else removed
	}{
		{
			name:   "removes a stale host whose document is the one judged",
			events: [][]byte{hb(t1), eventtest.HostStale(hostA), eventtest.HostExpired(hostA, strp(t1), 2)},
		},
		{
			name:   "removes a host no heartbeat was ever seen of",
			events: [][]byte{eventtest.ActorStarted(hostA, actorEcho), eventtest.HostStale(hostA), eventtest.HostExpired(hostA, nil, 2)},
		},
		{
			name:   "keeps a host that heartbeated after the judgment",
			events: [][]byte{hb(t1), eventtest.HostStale(hostA), hb(t2), eventtest.HostExpired(hostA, strp(t1), 2)},
			kept:   true,
		},
		{
			name: "keeps a host that restarted after the judgment",
			events: [][]byte{hb(t1), eventtest.HostStale(hostA),
				eventtest.HostStarted(hostA, eventtest.HostInfo{Labels: labelsOS}, eventtest.Set("time", t2)),
				eventtest.HostExpired(hostA, strp(t1), 2)},
			kept: true,
		},
		{
			name: "keeps a host with any event applied after the judgment",
			events: [][]byte{hb(t1), eventtest.HostStale(hostA), eventtest.ActorStarted(hostA, actorKV),
				eventtest.HostExpired(hostA, strp(t1), 2)},
			kept: true,
		},
		{
			name:   "keeps a host whose last_seen is not the one judged",
			events: [][]byte{hb(t2), eventtest.HostStale(hostA), eventtest.HostExpired(hostA, strp(t1), 2)},
			kept:   true,
		},
		{
			name:   "keeps a host seen by a heartbeat when judged never seen",
			events: [][]byte{hb(t1), eventtest.HostStale(hostA), eventtest.HostExpired(hostA, nil, 2)},
			kept:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustFold(t, tt.events[:len(tt.events)-1]...)
			want := mustHost(t, before, hostA).Clone()
			f := mustFold(t, append(tt.events, eventtest.HostHeartbeat(hostB, fullHeartbeat()))...)
			require.Contains(t, f.Lattice.Hosts, hostB, "other hosts stay")
			if !tt.kept {
				require.NotContains(t, f.Lattice.Hosts, hostA)
				return
			}
			// Kept as it was: only seq moves, as for every event applied.
			want.Seq = uint64(len(tt.events))
			require.Equal(t, want, mustHost(t, f, hostA))
		})
	}
	t.Run("does not create an unknown host", func(t *testing.T) {
		h, intents := mustApplyHost(t, nil, 1, eventtest.HostExpired(hostA, nil, 0))
		require.Nil(t, h)
		require.Empty(t, intents)
	})
	t.Run("a later event brings the host back as any new host", func(t *testing.T) {
		f := mustFold(t, hb(t1), eventtest.HostStale(hostA), eventtest.HostExpired(hostA, strp(t1), 2),
			eventtest.ActorStarted(hostA, actorKV))
		require.Equal(t, &projections.Host{
			HostID: hostA, Lattice: testLattice, Labels: map[string]string{}, Status: projections.StatusUp,
			Actors: map[string]projections.Actor{actorKV: awaiting(1)}, Providers: map[string]projections.Provider{}, Seq: 4,
		}, mustHost(t, f, hostA))
		require.Equal(t, []projections.Intent{requestLabels(hostA, 4)}, f.Intents[len(f.Intents)-1:],
			"its labels are asked for again")
	})
}

func TestHost_ApplyHostSeq(t *testing.T) {
	// seq is the event's Seq for every host event, including those that
	// change nothing else.
	base, _ := mustApplyHost(t, nil, 1, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	for _, line := range hostEvents() {
		ev := mustDecode(t, line)
		t.Run(string(ev.Kind), func(t *testing.T) {
			ev.Seq, ev.Lattice = 1000, testLattice
			h, _ := projections.ApplyHost(base, &ev)
			if ev.Kind == projections.KindHostStopped {
				require.Nil(t, h)
				return
			}
			require.Equal(t, uint64(1000), h.Seq)
		})
	}
}

// hostEvents is one event of every kind that targets hostA's document.
func hostEvents() [][]byte {
	return [][]byte{
		eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{Actors: map[string]uint64{actorKV: 1}}),
		eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{Shape: eventtest.Components, Actors: map[string]uint64{"c": 3}}),
		eventtest.HostStarted(hostA, eventtest.HostInfo{FriendlyName: "restarted"}),
		eventtest.HostStopped(hostA, nil),
		eventtest.ActorStarted(hostA, actorEcho),
		eventtest.ActorStopped(hostA, actorEcho),
		eventtest.ActorStopped(hostA, "unknown-actor"),
		eventtest.ComponentScaled(hostA, actorEcho, 0),
		eventtest.ComponentScaled(hostA, actorEcho, 9),
		eventtest.ProviderStarted(hostA, eventtest.Provider{ID: "VNEW"}),
		eventtest.ProviderStopped(hostA, eventtest.Provider{ID: provHTTP, LinkName: "default"}),
		eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: provKV}),
		eventtest.HealthCheck(hostA, false, eventtest.Provider{ID: actorEcho}),
		eventtest.LabelsChanged(hostA, map[string]string{"zone": "eu"}),
		eventtest.HostLabelsResolved(hostA, map[string]string{"zone": "us"}, "ok"),
		eventtest.HostStale(hostA),
		// Judged on a document with another last_seen: it stays.
		eventtest.HostExpired(hostA, strp("2000-01-01T00:00:00Z"), 1),
	}
}

func TestHost_ApplyHostCopyOnWrite(t *testing.T) {
	// cur is never modified: every kind of event is applied to the same
	// document and the document must still equal its deep copy.
	cur, _ := mustApplyHost(t, nil, 1, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	cur, _ = mustApplyHost(t, cur, 2, eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: provHTTP}))
	cur, _ = mustApplyHost(t, cur, 3, eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: actorEcho}))
	want := cur.Clone()
	wantJSON := mustMarshal(t, cur)
	for _, line := range hostEvents() {
		ev := mustDecode(t, line)
		t.Run(string(ev.Kind), func(t *testing.T) {
			ev.Seq, ev.Lattice = 99, testLattice
			next, _ := projections.ApplyHost(cur, &ev)
			require.Equal(t, want, cur)
			require.JSONEq(t, string(wantJSON), string(mustMarshal(t, cur)))
			if next != nil {
				require.NotSame(t, cur, next, "a changed document is a new one")
			}
		})
	}
}

func TestHost_ApplyHostIgnoresOtherTargets(t *testing.T) {
	cur, _ := mustApplyHost(t, nil, 1, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	for _, line := range [][]byte{
		eventtest.LinkdefSet(hostA, eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS}),
		eventtest.RefmapSet(hostA, "oci://echo", actorEcho),
		eventtest.Line(eventtest.WasmcloudType+"config_set", "not-a-key", "garbage"),
	} {
		ev := mustDecode(t, line)
		ev.Seq = 2
		h, intents := projections.ApplyHost(cur, &ev)
		require.Same(t, cur, h)
		require.Empty(t, intents)
		require.Equal(t, uint64(1), h.Seq)
	}
}

func TestHost_Clone(t *testing.T) {
	require.Nil(t, (*projections.Host)(nil).Clone())
	h, _ := mustApplyHost(t, nil, 1, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	c := h.Clone()
	require.Equal(t, h, c)
	c.Labels["new"] = "x"
	c.Actors[actorEcho] = projections.Actor{Count: 9}
	c.Providers["x"] = projections.Provider{}
	*c.LastSeen = "changed"
	require.NotContains(t, h.Labels, "new")
	require.Equal(t, awaiting(2), h.Actors[actorEcho])
	require.NotContains(t, h.Providers, "x")
	require.Equal(t, eventtest.DefaultTime, *h.LastSeen)
}

func TestHost_UnmarshalHost(t *testing.T) {
	h, _ := mustApplyHost(t, nil, 5, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	got, err := projections.UnmarshalHost(mustMarshal(t, h))
	require.NoError(t, err)
	require.Equal(t, h, got)

	_, err = projections.UnmarshalHost([]byte(`{"host_id": 5}`))
	require.Error(t, err)
}
