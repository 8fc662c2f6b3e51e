package projections_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// The heartbeat rules, one case each, hold on every path: the strict one,
// the one-pass one, and a Decoder's (whose caches have seen the case
// before).
func TestDecoder_HeartbeatRules(t *testing.T) {
	host := eventtest.HostID(3)
	many := func(n int, entry string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(entry, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	manyActors := map[string]uint64{}
	var manyProviders []projections.ProviderRef
	for i := range 20 {
		manyActors[fmt.Sprintf("a%d", i)] = 2
		manyProviders = append(manyProviders, projections.ProviderRef{PublicKey: fmt.Sprintf("p%d", i), LinkName: "default"})
	}
	type want struct {
		actors    map[string]uint64
		providers []projections.ProviderRef
	}
	for _, tc := range []struct {
		name   string
		data   string
		want   want
		reason string
	}{
		{"no inventory", `{}`, want{actors: map[string]uint64{}}, ""},
		{"instances count one each", `{"actors":[{"public_key":"a"},{"public_key":"a"},{"public_key":"b"}]}`,
			want{actors: map[string]uint64{"a": 2, "b": 1}}, ""},
		{"components count max_instances", `{"components":[{"id":"c","max_instances":3},{"id":"d","max_instances":null},{"id":"e","max_instances":0}]}`,
			want{actors: map[string]uint64{"c": 3, "d": 1}}, ""},
		{"map counts", `{"actors":{"a":2,"b":0}}`, want{actors: map[string]uint64{"a": 2}}, ""},
		{"public_key before id", `{"actors":[{"public_key":"a","id":"b"}]}`, want{actors: map[string]uint64{"a": 1}}, ""},
		{"components over actors", `{"actors":[{"public_key":"a"}],"components":[]}`, want{actors: map[string]uint64{}}, ""},
		{"actors over null components", `{"actors":[{"public_key":"a"}],"components":null}`, want{actors: map[string]uint64{"a": 1}}, ""},
		{"null components alone", `{"components":null}`, want{actors: map[string]uint64{}}, ""},
		{"the unused inventory is not counted", `{"actors":[{"public_key":""}],"components":[{"id":"c"}]}`,
			want{actors: map[string]uint64{"c": 1}}, ""},
		{"more entries than fit in place", `{"actors":` + many(40, `{"public_key":"a%d"}`) + `,"providers":` + many(20, `{"public_key":"p%d"}`) +
			`,"components":` + many(20, `{"id":"a%d","max_instances":2}`) + `}`,
			want{actors: manyActors, providers: manyProviders}, ""},
		{"link names and contracts", `{"providers":[{"public_key":"p"},{"id":"q","link_name":null,"contract_id":"c"},{"id":"r","link_name":""},{"public_key":"s","id":"t","link_name":"l"}]}`,
			want{actors: map[string]uint64{}, providers: []projections.ProviderRef{
				{PublicKey: "p", LinkName: "default"}, {PublicKey: "q", LinkName: "default", ContractID: "c"},
				{PublicKey: "r", LinkName: "default"}, {PublicKey: "s", LinkName: "l"},
			}}, ""},
		{"instance without id", `{"actors":[{"public_key":"a"},{"instance_id":"x"}]}`, want{}, "inventory entry 1 has no public_key or id"},
		{"map with an empty key", `{"actors":{"":1}}`, want{}, "actors map has an empty public key"},
		{"count overflow", `{"components":[{"id":"c","max_instances":18446744073709551615},{"id":"c","max_instances":1}]}`, want{},
			`instance count of "c" overflows`},
		{"provider without id", `{"providers":[{"public_key":"p"},{"link_name":"l"}]}`, want{}, "providers[1] has no public_key or id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := eventtest.Line(heartbeatType(), host, json.RawMessage(tc.data))
			decoder := projections.NewDecoder()
			for _, path := range []struct {
				name   string
				decode func([]byte) (projections.Event, error)
			}{
				{"strict", projections.DecodeStrict},
				{"one-pass", func(raw []byte) (projections.Event, error) {
					ev, ok := projections.DecodeFast(raw)
					if !ok {
						_, err := projections.DecodeStrict(raw)
						require.Error(t, err, "the one-pass path declines a valid heartbeat")
						return ev, err
					}
					return ev, nil
				}},
				{"decoder, cold", decoder.Decode},
				{"decoder, warm", decoder.Decode},
			} {
				ev, err := path.decode(line)
				if tc.reason != "" {
					requireDecodeError(t, err, projections.ErrData)
					require.ErrorContains(t, err, tc.reason, path.name)
					continue
				}
				require.NoError(t, err, path.name)
				hb, ok := ev.Data.(*projections.Heartbeat)
				require.True(t, ok, path.name)
				require.Equal(t, tc.want.actors, hb.Actors, path.name)
				require.Equal(t, tc.want.providers, hb.Providers, path.name)
			}
		})
	}
}
