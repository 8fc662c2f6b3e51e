package sim_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/internal/sim"
	"latticestate/projections"
	"latticestate/streams"
)

// TestLattice_Run_EventsDecode runs both generations in both scenarios, paced
// by intervals and by rate, and checks that every event published decodes
// with zero rejections, on its generation's subject, with the headers a
// real host sets; that every host opens with host_started and closes with
// host_stopped; and that every heartbeat agrees with the lifecycle events
// its host published before it.
func TestLattice_Run_EventsDecode(t *testing.T) {
	for _, schema := range []sim.Schema{sim.SchemaOTP, sim.SchemaV1} {
		for _, scenario := range []sim.Scenario{sim.ScenarioSteady, sim.ScenarioChurn} {
			for _, pacing := range []string{"interval", "rate"} {
				t.Run(fmt.Sprintf("%s/%s/%s", schema, scenario, pacing), func(t *testing.T) {
					cfg := sim.Config{Hosts: 6, Schema: schema, Scenario: scenario, SilentRatio: 0.3, Lattice: "sim-test"}
					if pacing == "rate" {
						cfg.Rate, cfg.Count = 5000, 1500
					} else {
						cfg.Interval, cfg.Count = 30*time.Millisecond, 150
					}
					nc, obs := mustConnect(t)
					c := mustCapture(t, obs)
					l := mustStart(t, nc, cfg)
					require.NoError(t, l.wait(t), "Run ends by itself after Count events")
					c.waitFor(t, l.Published())
					evs := c.mustDecodeAll(t)
					for _, e := range evs {
						require.False(t, e.ev.Ignored(), "%s is a kind the projection knows", e.ev.Type)
						require.Equal(t, wantSubject(schema, cfg.Lattice, e.ev.Kind), e.msg.Subject)
						require.Equal(t, e.ev.ID, e.msg.Header.Get(nats.MsgIdHdr))
						require.Regexp(t, traceparentPattern, e.msg.Header.Get(sim.HeaderTraceparent))
					}
					require.Len(t, evs, l.startUpEvents(schema)+cfg.Count+len(l.HostIDs()),
						"start-up, Count events, a host_stopped per host")
					switch {
					case scenario == sim.ScenarioChurn && pacing == "rate":
						// Rate-paced churn is the same on every run: every kind shows.
						requireKinds(t, schema, evs)
					case scenario == sim.ScenarioChurn:
						require.Greater(t, len(evs)-len(of(evs, projections.KindHostHeartbeat, "")),
							l.startUpEvents(schema)+len(l.HostIDs()), "lifecycle events besides start-up and shutdown")
					default:
						require.Len(t, of(evs, projections.KindHostHeartbeat, ""), cfg.Count)
					}
					requireOpenedAndClosed(t, evs)
					requireHeartbeatsAgree(t, evs)
				})
			}
		}
	}
}

func wantSubject(schema sim.Schema, lattice string, kind projections.Kind) string {
	if schema == sim.SchemaV1 {
		return streams.HostEventKindSubject(lattice, string(kind))
	}
	return streams.HostEventSubject(lattice)
}

// requireKinds checks that churn produced every lifecycle kind of schema.
func requireKinds(t *testing.T, schema sim.Schema, evs []event) {
	t.Helper()
	kinds := []projections.Kind{
		projections.KindHostHeartbeat, projections.KindHostStarted, projections.KindHostStopped,
		projections.KindProviderStarted, projections.KindProviderStopped,
		projections.KindHealthCheckPassed, projections.KindHealthCheckFailed, projections.KindLinkdefSet,
	}
	if schema == sim.SchemaV1 {
		kinds = append(kinds, projections.KindComponentScaled)
	} else {
		kinds = append(kinds, projections.KindActorStarted, projections.KindActorStopped)
	}
	seen := map[projections.Kind]int{}
	for _, e := range evs {
		seen[e.ev.Kind]++
	}
	for _, k := range kinds {
		require.Positive(t, seen[k], "churn emitted no %s: %v", k, seen)
	}
	// Hosts left and others joined: more hosts than slots were seen.
	require.Greater(t, len(of(evs, projections.KindHostStarted, "")), 6)
}

