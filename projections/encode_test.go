package projections_test

import (
	"maps"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// drawText draws names and values of every kind: ASCII, characters that
// JSON escapes, other Unicode and, now and then, invalid UTF-8.
func drawText(t *rapid.T, label string) string {
	return rapid.OneOf(
		rapid.StringMatching(`[a-z0-9._-]{0,12}`),
		rapid.String(),
		rapid.SampledFrom([]string{"", "<&>", "\"\\\n\t\u2028", "\x00\x1f", "é", "\xff", "a\xc3"}),
	).Draw(t, label)
}

func drawTextMap[V any](t *rapid.T, label string, value *rapid.Generator[V]) map[string]V {
	if rapid.Bool().Draw(t, label+" nil") {
		return nil
	}
	return rapid.MapOfN(rapid.Custom(func(t *rapid.T) string { return drawText(t, "key") }), value, 0, 6).Draw(t, label)
}

// referenceHost is Host without its MarshalJSON: encoding/json/v2 encodes
// it by reflection over the same fields and tags, as Marshal encoded hosts
// before AppendHost was their one encoder.
type referenceHost projections.Host

// drawHost draws a host document with text of every kind in every string.
func drawHost(t *rapid.T) *projections.Host {
	text := rapid.Custom(func(t *rapid.T) string { return drawText(t, "text") })
	h := &projections.Host{
		HostID:        drawText(t, "host_id"),
		Lattice:       drawText(t, "lattice"),
		FriendlyName:  drawText(t, "friendly_name"),
		Version:       drawText(t, "version"),
		Labels:        drawTextMap(t, "labels", text),
		UptimeSeconds: rapid.Uint64().Draw(t, "uptime_seconds"),
		UptimeHuman:   drawText(t, "uptime_human"),
		Status:        drawText(t, "status"),
		Actors: drawTextMap(t, "actors", rapid.Custom(func(t *rapid.T) projections.Actor {
			return projections.Actor{Count: rapid.Uint64().Draw(t, "count"), Status: drawText(t, "status")}
		})),
		Providers: drawTextMap(t, "providers", rapid.Custom(func(t *rapid.T) projections.Provider {
			return projections.Provider{PublicKey: drawText(t, "public_key"), LinkName: drawText(t, "link_name"),
				ContractID: drawText(t, "contract_id"), Status: drawText(t, "status")}
		})),
		Seq: rapid.Uint64().Draw(t, "seq"),
	}
	if rapid.Bool().Draw(t, "last_seen") {
		s := drawText(t, "last_seen value")
		h.LastSeen = &s
	}
	return h
}

// AppendHost, and every way of encoding a host through it (Marshal,
// MarshalIndent, json.Marshal, a host inside a lattice), writes byte for
// byte what deterministic reflection writes, and fails where it fails.
func TestAppendHost_MatchesReflection(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := drawHost(t)
		want, wantErr := json.Marshal((*referenceHost)(h), json.Deterministic(true))
		got, err := projections.AppendHost([]byte("prefix"), h)
		if wantErr != nil {
			require.Error(t, err, "reflection fails: %v", wantErr)
			_, err = projections.Marshal(h)
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, "prefix"+string(want), string(got))

		got, err = projections.Marshal(h)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "Marshal")
		got, err = json.Marshal(h)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "json.Marshal")

		wantIndent, err := json.Marshal((*referenceHost)(h), json.Deterministic(true), jsontext.WithIndent("  "))
		require.NoError(t, err)
		got, err = projections.MarshalIndent(h)
		require.NoError(t, err)
		require.Equal(t, string(wantIndent), string(got), "MarshalIndent")

		wantLattice, err := json.Marshal(map[string]any{"hosts": map[string]*referenceHost{"h": (*referenceHost)(h)}}, json.Deterministic(true))
		require.NoError(t, err)
		got, err = projections.Marshal(map[string]any{"hosts": map[string]*projections.Host{"h": h}})
		require.NoError(t, err)
		require.Equal(t, string(wantLattice), string(got), "a host in a map")
	})
}

// A nil host encodes as null, as a nil pointer does.
func TestHost_MarshalJSON(t *testing.T) {
	got, err := projections.Marshal(map[string]*projections.Host{"h": nil})
	require.NoError(t, err)
	require.JSONEq(t, `{"h":null}`, string(got))
	got, err = (*projections.Host)(nil).MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, "null", string(got))
}

