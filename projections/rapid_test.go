package projections_test

import (
	"bytes"
	"cmp"
	"slices"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// Small pools, so that random events collide on hosts, actors, providers,
// links and refmaps.
var (
	rapidHosts     = []string{eventtest.HostID(1), eventtest.HostID(2), eventtest.HostID(3)}
	rapidActors    = []string{"MA", "MB", "MC"}
	rapidProviders = []string{"VA", "VB"}
	rapidLinkNames = []string{"", "default", "backup"}
	rapidLabels    = []map[string]string{nil, {}, {"zone": "a"}, {"zone": "b", "os": "linux"}}
	rapidTimes     = []string{"2024-01-01T00:00:00Z", "2024-01-01T00:00:30.5Z", "2024-01-01T01:00:00+01:00"}
)

// verdict says what Decode must do with a generated line.
type verdict int

const (
	mustAccept verdict = iota
	mustReject
	eitherWay // random bytes: almost surely rejected, but not certainly
)

type genLine struct {
	line    []byte
	verdict verdict
}

func drawFrom[T any](t *rapid.T, pool []T, label string) T {
	return pool[rapid.IntRange(0, len(pool)-1).Draw(t, label)]
}

func drawProvider(t *rapid.T, label string) eventtest.Provider {
	return eventtest.Provider{
		ID:         drawFrom(t, rapidProviders, label+".id"),
		LinkName:   drawFrom(t, rapidLinkNames, label+".link_name"),
		ContractID: drawFrom(t, []string{"", "wasmcloud:httpserver", "wasmcloud:keyvalue"}, label+".contract_id"),
		V1:         rapid.Bool().Draw(t, label+".v1"),
	}
}

func drawHeartbeat(t *rapid.T) eventtest.Heartbeat {
	hb := eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{
			FriendlyName:  drawFrom(t, []string{"", "wandering-moon-6866", "floral-forest-3510"}, "friendly_name"),
			Version:       drawFrom(t, []string{"0.56.0", "1.0.0"}, "version"),
			UptimeSeconds: rapid.Uint64Range(0, 1<<40).Draw(t, "uptime"),
			Labels:        drawFrom(t, rapidLabels, "labels"),
		},
		Shape:  eventtest.Inventory(rapid.IntRange(0, 2).Draw(t, "shape")),
		Actors: map[string]uint64{},
	}
	for _, id := range rapidActors {
		if rapid.Bool().Draw(t, "has."+id) {
			hb.Actors[id] = rapid.Uint64Range(0, 4).Draw(t, "count."+id)
		}
	}
	for n := rapid.IntRange(0, 3).Draw(t, "providers"); n > 0; n-- {
		hb.Providers = append(hb.Providers, drawProvider(t, "provider"))
	}
	return hb
}

func drawLink(t *rapid.T) eventtest.Link {
	if rapid.Bool().Draw(t, "v1 link") {
		return eventtest.Link{
			SourceID: drawFrom(t, rapidActors, "source"), Target: drawFrom(t, rapidProviders, "target"),
			Name: drawFrom(t, rapidLinkNames, "name"), WitNamespace: "wasi",
			WitPackage: drawFrom(t, []string{"http", "keyvalue"}, "package"), Interfaces: []string{"x"},
		}
	}
	return eventtest.Link{
		ActorID: drawFrom(t, rapidActors, "actor"), ProviderID: drawFrom(t, rapidProviders, "provider"),
		ContractID: drawFrom(t, []string{"wasmcloud:httpserver", "wasmcloud:keyvalue"}, "contract"),
		LinkName:   drawFrom(t, rapidLinkNames, "link_name"), Values: map[string]string{"k": drawFrom(t, []string{"1", "2"}, "value")},
	}
}