// requireOpenedAndClosed checks that each host's first event is host_started
// and its last host_stopped, with nothing after it.
func requireOpenedAndClosed(t *testing.T, evs []event) {
	t.Helper()
	byHost := map[string][]projections.Kind{}
	for _, e := range evs {
		byHost[e.ev.HostID] = append(byHost[e.ev.HostID], e.ev.Kind)
	}
	for id, kinds := range byHost {
		require.Equal(t, projections.KindHostStarted, kinds[0], "first event of %s", id)
		require.Equal(t, projections.KindHostStopped, kinds[len(kinds)-1], "last event of %s", id)
		require.Equal(t, 1, count(kinds, projections.KindHostStarted), "host_started of %s", id)
		require.Equal(t, 1, count(kinds, projections.KindHostStopped), "host_stopped of %s", id)
	}
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// requireHeartbeatsAgree replays each host's lifecycle events and checks that
// every heartbeat lists exactly the actor counts and providers they imply.
func requireHeartbeatsAgree(t *testing.T, evs []event) {
	t.Helper()
	type inventory struct {
		actors    map[string]uint64
		providers map[string]bool
	}
	hosts := map[string]*inventory{}
	for _, e := range evs {
		inv := hosts[e.ev.HostID]
		require.True(t, inv != nil || e.ev.Kind == projections.KindHostStarted, "%s before host_started", e.ev.Kind)
		switch d := e.ev.Data.(type) {
		case *projections.HostInfo:
			if e.ev.Kind == projections.KindHostStarted {
				hosts[e.ev.HostID] = &inventory{actors: map[string]uint64{}, providers: map[string]bool{}}
			}
		case *projections.ActorChange:
			switch e.ev.Kind {
			case projections.KindActorStarted:
				inv.actors[d.ID]++
			case projections.KindActorStopped:
				require.Positive(t, inv.actors[d.ID], "actor_stopped of an actor not running")
				inv.actors[d.ID]--
			case projections.KindComponentScaled:
				inv.actors[d.ID] = d.Count
			}
			if inv.actors[d.ID] == 0 {
				delete(inv.actors, d.ID)
			}
		case *projections.ProviderRef:
			if e.ev.Kind == projections.KindProviderStarted {
				require.False(t, inv.providers[d.Key()], "provider %s started twice", d.Key())
				inv.providers[d.Key()] = true
			} else {
				require.True(t, inv.providers[d.Key()], "provider_stopped of %s not running", d.Key())
				delete(inv.providers, d.Key())
			}
		case *projections.Heartbeat:
			require.Equal(t, inv.actors, d.Actors, "heartbeat actors of %s", e.ev.HostID)
			keys := map[string]bool{}
			for _, p := range d.Providers {
				keys[p.Key()] = true
			}
			require.Equal(t, inv.providers, keys, "heartbeat providers of %s", e.ev.HostID)
		}
	}
}

// TestLattice_Run_Shutdown checks that cancelling Run publishes host_stopped
// for every host, paused ones included, and that Run returns nil.
func TestLattice_Run_Shutdown(t *testing.T) {
	nc, obs := mustConnect(t)
	c := mustCapture(t, obs)
	l := mustStart(t, nc, sim.Config{Hosts: 4, Interval: 20 * time.Millisecond, SilentRatio: 0.5})
	require.NoError(t, l.Pause(l.HostIDs()[0]))
	require.NoError(t, l.stop(t))
	c.waitFor(t, l.Published())
	evs := c.mustDecodeAll(t)
	stopped := of(evs, projections.KindHostStopped, "")
	var ids []string
	for _, e := range stopped {
		ids = append(ids, e.ev.HostID)
	}
	require.ElementsMatch(t, l.HostIDs(), ids)
	for _, e := range stopped {
		info := hostInfo(t, l.Lattice, e.ev.HostID)
		_, hasLabels := dataOf(t, e.msg)["labels"]
		require.Equal(t, !info.Silent, hasLabels, "host_stopped carries labels unless the host is silent")
	}
	requireOpenedAndClosed(t, evs)
	require.ErrorIs(t, l.StartActor(l.HostIDs()[1], "echo"), sim.ErrNotRunning)
	require.ErrorIs(t, l.Run(t.Context()), sim.ErrAlreadyStarted)
}

func hostInfo(tb testing.TB, l *sim.Lattice, id string) sim.HostInfo {
	tb.Helper()
	hosts := l.Hosts()
	i := slices.IndexFunc(hosts, func(h sim.HostInfo) bool { return h.ID == id })
	require.GreaterOrEqual(tb, i, 0, "host %s", id)
	return hosts[i]
}

// TestLattice_Run_RateCount checks that --rate/--count publish exactly Count
// heartbeats, round-robin over the hosts, between start-up and shutdown.
func TestLattice_Run_RateCount(t *testing.T) {
	nc, obs := mustConnect(t)
	c := mustCapture(t, obs)
	l := mustStart(t, nc, sim.Config{Hosts: 3, Rate: 2000, Count: 300})
	require.NoError(t, l.wait(t))
	c.waitFor(t, l.Published())
	evs := c.mustDecodeAll(t)
	require.Len(t, of(evs, projections.KindHostHeartbeat, ""), 300)
	require.Len(t, of(evs, projections.KindHostStarted, ""), 3)
	require.Len(t, of(evs, projections.KindHostStopped, ""), 3)
	for _, id := range l.HostIDs() {
		require.Len(t, of(evs, projections.KindHostHeartbeat, id), 100, "round robin")
	}
}

// TestLattice_SilentHosts checks that silent hosts send no labels in
// host_started and heartbeats, while the others always do.
func TestLattice_SilentHosts(t *testing.T) {
	for _, schema := range []sim.Schema{sim.SchemaOTP, sim.SchemaV1} {
		t.Run(string(schema), func(t *testing.T) {
			nc, obs := mustConnect(t)
			c := mustCapture(t, obs)
			l := mustStart(t, nc, sim.Config{Hosts: 5, Schema: schema, SilentRatio: 0.4, Interval: time.Hour})
			silent := 0
			for _, h := range l.Hosts() {
				require.NoError(t, l.Heartbeat(h.ID))
				if h.Silent {
					silent++
				}
			}
			require.Equal(t, 2, silent, "40%% of 5 hosts")
			natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if n := len(of(c.mustDecodeAll(t), projections.KindHostHeartbeat, "")); n < 5 {
					return fmt.Errorf("%d heartbeats", n)
				}
				return nil
			})
			for _, e := range c.mustDecodeAll(t) {
				if e.ev.Kind != projections.KindHostHeartbeat && e.ev.Kind != projections.KindHostStarted {
					continue
				}
				info := hostInfo(t, l.Lattice, e.ev.HostID)
				labels, ok := dataOf(t, e.msg)["labels"]
				if info.Silent {
					require.False(t, ok, "%s of silent host has labels: %s", e.ev.Kind, e.msg.Data)
					continue
				}
				require.True(t, ok, "%s has labels", e.ev.Kind)
				require.Equal(t, info.Labels, toStringMap(t, labels))
			}
		})
	}
}

