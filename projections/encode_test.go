package projections_test

import (
	"testing"

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

// AppendHost writes exactly what Marshal writes, and fails where it fails.
func TestAppendHost_MatchesMarshal(t *testing.T) {
	text := rapid.Custom(func(t *rapid.T) string { return drawText(t, "text") })
	rapid.Check(t, func(t *rapid.T) {
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
		want, wantErr := projections.Marshal(h)
		got, err := projections.AppendHost([]byte("prefix"), h)
		if wantErr != nil {
			require.Error(t, err, "Marshal fails: %v", wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, "prefix"+string(want), string(got))
	})
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