// drawValidLine draws a line that Decode accepts, of any kind.
func drawValidLine(t *rapid.T) []byte {
	host := drawFrom(t, rapidHosts, "host")
	actor := drawFrom(t, rapidActors, "actor")
	at := eventtest.Set("time", drawFrom(t, rapidTimes, "time"))
	switch rapid.IntRange(0, 18).Draw(t, "kind") {
	case 0, 1, 2:
		return eventtest.HostHeartbeat(host, drawHeartbeat(t), at)
	case 3:
		return eventtest.HostStarted(host, drawHeartbeat(t).HostInfo, at)
	case 4:
		return eventtest.HostStopped(host, drawFrom(t, rapidLabels, "labels"), at)
	case 5:
		return eventtest.ActorStarted(host, actor, at)
	case 6:
		return eventtest.ActorStopped(host, actor, at)
	case 7:
		return eventtest.ComponentScaled(host, actor, rapid.Uint64Range(0, 3).Draw(t, "max_instances"), at)
	case 8:
		return eventtest.ProviderStarted(host, drawProvider(t, "provider"), at)
	case 9:
		return eventtest.ProviderStopped(host, drawProvider(t, "provider"), at)
	case 10:
		p := drawProvider(t, "provider")
		if rapid.Bool().Draw(t, "actor check") {
			p = eventtest.Provider{ID: actor}
		}
		return eventtest.HealthCheck(host, rapid.Bool().Draw(t, "passed"), p, at)
	case 11:
		labels := drawFrom(t, rapidLabels, "labels")
		if labels == nil {
			labels = map[string]string{}
		}
		return eventtest.LabelsChanged(host, labels, at)
	case 12:
		return eventtest.LinkdefSet(host, drawLink(t), at)
	case 13:
		return eventtest.LinkdefDeleted(host, drawLink(t), at)
	case 14:
		return eventtest.RefmapSet(host, drawFrom(t, []string{"oci/a:1", "oci/b:2"}, "oci"), actor, at)
	case 15:
		outcome := drawFrom(t, []string{"ok", "timeout", "error"}, "outcome")
		return eventtest.HostLabelsResolved(host, drawFrom(t, rapidLabels, "labels"), outcome, at)
	case 16:
		return eventtest.HostStale(host, at)
	case 17:
		var lastSeen *string
		if rapid.Bool().Draw(t, "judged seen") {
			seen := drawFrom(t, rapidTimes, "judged last_seen")
			lastSeen = &seen
		}
		return eventtest.HostExpired(host, lastSeen, rapid.Uint64Range(0, 80).Draw(t, "judged seq"), at)
	default:
		typ := drawFrom(t, []string{"config_set", "health_check_status", "Host_Heartbeat", "component_scale_failed"}, "ignored")
		return eventtest.Line(eventtest.WasmcloudType+typ, drawFrom(t, []string{host, "not a key"}, "source"), map[string]any{"x": 1}, at)
	}
}

// drawLine draws a valid line most of the time, else an invalid one.
func drawLine(t *rapid.T) genLine {
	if rapid.IntRange(0, 9).Draw(t, "invalid") > 0 {
		return genLine{drawValidLine(t), mustAccept}
	}
	valid := drawValidLine(t)
	switch rapid.IntRange(0, 5).Draw(t, "corruption") {
	case 0:
		return genLine{valid[:rapid.IntRange(0, len(valid)-1).Draw(t, "cut")], mustReject}
	case 1:
		return genLine{bytes.Replace(valid, []byte(`{"data":`), []byte(`{"id":"dup","data":`), 1), mustReject}
	case 2:
		return genLine{eventtest.HostHeartbeat("N"+drawFrom(t, []string{".", "*", ">", " "}, "bad char"), drawHeartbeat(t)), mustReject}
	case 3:
		return genLine{eventtest.ActorStarted(drawFrom(t, rapidHosts, "host"), "MA", eventtest.Set("specversion", "0.3")), mustReject}
	case 4:
		return genLine{eventtest.Line(eventtest.WasmcloudType+"host_heartbeat", drawFrom(t, rapidHosts, "host"),
			map[string]any{"labels": map[string]any{"zone": 1}}), mustReject}
	default:
		return genLine{rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "garbage"), eitherWay}
	}
}

func drawLines(t *rapid.T, min, max int) []genLine {
	return rapid.SliceOfN(rapid.Custom(drawLine), min, max).Draw(t, "lines")
}