func toStringMap(tb testing.TB, v any) map[string]string {
	tb.Helper()
	m, ok := v.(map[string]any)
	require.True(tb, ok, "%v is not a JSON object", v)
	out := map[string]string{}
	for k, s := range m {
		out[k], ok = s.(string)
		require.True(tb, ok, "%s: %v is not a string", k, s)
	}
	return out
}

// TestLattice_OnDemand checks that starting and stopping actors and
// providers on demand publishes the lifecycle event and changes the next
// heartbeat, and the errors for what cannot be done.
func TestLattice_OnDemand(t *testing.T) {
	for _, schema := range []sim.Schema{sim.SchemaOTP, sim.SchemaV1} {
		t.Run(string(schema), func(t *testing.T) {
			nc, obs := mustConnect(t)
			c := mustCapture(t, obs)
			l := mustStart(t, nc, sim.Config{Hosts: 2, Schema: schema, Interval: time.Hour})
			id := l.HostIDs()[1]
			const actor, provider = "MTESTACTOR", "VTESTPROVIDER"

			require.NoError(t, l.StartActor(id, actor))
			require.NoError(t, l.StartActor(id, actor))
			require.NoError(t, l.StartProvider(id, provider))
			require.ErrorIs(t, l.StartProvider(id, provider), sim.ErrAlreadyOnHost)
			hb := nextHeartbeat(t, l, c, id)
			require.Equal(t, uint64(2), hb.Actors[actor])
			require.Contains(t, providerKeys(hb), provider+"/default")
			require.Equal(t, 2, hostInfo(t, l.Lattice, id).Actors[actor])

			require.NoError(t, l.StopActor(id, actor))
			require.NoError(t, l.StopProvider(id, provider))
			hb = nextHeartbeat(t, l, c, id)
			require.Equal(t, uint64(1), hb.Actors[actor])
			require.NotContains(t, providerKeys(hb), provider+"/default")
			require.NoError(t, l.StopActor(id, actor))
			hb = nextHeartbeat(t, l, c, id)
			require.NotContains(t, hb.Actors, actor)

			require.ErrorIs(t, l.StopActor(id, actor), sim.ErrNotOnHost)
			require.ErrorIs(t, l.StopProvider(id, provider), sim.ErrNotOnHost)
			require.ErrorIs(t, l.StartActor("NOSUCHHOST", actor), sim.ErrUnknownHost)
			requireHeartbeatsAgree(t, c.mustDecodeAll(t))
		})
	}
}

