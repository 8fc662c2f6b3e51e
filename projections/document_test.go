package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// Event by event: what Apply does with each event, at each sequence.
func TestDocument_Apply(t *testing.T) {
	link := eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS}
	linkKey := actorEcho + "/" + contractHS + "/default"
	oci := "ghcr.io/wasmcloud/echo:0.3.8"
	type step struct {
		seq     uint64
		line    []byte
		applied bool
		intents int
		check   func(t *testing.T, d *projections.Document)
	}
	hostIs := func(want func(h *projections.Host) bool) func(*testing.T, *projections.Document) {
		return func(t *testing.T, d *projections.Document) {
			require.NotNil(t, d.Host)
			require.True(t, want(d.Host), "host %+v", d.Host)
			require.True(t, d.Live())
		}
	}
	deleted := func(t *testing.T, d *projections.Document) {
		require.False(t, d.Live())
		require.Nil(t, d.Host)
		require.Nil(t, d.Link)
		require.Nil(t, d.Refmap)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"host", []step{
			{5, eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}), true, 1, hostIs(func(h *projections.Host) bool { return h.Seq == 5 })},
			{5, eventtest.HostHeartbeat(hostA, fullHeartbeat()), false, 0, hostIs(func(h *projections.Host) bool { return h.FriendlyName == "" })},
			{3, eventtest.HostStopped(hostA, nil), false, 0, hostIs(func(h *projections.Host) bool { return h.Seq == 5 })},
			{7, eventtest.HostHeartbeat(hostA, fullHeartbeat()), true, 0, hostIs(func(h *projections.Host) bool {
				return h.Seq == 7 && h.FriendlyName == "wandering-moon-6866"
			})},
			{9, eventtest.HostStopped(hostA, nil), true, 0, deleted},
			// A redelivered heartbeat does not bring the host back.
			{7, eventtest.HostHeartbeat(hostA, fullHeartbeat()), false, 0, deleted},
			{10, eventtest.HostStale(hostA), true, 0, deleted},
		}},
		{"link", []step{
			{2, eventtest.LinkdefSet(hostA, link), true, 0, func(t *testing.T, d *projections.Document) {
				require.Equal(t, &projections.LinkDoc{Key: linkKey, Link: &projections.Link{
					ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "default", Values: map[string]string{},
				}, Seq: 2}, d.Link)
			}},
			{4, eventtest.LinkdefDeleted(hostA, link), true, 0, deleted},
			{3, eventtest.LinkdefSet(hostA, link), false, 0, deleted},
		}},
		{"refmap", []step{
			{1, eventtest.RefmapSet(hostA, oci, actorEcho), true, 0, func(t *testing.T, d *projections.Document) {
				require.Equal(t, &projections.RefmapDoc{OCIURL: oci, PublicKey: actorEcho, Seq: 1}, d.Refmap)
			}},
			{6, eventtest.RefmapSet(hostA, oci, actorKV), true, 0, func(t *testing.T, d *projections.Document) {
				require.Equal(t, &projections.RefmapDoc{OCIURL: oci, PublicKey: actorKV, Seq: 6}, d.Refmap)
			}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d projections.Document
			for i, s := range tc.steps {
				ev := mustDecode(t, s.line)
				ev.Seq, ev.Lattice = s.seq, testLattice
				before, prevSeq := d, d.Seq
				intents, applied := d.Apply(&ev)
				require.Equal(t, s.applied, applied, "step %d", i)
				require.Len(t, intents, s.intents, "step %d", i)
				if applied {
					require.Equal(t, s.seq, d.Seq, "step %d", i)
				} else {
					require.Equal(t, before, d, "step %d: a skipped event changes nothing", i)
				}
				require.GreaterOrEqual(t, d.Seq, prevSeq, "step %d", i)
				s.check(t, &d)
			}
		})
	}
}

// Apply copies on write: the documents it replaces are never modified.
func TestDocument_ApplyCopyOnWrite(t *testing.T) {
	var d projections.Document
	ev := mustDecode(t, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
	ev.Seq, ev.Lattice = 1, testLattice
	d.Apply(&ev)
	old := d.Host
	encoded := mustMarshal(t, old)
	ev = mustDecode(t, eventtest.ActorStarted(hostA, actorKV))
	ev.Seq, ev.Lattice = 2, testLattice
	d.Apply(&ev)
	require.NotSame(t, old, d.Host)
	require.Equal(t, string(encoded), string(mustMarshal(t, old)))
}

// Folding a lattice's events document by document equals folding the
// lattice, and applying the events again after a crash at any point (a
// redelivery of everything from the start) changes nothing: the per-document
// seq makes events exactly-once.
func TestDocument_ApplyRedelivered(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lines := drawLines(t, 0, 60)
		folder := projections.NewFolder(testLattice)
		var events []projections.Event
		for i, g := range lines {
			ev, err := projections.Decode(g.line)
			if err != nil || ev.Ignored() {
				continue
			}
			ev.Seq, ev.Lattice = uint64(i+1), testLattice
			events = append(events, ev)
			folder.AddEvent(&ev, ev.Seq)
		}
		crash := rapid.IntRange(0, len(events)).Draw(t, "crash")

		docs := map[projections.Target]*projections.Document{}
		var intents []projections.Intent
		apply := func(evs []projections.Event, record bool) {
			for i := range evs {
				ev := evs[i]
				d := docs[ev.Target()]
				if d == nil {
					d = &projections.Document{}
					docs[ev.Target()] = d
				}
				in, applied := d.Apply(&ev)
				if record {
					intents = append(intents, in...)
				} else {
					require.False(t, applied, "event %d applied twice", ev.Seq)
				}
			}
		}
		apply(events[:crash], true)
		apply(events[:crash], false)
		apply(events[crash:], true)
		apply(events, false)

		got := projections.NewLattice(testLattice)
		for target, d := range docs {
			switch {
			case d.Host != nil:
				got.Hosts[target.Key] = d.Host
			case d.Link != nil:
				got.Links[target.Key] = d.Link.Link
			case d.Refmap != nil:
				got.Refmaps[target.Key] = d.Refmap.PublicKey
			}
		}
		require.Equal(t, string(mustMarshal(t, folder.Lattice)), string(mustMarshal(t, got)))
		require.ElementsMatch(t, folder.Intents, intents)
	})
}