// AppendHostWith writes what AppendHost writes, whatever inventory it is
// given: its own, one made from the same maps for a version whose other
// members changed, one from maps since replaced, or none.
func TestAppendHostWith_SameBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := drawHost(t)
		want, wantErr := projections.AppendHost(nil, h)
		inv := projections.InventoryOf(nil, h)
		got, err := projections.AppendHostWith(nil, h, inv)
		if wantErr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.NotNil(t, inv)
		require.Equal(t, string(want), string(got), "own inventory")

		// A later version that keeps the maps: the inventory is reused.
		later := *h
		later.FriendlyName, later.Seq, later.Status = drawText(t, "later name"), h.Seq+1, drawText(t, "later status")
		require.Same(t, inv, projections.InventoryOf(inv, &later))
		mustSameEncoding(t, &later, inv)

		// One whose labels, actors or providers were replaced: what changed
		// is not taken from the old inventory, and a new one is made.
		changed := later
		switch rapid.IntRange(0, 2).Draw(t, "change") {
		case 0:
			changed.Actors = withMap(maps.Clone(h.Actors))
			changed.Actors[drawText(t, "actor")] = projections.Actor{Count: rapid.Uint64().Draw(t, "count"), Status: drawText(t, "actor status")}
		case 1:
			changed.Providers = withMap(maps.Clone(h.Providers))
			changed.Providers[drawText(t, "provider")] = projections.Provider{PublicKey: drawText(t, "public_key"), Status: drawText(t, "provider status")}
		default:
			changed.Labels = withMap(maps.Clone(h.Labels))
			changed.Labels[drawText(t, "label")] = drawText(t, "label value")
		}
		mustSameEncoding(t, &changed, inv)
		if next := projections.InventoryOf(inv, &changed); next != nil {
			require.NotSame(t, inv, next)
			mustSameEncoding(t, &changed, next)
			mustSameEncoding(t, &later, next)
		}
		mustSameEncoding(t, &changed, nil)
	})
}

// withMap returns m, or an empty map when m is nil.
func withMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// mustSameEncoding checks that AppendHostWith(h, inv) appends what
// AppendHost appends, or fails where it fails.
func mustSameEncoding(t *rapid.T, h *projections.Host, inv *projections.Inventory) {
	want, wantErr := projections.AppendHost([]byte("prefix"), h)
	got, err := projections.AppendHostWith([]byte("prefix"), h, inv)
	if wantErr != nil {
		require.Error(t, err)
		return
	}
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// Folding events one by one and keeping each version's inventory as the
// pipeline does (InventoryOf of the version before's), every version
// encodes to the bytes AppendHost gives it: heartbeats that keep the
// inventory reuse it, and lifecycle events and heartbeats that change it
// do not see a stale one.
func TestInventoryOf_Fold(t *testing.T) {
	reused := 0
	rapid.Check(t, func(t *rapid.T) {
		host := rapidHosts[0]
		var (
			cur *projections.Host
			inv *projections.Inventory
		)
		hb := drawHeartbeat(t)
		for i, n := 0, rapid.IntRange(1, 40).Draw(t, "events"); i < n; i++ {
			var line []byte
			if rapid.IntRange(0, 2).Draw(t, "same inventory") == 0 {
				hb.UptimeSeconds++
				line = eventtest.HostHeartbeat(host, hb)
			} else {
				line = drawValidLine(t)
			}
			ev, err := projections.Decode(line)
			require.NoError(t, err)
			if ev.HostID != host {
				continue
			}
			ev.Seq, ev.Lattice = uint64(i+1), testLattice
			if cur, _ = projections.ApplyHost(cur, &ev); cur == nil {
				inv = nil
				continue
			}
			next := projections.InventoryOf(inv, cur)
			if next == inv {
				reused++
			}
			inv = next
			want, err := projections.AppendHost(nil, cur)
			require.NoError(t, err)
			got, err := projections.AppendHostWith(nil, cur, inv)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "after %s", line)
		}
	})
	require.Positive(t, reused, "no heartbeat kept an inventory")
}

func BenchmarkAppendHost(b *testing.B) {
	h := mustHost(b, mustFold(b, benchHeartbeats()[0]), eventtest.HostID(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projections.AppendHost(nil, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendHostWith encodes a host whose inventory was encoded
// before, as the pipeline encodes one after a heartbeat that changed no
// actor or provider.
func BenchmarkAppendHostWith(b *testing.B) {
	h := mustHost(b, mustFold(b, benchHeartbeats()[0]), eventtest.HostID(0))
	inv := projections.InventoryOf(nil, h)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projections.AppendHostWith(nil, h, inv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalHost(b *testing.B) {
	h := mustHost(b, mustFold(b, benchHeartbeats()[0]), eventtest.HostID(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projections.Marshal(h); err != nil {
			b.Fatal(err)
		}
	}
}