// nextHeartbeat asks host id for a heartbeat and returns it decoded.
func nextHeartbeat(t *testing.T, l *running, c *capture, id string) *projections.Heartbeat {
	t.Helper()
	before := len(of(c.mustDecodeAll(t), projections.KindHostHeartbeat, id))
	require.NoError(t, l.Heartbeat(id))
	var hb *projections.Heartbeat
	natstest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		hbs := of(c.mustDecodeAll(t), projections.KindHostHeartbeat, id)
		if len(hbs) <= before {
			return errors.New("no new heartbeat")
		}
		hb = hbs[len(hbs)-1].ev.Data.(*projections.Heartbeat)
		return nil
	})
	return hb
}

func providerKeys(hb *projections.Heartbeat) []string {
	var keys []string
	for _, p := range hb.Providers {
		keys = append(keys, p.Key())
	}
	return keys
}

// TestLattice_PauseResume checks that a paused host goes quiet without
// host_stopped while the others keep heartbeating, and heartbeats again at
// once when resumed.
func TestLattice_PauseResume(t *testing.T) {
	nc, obs := mustConnect(t)
	c := mustCapture(t, obs)
	l := mustStart(t, nc, sim.Config{Hosts: 3, Interval: 20 * time.Millisecond})
	ids := l.HostIDs()
	paused, other := ids[0], ids[1]
	require.NoError(t, l.Pause(paused))
	require.ErrorIs(t, l.Heartbeat(paused), sim.ErrHostPaused)
	require.ErrorIs(t, l.StartActor(paused, "echo"), sim.ErrHostPaused)
	require.True(t, hostInfo(t, l.Lattice, paused).Paused)

	// Events arrive in the order they were published. If the paused host
	// still heartbeated (as often as the other), the other could never get
	// four heartbeats in after the paused host's last event.
	var sincePaused []event
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		evs := c.mustDecodeAll(t)
		last := len(evs) - 1
		for last >= 0 && evs[last].ev.HostID != paused {
			last--
		}
		sincePaused = evs[last+1:]
		if n := len(of(sincePaused, projections.KindHostHeartbeat, other)); n < 4 {
			return fmt.Errorf("%d heartbeats of the other host since the paused host's last event", n)
		}
		return nil
	})

	before := len(c.all())
	require.NoError(t, l.Resume(paused))
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if len(of(c.mustDecodeAll(t)[before:], projections.KindHostHeartbeat, paused)) == 0 {
			return errors.New("no heartbeat since resume")
		}
		return nil
	})
}

// TestNew_Deterministic checks that a seed fixes hosts, names, labels and
// inventories, and that seed 0 picks one.
func TestNew_Deterministic(t *testing.T) {
	nc, _ := mustConnect(t)
	newHosts := func(seed uint64) (*sim.Lattice, []sim.HostInfo) {
		l, err := sim.New(nc, sim.Config{Hosts: 4, Seed: seed, SilentRatio: 0.5})
		require.NoError(t, err)
		return l, l.Hosts()
	}
	_, a := newHosts(42)
	_, b := newHosts(42)
	_, c := newHosts(43)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	for _, h := range a {
		require.Regexp(t, `^[a-z]+-[a-z]+-\d{4}$`, h.FriendlyName)
		require.Subset(t, slices.Collect(maps.Keys(h.Labels)), []string{"hostcore.arch", "hostcore.os", "hostcore.osfamily"})
		require.NotEmpty(t, h.Actors)
		require.NotEmpty(t, h.Providers)
	}
	l, _ := newHosts(0)
	require.NotZero(t, l.Seed())
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  sim.Config
		ok   bool
	}{
		{"zero is defaults", sim.Config{}, true},
		{"negative hosts", sim.Config{Hosts: -1}, false},
		{"negative interval", sim.Config{Interval: -time.Second}, false},
		{"interval below 1ms", sim.Config{Interval: time.Microsecond}, false},
		{"bad lattice", sim.Config{Lattice: "a.b"}, false},
		{"bad schema", sim.Config{Schema: "v2"}, false},
		{"bad scenario", sim.Config{Scenario: "chaos"}, false},
		{"negative rate", sim.Config{Rate: -1}, false},
		{"negative count", sim.Config{Count: -1}, false},
		{"silent ratio above 1", sim.Config{SilentRatio: 1.5}, false},
		{"all silent", sim.Config{SilentRatio: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, sim.ErrInvalidConfig)
			}
		})
	}
	_, err := sim.New(nil, sim.Config{})
	require.ErrorIs(t, err, sim.ErrInvalidConfig)
}