// foldGen folds lines into f from position first on, checking each verdict
// and that a rejected line changes nothing.
func foldGen(t *rapid.T, f *projections.Folder, first int, lines []genLine) {
	for i, g := range lines {
		before := mustMarshal(t, f.Lattice)
		err := f.Add(uint64(first+i), g.line)
		switch {
		case g.verdict == mustAccept:
			require.NoError(t, err, "%s", g.line)
		case g.verdict == mustReject:
			require.Error(t, err, "%s", g.line)
		}
		if err != nil {
			require.Equal(t, before, mustMarshal(t, f.Lattice), "rejected line changed the state")
		}
	}
}

func TestFolder_AddDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lines := drawLines(t, 0, 60)
		one, two := projections.NewFolder(testLattice), projections.NewFolder(testLattice)
		foldGen(t, one, 1, lines)
		foldGen(t, two, 1, lines)
		require.Equal(t, mustMarshal(t, one.Lattice), mustMarshal(t, two.Lattice))
		require.Equal(t, one.Intents, two.Intents)
		require.Equal(t, one.Ignored, two.Ignored)
	})
}

func TestFolder_AddCountsPositive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := projections.NewFolder(testLattice)
		for i, g := range drawLines(t, 1, 80) {
			foldGen(t, f, i+1, []genLine{g})
			for id, h := range f.Lattice.Hosts {
				for actor, a := range h.Actors {
					require.Positive(t, a.Count, "host %s actor %s after line %d", id, actor, i+1)
					require.NotEmpty(t, a.Status)
				}
				for key, p := range h.Providers {
					require.Equal(t, p.PublicKey+"/"+p.LinkName, key)
				}
				require.NotNil(t, h.Labels)
				require.Contains(t, []string{projections.StatusUp, projections.StatusStale}, h.Status)
			}
		}
	})
}

func TestHost_ApplyHeartbeatInventory(t *testing.T) {
	// After a heartbeat, a host's actors (ids and counts) and provider keys
	// are exactly those of the heartbeat, whatever came before.
	rapid.Check(t, func(t *rapid.T) {
		f := projections.NewFolder(testLattice)
		lines := drawLines(t, 0, 40)
		foldGen(t, f, 1, lines)
		host := drawFrom(t, rapidHosts, "heartbeat host")
		hb := drawHeartbeat(t)
		foldGen(t, f, len(lines)+1, []genLine{{eventtest.HostHeartbeat(host, hb), mustAccept}})

		wantActors := map[string]uint64{}
		for id, n := range hb.Actors {
			if n > 0 {
				wantActors[id] = n
			}
		}
		wantProviders := map[string]bool{}
		for _, p := range hb.Providers {
			wantProviders[p.ID+"/"+cmp.Or(p.LinkName, "default")] = true
		}
		h := f.Lattice.Hosts[host]
		require.NotNil(t, h)
		gotActors := map[string]uint64{}
		for id, a := range h.Actors {
			gotActors[id] = a.Count
		}
		gotProviders := map[string]bool{}
		for key := range h.Providers {
			gotProviders[key] = true
		}
		require.Equal(t, wantActors, gotActors)
		require.Equal(t, wantProviders, gotProviders)
		require.Equal(t, projections.StatusUp, h.Status)
		require.Equal(t, uint64(len(lines)+1), h.Seq)
		if hb.Labels != nil {
			require.Equal(t, hb.Labels, h.Labels)
		}
	})
}

func TestFolder_AddResume(t *testing.T) {
	// Folding a prefix and then the rest equals folding everything, both
	// with the same Folder continued and with one rebuilt from the prefix's
	// documents as the pipeline stores them.
	rapid.Check(t, func(t *rapid.T) {
		lines := drawLines(t, 0, 60)
		k := rapid.IntRange(0, len(lines)).Draw(t, "split")

		all := projections.NewFolder(testLattice)
		foldGen(t, all, 1, lines)

		continued := projections.NewFolder(testLattice)
		foldGen(t, continued, 1, lines[:k])
		rebuilt := &projections.Folder{Lattice: reloadLattice(t, continued.Lattice)}
		foldGen(t, continued, k+1, lines[k:])
		foldGen(t, rebuilt, k+1, lines[k:])

		want := mustMarshal(t, all.Lattice)
		require.Equal(t, string(want), string(mustMarshal(t, continued.Lattice)))
		require.Equal(t, string(want), string(mustMarshal(t, rebuilt.Lattice)))
		require.Equal(t, all.Intents, continued.Intents)
	})
}

