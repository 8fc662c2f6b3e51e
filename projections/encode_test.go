package projections_test

import (
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

func BenchmarkAppendHost(b *testing.B) {
	h := mustHost(b, mustFold(b, benchHeartbeats()[0]), eventtest.HostID(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projections.AppendHost(nil, h); err != nil {
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