// reloadLattice encodes every document of l and decodes it again, as a
// pipeline reading the key-value store would.
func reloadLattice(t *rapid.T, l *projections.Lattice) *projections.Lattice {
	out := projections.NewLattice(l.Name)
	for id, h := range l.Hosts {
		got, err := projections.UnmarshalHost(mustMarshal(t, h))
		require.NoError(t, err)
		out.Hosts[id] = got
	}
	for key, link := range l.Links {
		var got projections.Link
		require.NoError(t, json.Unmarshal(mustMarshal(t, link), &got))
		out.Links[key] = &got
	}
	for key, pk := range l.Refmaps {
		out.Refmaps[key] = pk
	}
	return out
}

func TestLattice_ApplyBatched(t *testing.T) {
	// A pipeline groups a batch by target document and folds each document
	// once with ApplyHost, ApplyLink or ApplyRefmap; that equals applying
	// the events one by one with Apply.
	rapid.Check(t, func(t *rapid.T) {
		lines := drawLines(t, 0, 80)
		decode := func() []projections.Event {
			var evs []projections.Event
			for i, g := range lines {
				ev, err := projections.Decode(g.line)
				if err != nil || ev.Ignored() {
					continue
				}
				ev.Seq, ev.Lattice = uint64(i+1), testLattice
				evs = append(evs, ev)
			}
			return evs
		}

		seq := projections.NewLattice(testLattice)
		var seqIntents []projections.Intent
		for _, ev := range decode() {
			var in []projections.Intent
			seq, in = projections.Apply(seq, &ev)
			seqIntents = append(seqIntents, in...)
		}

		batched := projections.NewLattice(testLattice)
		var batchIntents []projections.Intent
		evs := decode()
		for len(evs) > 0 {
			n := rapid.IntRange(1, len(evs)).Draw(t, "batch size")
			batchIntents = append(batchIntents, applyBatch(batched, evs[:n])...)
			evs = evs[n:]
		}

		require.Equal(t, string(mustMarshal(t, seq)), string(mustMarshal(t, batched)))
		sortIntents(seqIntents)
		sortIntents(batchIntents)
		require.Equal(t, seqIntents, batchIntents)
	})
}

// applyBatch folds batch into l the way the pipeline does: grouped by
// target document, each document read once, folded in event order and
// written once.
func applyBatch(l *projections.Lattice, batch []projections.Event) []projections.Intent {
	var order []projections.Target
	groups := map[projections.Target][]*projections.Event{}
	for i := range batch {
		tg := batch[i].Target()
		if _, ok := groups[tg]; !ok {
			order = append(order, tg)
		}
		groups[tg] = append(groups[tg], &batch[i])
	}
	var intents []projections.Intent
	for _, tg := range order {
		switch tg.Kind {
		case projections.TargetHost:
			doc := l.Hosts[tg.Key]
			for _, ev := range groups[tg] {
				var in []projections.Intent
				doc, in = projections.ApplyHost(doc, ev)
				intents = append(intents, in...)
			}
			if doc == nil {
				delete(l.Hosts, tg.Key)
			} else {
				l.Hosts[tg.Key] = doc
			}
		case projections.TargetLink:
			doc := l.Links[tg.Key]
			for _, ev := range groups[tg] {
				doc = projections.ApplyLink(doc, ev)
			}
			if doc == nil {
				delete(l.Links, tg.Key)
			} else {
				l.Links[tg.Key] = doc
			}
		case projections.TargetRefmap:
			doc := l.Refmaps[tg.Key]
			for _, ev := range groups[tg] {
				doc = projections.ApplyRefmap(doc, ev)
			}
			l.Refmaps[tg.Key] = doc
		}
	}
	return intents
}

func sortIntents(in []projections.Intent) {
	slices.SortStableFunc(in, func(a, b projections.Intent) int {
		return cmp.Or(cmp.Compare(a.HostID, b.HostID), cmp.Compare(a.Lattice, b.Lattice), cmp.Compare(a.Kind, b.Kind))
	})
}
