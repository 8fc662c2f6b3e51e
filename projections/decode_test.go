package projections_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// categories are the decode failure categories.
var categories = []error{projections.ErrMalformed, projections.ErrEnvelope, projections.ErrData, projections.ErrInvalidHostID, projections.ErrForged}

// requireDecodeError checks that err is a *DecodeError of exactly the
// category want, with a reason.
func requireDecodeError(tb testing.TB, err error, want error) {
	tb.Helper()
	var de *projections.DecodeError
	require.ErrorAs(tb, err, &de)
	require.NotEmpty(tb, de.Reason)
	require.NotEmpty(tb, de.Error())
	for _, c := range categories {
		require.Equal(tb, c == want, errors.Is(err, c), "errors.Is(%v, %v); reason: %s", err, c, de.Reason)
	}
}

// mustReplace replaces the one occurrence of old in line by repl.
func mustReplace(tb testing.TB, line []byte, old, repl string) []byte {
	tb.Helper()
	require.Equal(tb, 1, bytes.Count(line, []byte(old)), "%q in %s", old, line)
	return bytes.Replace(line, []byte(old), []byte(repl), 1)
}

// keyWithPrefix is a valid public nkey of another kind than server.
func keyWithPrefix(tb testing.TB, prefix nkeys.PrefixByte) string {
	tb.Helper()
	kp, err := nkeys.FromRawSeed(prefix, bytes.Repeat([]byte{7}, 32))
	require.NoError(tb, err)
	pub, err := kp.PublicKey()
	require.NoError(tb, err)
	return pub
}

func heartbeatType() string { return eventtest.WasmcloudType + "host_heartbeat" }

func TestEvent_Decode(t *testing.T) {
	link := eventtest.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, Values: map[string]string{"PORT": "8080"}}
	v1Link := eventtest.Link{SourceID: "src", Target: "tgt", Name: "n", WitNamespace: "wasi", WitPackage: "http", Interfaces: []string{"incoming-handler"}}
	tests := []struct {
		name   string
		line   []byte
		kind   projections.Kind
		hostID string
		data   any
	}{
		{"OTP heartbeat", eventtest.HostHeartbeat(hostA, fullHeartbeat()), projections.KindHostHeartbeat, hostA, &projections.Heartbeat{
			HostInfo: projections.HostInfo{FriendlyName: "wandering-moon-6866", Version: "0.56.0", UptimeSeconds: 6063,
				UptimeHuman: "1 hour, 41 minutes, 3 seconds", Labels: labelsOS},
			Actors: map[string]uint64{actorEcho: 2},
			Providers: []projections.ProviderRef{
				{PublicKey: provHTTP, LinkName: "default", ContractID: contractHS},
				{PublicKey: provKV, LinkName: "default", ContractID: contractKV},
			},
		}},
		{"OTP heartbeat with an actor map", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{Shape: eventtest.ActorMap, Actors: map[string]uint64{"a": 2, "z": 0}}),
			projections.KindHostHeartbeat, hostA, &projections.Heartbeat{Actors: map[string]uint64{"a": 2}}},
		{"1.x heartbeat", eventtest.HostHeartbeat(hostB, eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{Labels: map[string]string{}},
			Shape:    eventtest.Components, Actors: map[string]uint64{"a": 3, "z": 0},
			Providers: []eventtest.Provider{{ID: "http", V1: true}},
		}), projections.KindHostHeartbeat, hostB, &projections.Heartbeat{
			HostInfo:  projections.HostInfo{Labels: map[string]string{}},
			Actors:    map[string]uint64{"a": 3},
			Providers: []projections.ProviderRef{{PublicKey: "http", LinkName: "default"}},
		}},
		{"host_started", eventtest.HostStarted(hostA, eventtest.HostInfo{FriendlyName: "f", Version: "1.0.0", Labels: labelsOS}),
			projections.KindHostStarted, hostA, &projections.HostInfo{FriendlyName: "f", Version: "1.0.0", Labels: labelsOS}},
		{"host_stopped", eventtest.HostStopped(hostA, labelsOS), projections.KindHostStopped, hostA, nil},
		{"actor_started", eventtest.ActorStarted(hostA, actorEcho), projections.KindActorStarted, hostA, &projections.ActorChange{ID: actorEcho}},
		{"actor_stopped", eventtest.ActorStopped(hostA, actorEcho), projections.KindActorStopped, hostA, &projections.ActorChange{ID: actorEcho}},
		{"component_scaled", eventtest.ComponentScaled(hostA, "c", 3), projections.KindComponentScaled, hostA, &projections.ActorChange{ID: "c", Count: 3}},
		{"component_scaled to 0", eventtest.ComponentScaled(hostA, "c", 0), projections.KindComponentScaled, hostA, &projections.ActorChange{ID: "c"}},
		{"provider_started", eventtest.ProviderStarted(hostA, eventtest.Provider{ID: provHTTP, ContractID: contractHS, LinkName: "x"}),
			projections.KindProviderStarted, hostA, &projections.ProviderRef{PublicKey: provHTTP, LinkName: "x", ContractID: contractHS}},
		{"1.x provider_started", eventtest.ProviderStarted(hostA, eventtest.Provider{ID: "http", V1: true}),
			projections.KindProviderStarted, hostA, &projections.ProviderRef{PublicKey: "http", LinkName: "default"}},
		{"provider_stopped", eventtest.ProviderStopped(hostA, eventtest.Provider{ID: provHTTP}),
			projections.KindProviderStopped, hostA, &projections.ProviderRef{PublicKey: provHTTP, LinkName: "default"}},
		{"health_check_passed", eventtest.HealthCheck(hostA, true, eventtest.Provider{ID: provHTTP}),
			projections.KindHealthCheckPassed, hostA, &projections.HealthCheck{ID: provHTTP, LinkName: "default"}},
		{"health_check_failed", eventtest.HealthCheck(hostA, false, eventtest.Provider{ID: "p", V1: true, LinkName: "l"}),
			projections.KindHealthCheckFailed, hostA, &projections.HealthCheck{ID: "p", LinkName: "l"}},
		{"labels_changed", eventtest.LabelsChanged(hostA, map[string]string{"a": "b"}),
			projections.KindLabelsChanged, hostA, &projections.HostInfo{Labels: map[string]string{"a": "b"}}},
		{"OTP linkdef_set", eventtest.LinkdefSet(hostA, link), projections.KindLinkdefSet, hostA, &projections.LinkChange{
			Key:  actorEcho + "/" + contractHS + "/default",
			Link: projections.Link{ActorID: actorEcho, ProviderID: provHTTP, ContractID: contractHS, LinkName: "default", Values: map[string]string{"PORT": "8080"}},
		}},
		{"1.x linkdef_deleted", eventtest.LinkdefDeleted(hostA, v1Link), projections.KindLinkdefDeleted, hostA, &projections.LinkChange{
			Key: "src/wasi:http/n",
			Link: projections.Link{SourceID: "src", Target: "tgt", Name: "n", WitNamespace: "wasi", WitPackage: "http",
				Interfaces: []string{"incoming-handler"}, SourceConfig: []string{}, TargetConfig: []string{}},
		}},
		{"refmap_set", eventtest.RefmapSet(hostA, "oci", "MB"), projections.KindRefmapSet, hostA, &projections.Refmap{OCIURL: "oci", PublicKey: "MB"}},
		{"host_labels_resolved", eventtest.HostLabelsResolved(hostB, map[string]string{"a": "b"}, "ok"),
			projections.KindHostLabelsResolved, hostB, &projections.LabelsResolved{Labels: map[string]string{"a": "b"}, Outcome: "ok"}},
		{"host_labels_resolved timeout", eventtest.HostLabelsResolved(hostB, nil, "timeout"),
			projections.KindHostLabelsResolved, hostB, &projections.LabelsResolved{Outcome: "timeout"}},
		{"host_stale", eventtest.HostStale(hostB), projections.KindHostStale, hostB, nil},
		{"host_expired", eventtest.HostExpired(hostB, strp(eventtest.DefaultTime), 42),
			projections.KindHostExpired, hostB, &projections.HostExpired{LastSeen: strp(eventtest.DefaultTime), Seq: 42}},
		{"host_expired of a host never seen", eventtest.HostExpired(hostB, nil, 0),
			projections.KindHostExpired, hostB, &projections.HostExpired{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustDecode(t, tt.line)
			require.Equal(t, tt.kind, ev.Kind)
			require.False(t, ev.Ignored())
			require.Equal(t, tt.hostID, ev.HostID)
			require.Equal(t, projections.TypeOf(tt.kind), ev.Type)
			require.Equal(t, eventtest.DefaultTime, ev.Time)
			require.NotEmpty(t, ev.ID)
			require.Zero(t, ev.Seq)
			require.Empty(t, ev.Lattice)
			if strings.HasPrefix(ev.Type, eventtest.RecordedType) {
				require.Equal(t, eventtest.ProjectorSource, ev.Source)
			} else {
				require.Equal(t, tt.hostID, ev.Source)
			}
			if hb, ok := tt.data.(*projections.Heartbeat); ok && hb.Actors == nil {
				hb.Actors = map[string]uint64{}
			}
			require.Equal(t, tt.data, ev.Data)
		})
	}
}

func TestEvent_DecodeFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	require.NoError(t, err)
	files = append(files, "testdata/otp_heartbeat_empty.json", "testdata/otp_heartbeat_full.json")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		lines := [][]byte{raw}
		if strings.HasSuffix(name, ".jsonl") {
			lines = bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
		}
		for i, line := range lines {
			if len(bytes.TrimSpace(line)) == 0 || bytes.Contains(line, []byte("deliberately invalid")) {
				continue
			}
			ev, err := projections.Decode(line)
			require.NoError(t, err, "%s:%d", name, i+1)
			if ev.Ignored() {
				require.Contains(t, string(line), "config_set", "%s:%d: only the mixed sequence has an ignored kind", name, i+1)
				continue
			}
			require.True(t, nkeys.IsValidPublicServerKey(ev.HostID))
		}
	}
	ev := mustDecode(t, mustReadFile(t, "testdata/otp_heartbeat_full.json"))
	require.Equal(t, "2022-09-30T07:50:58.990859Z", ev.Time)
	require.Equal(t, "NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I", ev.HostID)
	require.Equal(t, map[string]uint64{actorEcho: 2}, ev.Data.(*projections.Heartbeat).Actors)
	ev = mustDecode(t, mustReadFile(t, "testdata/otp_heartbeat_empty.json"))
	require.Empty(t, ev.Data.(*projections.Heartbeat).Actors)
	require.Empty(t, ev.Data.(*projections.Heartbeat).Providers)
}

func mustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	require.NoError(tb, err)
	return b
}

func TestEvent_DecodeAccepts(t *testing.T) {
	hb := eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{})
	tests := []struct {
		name string
		line []byte
	}{
		{"surrounding whitespace", append(append([]byte(" \t\r\n"), hb...), " \r\n"...)},
		{"extension attributes", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("traceparent", "00-abc"), eventtest.Set("partitionkey", "x"))},
		{"no time", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Delete("time"))},
		{"null time", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("time", nil))},
		{"time with offset", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("time", "2024-03-06T22:32:13+01:00"))},
		{"no datacontenttype", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Delete("datacontenttype"))},
		{"JSON with charset", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("datacontenttype", "application/json; charset=utf-8"))},
		{"text/json", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("datacontenttype", "text/json"))},
		{"+json", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("datacontenttype", "application/vnd.wasmcloud+json"))},
		{"dataschema", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("dataschema", "https://wasmcloud.com/schema"))},
		{"subject", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("subject", "wasmbus.evt.default"))},
		{"unknown data members", eventtest.Line(heartbeatType(), hostA, map[string]any{"future": map[string]any{"deep": []any{1, "x", nil}}})},
		{"escaped member names", mustReplace(t, hb, `"friendly_name"`, `"friendly\u005fname"`)},
		{"host_stopped with null data", eventtest.Line(eventtest.WasmcloudType+"host_stopped", hostA, nil, eventtest.Set("data", nil))},
		{"data null beside data_base64", eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Base64(), eventtest.Set("data", nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := projections.Decode(tt.line)
			require.NoError(t, err)
			require.Equal(t, hostA, ev.HostID)
			require.False(t, ev.Ignored())
		})
	}
}

func TestEvent_DecodeBase64(t *testing.T) {
	for _, line := range [][]byte{
		eventtest.HostHeartbeat(hostA, fullHeartbeat()),
		eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{Shape: eventtest.Components, Actors: map[string]uint64{"c": 2}}),
		eventtest.HostLabelsResolved(hostA, labelsOS, "ok"),
	} {
		plain := mustDecode(t, line)
		encoded := mustDecode(t, eventtest.Line(plain.Type, plain.Source, nil, eventtest.Set("data_base64", base64DataOf(t, line))))
		require.Equal(t, plain.Kind, encoded.Kind)
		require.Equal(t, plain.HostID, encoded.HostID)
		require.Equal(t, plain.Data, encoded.Data)
	}
	viaOption := mustDecode(t, eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Base64()))
	require.Equal(t, mustDecode(t, eventtest.HostHeartbeat(hostA, fullHeartbeat())), viaOption)
	t.Run("empty data_base64 is no data", func(t *testing.T) {
		ev := mustDecode(t, eventtest.Line(eventtest.WasmcloudType+"host_stopped", hostA, nil, eventtest.Set("data_base64", "")))
		require.Equal(t, projections.KindHostStopped, ev.Kind)
		_, err := projections.Decode(eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", "")))
		requireDecodeError(t, err, projections.ErrData)
	})
}

// base64DataOf returns the data member of line, base64-encoded.
func base64DataOf(tb testing.TB, line []byte) string {
	tb.Helper()
	i := bytes.Index(line, []byte(`"data":`))
	require.GreaterOrEqual(tb, i, 0)
	var depth int
	start := i + len(`"data":`)
	for j := start; j < len(line); j++ {
		switch line[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return base64.StdEncoding.EncodeToString(line[start : j+1])
			}
		}
	}
	tb.Fatalf("no data object in %s", line)
	return ""
}

func TestEvent_DecodeIgnored(t *testing.T) {
	tests := []struct {
		name string
		line []byte
	}{
		{"config_set with garbage data and a non-nkey source", eventtest.Line(eventtest.WasmcloudType+"config_set", "not a key", "garbage")},
		{"config_deleted", eventtest.Line(eventtest.WasmcloudType+"config_deleted", "x", []int{1, 2})},
		{"type differs in case", eventtest.Line("com.wasmcloud.lattice.Host_Heartbeat", "N.*>", map[string]any{"actors": "x"})},
		{"prefix differs in case", eventtest.Line("Com.Wasmcloud.Lattice.host_heartbeat", hostA, 5)},
		{"health_check_status", eventtest.Line(eventtest.WasmcloudType+"health_check_status", "a b", map[string]any{"providers": 5})},
		{"component_scale_failed", eventtest.Line(eventtest.WasmcloudType+"component_scale_failed", hostA, nil)},
		{"provider_start_failed", eventtest.Line(eventtest.WasmcloudType+"provider_start_failed", hostA, true)},
		{"kind with a suffix", eventtest.Line(eventtest.WasmcloudType+"host_heartbeat.v2", "x", "y")},
		{"type with spaces", eventtest.Line(" "+heartbeatType(), hostA, nil)},
		{"kind under the other prefix", eventtest.Line(eventtest.RecordedType+"host_heartbeat", "x", nil)},
		{"recorded kind under the host prefix", eventtest.Line(eventtest.WasmcloudType+"host_stale", "x", map[string]any{"host_id": "bad"})},
		{"unknown recorded kind", eventtest.Line(eventtest.RecordedType+"checkpoint", eventtest.ProjectorSource, nil)},
		{"bare kind", eventtest.Line("host_heartbeat", hostA, map[string]any{})},
		{"base64 garbage", eventtest.Line(eventtest.WasmcloudType+"config_set", "x", nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte("{{{"))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := projections.Decode(tt.line)
			require.NoError(t, err)
			require.True(t, ev.Ignored())
			require.Empty(t, ev.Kind)
			require.Empty(t, ev.HostID)
			require.Nil(t, ev.Data)
			require.NotEmpty(t, ev.Type)
			require.NotEmpty(t, ev.ID)
			require.Equal(t, projections.Target{}, ev.Target())

			f := mustFold(t, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
			before := mustMarshal(t, f.Lattice)
			require.NoError(t, f.Add(2, tt.line))
			require.Equal(t, 1, f.Ignored)
			require.Equal(t, before, mustMarshal(t, f.Lattice))
			require.Equal(t, uint64(1), mustHost(t, f, hostA).Seq)
		})
	}
}

func TestDecodeError_Category(t *testing.T) {
	hb := eventtest.HostHeartbeat(hostA, fullHeartbeat())
	data := func(d map[string]any) []byte { return eventtest.Line(heartbeatType(), hostA, d) }
	kindData := func(kind string, d any) []byte { return eventtest.Line(eventtest.WasmcloudType+kind, hostA, d) }
	withSource := func(src string) []byte { return eventtest.HostHeartbeat(src, fullHeartbeat()) }
	deep := func(open, close string) []byte {
		return []byte(`{"specversion":"1.0","id":"x","source":"` + hostA + `","type":"` + heartbeatType() + `","data":` +
			strings.Repeat(open, 10000) + strings.Repeat(close, 10000) + `}`)
	}

	tests := []struct {
		name string
		line []byte
		want error
	}{
		// Not one JSON object in valid UTF-8.
		{"empty", nil, projections.ErrMalformed},
		{"blank", []byte(" \n\t"), projections.ErrMalformed},
		{"not JSON", []byte("host_heartbeat from somewhere"), projections.ErrMalformed},
		{"truncated", hb[:len(hb)-1], projections.ErrMalformed},
		{"trailing data", append(bytes.Clone(hb), "x"...), projections.ErrMalformed},
		{"trailing comma", append(bytes.Clone(hb), ","...), projections.ErrMalformed},
		{"trailing NUL", append(bytes.Clone(hb), 0), projections.ErrMalformed},
		{"two objects", append(bytes.Clone(hb), hb...), projections.ErrMalformed},
		{"two objects on two lines", append(append(bytes.Clone(hb), '\n'), hb...), projections.ErrMalformed},
		{"BOM", append([]byte("\xef\xbb\xbf"), hb...), projections.ErrMalformed},
		{"BOM after whitespace", append([]byte(" \xef\xbb\xbf"), hb...), projections.ErrMalformed},
		{"duplicate key at top level", mustReplace(t, hb, `"datacontenttype":`, `"type":"`+heartbeatType()+`","datacontenttype":`), projections.ErrMalformed},
		{"duplicate key by escape", mustReplace(t, hb, `"datacontenttype":`, `"\u0069d":"x","datacontenttype":`), projections.ErrMalformed},
		{"duplicate key in data", mustReplace(t, hb, `"friendly_name":`, `"version":"x","friendly_name":`), projections.ErrMalformed},
		{"duplicate key deep in data", mustReplace(t, hb, `"hostcore.os":`, `"hostcore.arch":"x","hostcore.os":`), projections.ErrMalformed},
		{"duplicate key in data of an unknown kind", mustReplace(t, eventtest.Line("x.y", "s", map[string]int{"a": 1}), `"a":1`, `"a":1,"a":2`), projections.ErrMalformed},
		{"invalid UTF-8 in a value", mustReplace(t, hb, `"wandering-moon-6866"`, "\"wandering-\xff\""), projections.ErrMalformed},
		{"invalid UTF-8 in a name", mustReplace(t, hb, `"friendly_name"`, "\"friendly\xc3\x28\""), projections.ErrMalformed},
		{"invalid UTF-8 outside strings", []byte("\xff\xfe{}"), projections.ErrMalformed},
		{"surrogate half", mustReplace(t, hb, `"wandering-moon-6866"`, "\"\xed\xa0\x80\""), projections.ErrMalformed},
		{"top-level array", append(append([]byte("["), hb...), ']'), projections.ErrMalformed},
		{"top-level null", []byte("null"), projections.ErrMalformed},
		{"top-level string", []byte(`"{}"`), projections.ErrMalformed},
		{"top-level number", []byte("42"), projections.ErrMalformed},
		{"top-level true", []byte("true"), projections.ErrMalformed},
		{"single quotes", []byte(`{'specversion':'1.0'}`), projections.ErrMalformed},
		{"10k nested arrays", deep("[", "]"), projections.ErrMalformed},
		{"10k nested objects", deep(`{"a":`, "}"), projections.ErrMalformed},

		// Not a CloudEvents 1.0 envelope.
		{"specversion missing", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Delete("specversion")), projections.ErrEnvelope},
		{"specversion null", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("specversion", nil)), projections.ErrEnvelope},
		{"specversion 0.3", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("specversion", "0.3")), projections.ErrEnvelope},
		{"specversion 1", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("specversion", "1")), projections.ErrEnvelope},
		{"specversion with a space", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("specversion", "1.0 ")), projections.ErrEnvelope},
		{"specversion 1.0 as a number", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("specversion", 1.0)), projections.ErrEnvelope},
		{"id as a number", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("id", 17)), projections.ErrEnvelope},
		{"type as an object", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("type", map[string]string{})), projections.ErrEnvelope},
		{"time as a number", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", 1709760733)), projections.ErrEnvelope},
		{"id missing", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Delete("id")), projections.ErrEnvelope},
		{"id empty", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("id", "")), projections.ErrEnvelope},
		{"source empty", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("source", "")), projections.ErrEnvelope},
		{"source missing", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Delete("source")), projections.ErrEnvelope},
		{"source not a URI-reference", eventtest.Line("x.y", "%zz", nil), projections.ErrEnvelope},
		{"type empty", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("type", "")), projections.ErrEnvelope},
		{"type missing", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Delete("type")), projections.ErrEnvelope},
		{"empty subject", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("subject", "")), projections.ErrEnvelope},
		{"time not a time", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "yesterday")), projections.ErrEnvelope},
		{"time empty", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "")), projections.ErrEnvelope},
		{"time without offset", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "2022-09-30T07:37:36.766320")), projections.ErrEnvelope},
		{"time with a space", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "2022-09-30 07:37:36Z")), projections.ErrEnvelope},
		{"time out of range", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("time", "2022-13-30T07:37:36Z")), projections.ErrEnvelope},
		{"datacontenttype text/plain", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("datacontenttype", "text/plain")), projections.ErrEnvelope},
		{"datacontenttype XML", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("datacontenttype", "application/xml")), projections.ErrEnvelope},
		{"datacontenttype empty", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("datacontenttype", "")), projections.ErrEnvelope},
		{"datacontenttype not a media type", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("datacontenttype", "json")), projections.ErrEnvelope},
		{"data and data_base64", eventtest.HostHeartbeat(hostA, fullHeartbeat(), eventtest.Set("data_base64", "e30=")), projections.ErrEnvelope},
		{"data_base64 not base64", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", "not base64!")), projections.ErrEnvelope},
		{"data_base64 URL alphabet", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", "e30_-w==")), projections.ErrEnvelope},
		{"bad data_base64 of an unknown kind", eventtest.Line("x.y", "s", nil, eventtest.Set("data_base64", "%%%")), projections.ErrEnvelope},
		{"envelope of an unknown kind", eventtest.Line("x.y", "s", nil, eventtest.Set("specversion", "0.3")), projections.ErrEnvelope},

		// Data of the wrong shape.
		{"heartbeat without data", eventtest.Line(heartbeatType(), hostA, nil), projections.ErrData},
		{"heartbeat with null data", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data", nil)), projections.ErrData},
		{"data a string", eventtest.Line(heartbeatType(), hostA, "{}"), projections.ErrData},
		{"data an array", eventtest.Line(heartbeatType(), hostA, []any{}), projections.ErrData},
		{"data a number", eventtest.Line(heartbeatType(), hostA, 1), projections.ErrData},
		{"actors a string", data(map[string]any{"actors": "MB"}), projections.ErrData},
		{"actors a number", data(map[string]any{"actors": 2}), projections.ErrData},
		{"actors a bool", data(map[string]any{"actors": true}), projections.ErrData},
		{"actors a list of strings", data(map[string]any{"actors": []string{actorEcho}}), projections.ErrData},
		{"actor entry without public_key", data(map[string]any{"actors": []any{map[string]any{"instance_id": "i"}}}), projections.ErrData},
		{"actor entry null", data(map[string]any{"actors": []any{nil}}), projections.ErrData},
		{"actor map count a string", data(map[string]any{"actors": map[string]any{actorEcho: "2"}}), projections.ErrData},
		{"actor map count negative", data(map[string]any{"actors": map[string]any{actorEcho: -1}}), projections.ErrData},
		{"actor map count fractional", data(map[string]any{"actors": map[string]any{actorEcho: 1.5}}), projections.ErrData},
		{"actor map empty key", data(map[string]any{"actors": map[string]any{"": 1}}), projections.ErrData},
		{"components a string", data(map[string]any{"components": "c"}), projections.ErrData},
		{"component without id", data(map[string]any{"components": []any{map[string]any{"max_instances": 1}}}), projections.ErrData},
		{"max_instances a string", data(map[string]any{"components": []any{map[string]any{"id": "c", "max_instances": "2"}}}), projections.ErrData},
		{"max_instances negative", data(map[string]any{"components": []any{map[string]any{"id": "c", "max_instances": -2}}}), projections.ErrData},
		{"providers a map", data(map[string]any{"providers": map[string]any{provHTTP: map[string]any{}}}), projections.ErrData},
		{"providers a string", data(map[string]any{"providers": "VAG"}), projections.ErrData},
		{"provider without public_key or id", data(map[string]any{"providers": []any{map[string]any{"link_name": "default", "contract_id": contractHS}}}), projections.ErrData},
		{"provider entry null", data(map[string]any{"providers": []any{nil}}), projections.ErrData},
		{"link_name a number", data(map[string]any{"providers": []any{map[string]any{"public_key": provHTTP, "link_name": 1}}}), projections.ErrData},
		{"uptime a string", data(map[string]any{"uptime_seconds": "5253"}), projections.ErrData},
		{"uptime negative", data(map[string]any{"uptime_seconds": -1}), projections.ErrData},
		{"uptime fractional", data(map[string]any{"uptime_seconds": 52.5}), projections.ErrData},
		{"uptime too large", mustReplace(t, data(map[string]any{"uptime_seconds": 1}), `"uptime_seconds":1`, `"uptime_seconds":18446744073709551616`), projections.ErrData},
		{"friendly_name a number", data(map[string]any{"friendly_name": 5}), projections.ErrData},
		{"labels a list", data(map[string]any{"labels": []string{"a"}}), projections.ErrData},
		{"labels a string", data(map[string]any{"labels": "a=b"}), projections.ErrData},
		{"label value a number", data(map[string]any{"labels": map[string]any{"a": 1}}), projections.ErrData},
		{"label value a bool", data(map[string]any{"labels": map[string]any{"a": true}}), projections.ErrData},
		{"label value an object", data(map[string]any{"labels": map[string]any{"a": map[string]string{"b": "c"}}}), projections.ErrData},
		{"label value null", data(map[string]any{"labels": map[string]any{"a": nil}}), projections.ErrData},
		{"host_started labels a list", kindData("host_started", map[string]any{"labels": []string{}}), projections.ErrData},
		{"host_started without data", kindData("host_started", nil), projections.ErrData},
		{"host_stopped labels a number", kindData("host_stopped", map[string]any{"labels": 1}), projections.ErrData},
		{"host_stopped data a string", kindData("host_stopped", "bye"), projections.ErrData},
		{"actor_started without public_key", kindData("actor_started", map[string]any{"instance_id": "i"}), projections.ErrData},
		{"actor_stopped data a list", kindData("actor_stopped", []string{actorEcho}), projections.ErrData},
		{"component_scaled without max_instances", kindData("component_scaled", map[string]any{"component_id": "c"}), projections.ErrData},
		{"component_scaled max_instances a string", kindData("component_scaled", map[string]any{"component_id": "c", "max_instances": "1"}), projections.ErrData},
		{"component_scaled without component_id", kindData("component_scaled", map[string]any{"max_instances": 1}), projections.ErrData},
		{"provider_started without public_key", kindData("provider_started", map[string]any{"link_name": "default"}), projections.ErrData},
		{"provider_stopped public_key a number", kindData("provider_stopped", map[string]any{"public_key": 5}), projections.ErrData},
		{"health check without provider", kindData("health_check_passed", map[string]any{"link_name": "default"}), projections.ErrData},
		{"labels_changed without labels", kindData("labels_changed", map[string]any{"host_id": hostA}), projections.ErrData},
		{"labels_changed null labels", kindData("labels_changed", map[string]any{"labels": nil}), projections.ErrData},
		{"labels_changed label a number", kindData("labels_changed", map[string]any{"labels": map[string]any{"a": 1}}), projections.ErrData},
		{"linkdef_set without actor_id or source_id", kindData("linkdef_set", map[string]any{"contract_id": contractHS}), projections.ErrData},
		{"OTP linkdef_set without contract_id", kindData("linkdef_set", map[string]any{"actor_id": actorEcho}), projections.ErrData},
		{"1.x linkdef_set without wit_package", kindData("linkdef_set", map[string]any{"source_id": "s", "wit_namespace": "wasi"}), projections.ErrData},
		{"linkdef_set values not strings", kindData("linkdef_set", map[string]any{"actor_id": actorEcho, "contract_id": contractHS, "values": map[string]any{"PORT": 8080}}), projections.ErrData},
		{"linkdef_deleted interfaces a string", kindData("linkdef_deleted", map[string]any{"source_id": "s", "wit_namespace": "w", "wit_package": "p", "interfaces": "x"}), projections.ErrData},
		{"refmap_set without oci_url", kindData("refmap_set", map[string]any{"public_key": actorEcho}), projections.ErrData},
		{"refmap_set without public_key", kindData("refmap_set", map[string]any{"oci_url": "oci"}), projections.ErrData},
		{"host_labels_resolved outcome unknown", eventtest.HostLabelsResolved(hostA, nil, "maybe"), projections.ErrData},
		{"host_labels_resolved outcome differs in case", eventtest.HostLabelsResolved(hostA, nil, "OK"), projections.ErrData},
		{"host_labels_resolved without outcome", eventtest.Line(eventtest.RecordedType+"host_labels_resolved", eventtest.ProjectorSource, map[string]any{"host_id": hostA}), projections.ErrData},
		{"host_labels_resolved labels not strings", eventtest.Line(eventtest.RecordedType+"host_labels_resolved", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "outcome": "ok", "labels": map[string]int{"a": 1}}), projections.ErrData},
		{"host_stale without data", eventtest.Line(eventtest.RecordedType+"host_stale", eventtest.ProjectorSource, nil), projections.ErrData},
		{"host_stale host_id a number", eventtest.Line(eventtest.RecordedType+"host_stale", eventtest.ProjectorSource, map[string]any{"host_id": 1}), projections.ErrData},
		{"host_expired without data", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, nil), projections.ErrData},
		{"host_expired without seq", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "last_seen": nil}), projections.ErrData},
		{"host_expired seq a string", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "seq": "7"}), projections.ErrData},
		{"host_expired seq negative", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "seq": -1}), projections.ErrData},
		{"host_expired seq fractional", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "seq": 1.5}), projections.ErrData},
		{"host_expired last_seen not RFC 3339", eventtest.HostExpired(hostA, strp("yesterday"), 1), projections.ErrData},
		{"host_expired last_seen a number", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": hostA, "seq": 1, "last_seen": 5}), projections.ErrData},
		{"data_base64 not JSON", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte("not json")))), projections.ErrData},
		{"data_base64 with duplicate keys", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte(`{"version":"a","version":"b"}`)))), projections.ErrData},
		{"data_base64 with invalid UTF-8", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte("{\"version\":\"\xff\"}")))), projections.ErrData},
		{"data_base64 with trailing data", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte(`{}{}`)))), projections.ErrData},
		{"data_base64 of the wrong shape", eventtest.Line(heartbeatType(), hostA, nil, eventtest.Set("data_base64", base64.StdEncoding.EncodeToString([]byte(`{"actors":"x"}`)))), projections.ErrData},

		// Host ids that are not server public nkeys.
		{"host id with a dot", withSource(hostA[:20] + "." + hostA[21:]), projections.ErrInvalidHostID},
		{"host id with a star", withSource(hostA[:20] + "*" + hostA[21:]), projections.ErrInvalidHostID},
		{"host id with a greater-than", withSource(hostA[:20] + ">" + hostA[21:]), projections.ErrInvalidHostID},
		{"host id with a space", withSource(hostA[:20] + " " + hostA[21:]), projections.ErrInvalidHostID},
		{"host id with a trailing space", withSource(hostA + " "), projections.ErrInvalidHostID},
		{"host id a subject wildcard", withSource("wasmbus.evt.>"), projections.ErrInvalidHostID},
		{"host id a star", withSource("*"), projections.ErrInvalidHostID},
		{"host id lower case", withSource(strings.ToLower(hostA)), projections.ErrInvalidHostID},
		{"host id too short", withSource(hostA[:55]), projections.ErrInvalidHostID},
		{"host id too long", withSource(hostA + "A"), projections.ErrInvalidHostID},
		{"host id 59 characters", withSource(hostA + "AAA"), projections.ErrInvalidHostID},
		{"host_stale host_id with a trailing newline", eventtest.HostStale(hostA + "\n"), projections.ErrInvalidHostID},
		{"host_labels_resolved host_id with a carriage return", eventtest.HostLabelsResolved(hostA[:30]+"\r"+hostA[30:], labelsOS, "ok"), projections.ErrInvalidHostID},
		{"user key", withSource(keyWithPrefix(t, nkeys.PrefixByteUser)), projections.ErrInvalidHostID},
		{"account key", withSource(keyWithPrefix(t, nkeys.PrefixByteAccount)), projections.ErrInvalidHostID},
		{"cluster key", withSource(keyWithPrefix(t, nkeys.PrefixByteCluster)), projections.ErrInvalidHostID},
		{"server key with prefix swapped", withSource("U" + hostA[1:]), projections.ErrInvalidHostID},
		{"bad checksum", withSource(otherBase32(hostA, 55)), projections.ErrInvalidHostID},
		{"bad checksum inside", withSource(otherBase32(hostA, 30)), projections.ErrInvalidHostID},
		{"server seed", withSource(serverSeed(t)), projections.ErrInvalidHostID},
		{"linkdef_set from a non-nkey source", eventtest.LinkdefSet("a-host", eventtest.Link{ActorID: "a", ContractID: "c"}), projections.ErrInvalidHostID},
		{"refmap_set from a non-nkey source", eventtest.RefmapSet("a-host", "oci", "k"), projections.ErrInvalidHostID},
		{"host_stale without host_id", eventtest.Line(eventtest.RecordedType+"host_stale", eventtest.ProjectorSource, map[string]any{}), projections.ErrInvalidHostID},
		{"host_stale host_id with a dot", eventtest.HostStale(hostA[:20] + "." + hostA[21:]), projections.ErrInvalidHostID},
		{"host_stale from a host but about a bad id", eventtest.HostStale("bad", eventtest.Set("source", hostA)), projections.ErrInvalidHostID},
		{"host_expired without host_id", eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"seq": 1}), projections.ErrInvalidHostID},
		{"host_expired host_id a wildcard", eventtest.HostExpired(">", nil, 1), projections.ErrInvalidHostID},
		{"host_labels_resolved host_id wildcard", eventtest.HostLabelsResolved(">", labelsOS, "ok"), projections.ErrInvalidHostID},
	}
	names := map[string]bool{}
	for _, tt := range tests {
		require.False(t, names[tt.name], "duplicate case %q", tt.name)
		names[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			ev, err := projections.Decode(tt.line)
			requireDecodeError(t, err, tt.want)
			require.Equal(t, projections.Event{}, ev, "a rejected event is the zero Event")

			f := mustFold(t, eventtest.HostHeartbeat(hostA, fullHeartbeat()))
			before := mustMarshal(t, f.Lattice)
			require.ErrorIs(t, f.Add(2, tt.line), tt.want)
			require.Equal(t, before, mustMarshal(t, f.Lattice), "a rejected line changes nothing")
			require.Zero(t, f.Ignored)
		})
	}
}

// otherBase32 replaces the i-th character of key by another base32
// character, so the key stays well-formed but its checksum no longer fits.
func otherBase32(key string, i int) string {
	c := byte('A')
	if key[i] == 'A' {
		c = 'B'
	}
	return key[:i] + string(c) + key[i+1:]
}

// serverSeed is the seed (private) of a server key, which is not a host id.
func serverSeed(tb testing.TB) string {
	tb.Helper()
	seed, err := nkeys.EncodeSeed(nkeys.PrefixByteServer, bytes.Repeat([]byte{9}, 32))
	require.NoError(tb, err)
	return string(seed)
}

func TestDecodeError_Reason(t *testing.T) {
	// Reasons quote hostile input only up to a bound, so dead-letter headers
	// and logs stay small.
	long := strings.Repeat("N", 1<<20)
	for _, line := range [][]byte{
		eventtest.HostHeartbeat(long, eventtest.Heartbeat{}),
		eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("time", long)),
		eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}, eventtest.Set("specversion", long)),
		eventtest.HostLabelsResolved(hostA, nil, long),
	} {
		_, err := projections.Decode(line)
		var de *projections.DecodeError
		require.ErrorAs(t, err, &de)
		require.Less(t, len(de.Reason), 1024, "reason is bounded: %.200s", de.Reason)
		require.Contains(t, de.Error(), de.Reason)
	}
}

// Every fixture event takes the one-pass path, whichever order its
// attributes come in, and decodes as the strict path does.
// An envelope the CloudEvents SDK finds wrong in several attributes is
// rejected with the same reason every time, the attributes in the order of
// their names (the SDK reports them in a map).
func TestDecodeError_ReasonIsStable(t *testing.T) {
	line := eventtest.HostStopped(eventtest.HostID(1), nil, eventtest.Set("subject", ""), eventtest.Set("datacontenttype", "applic:tion/json"))
	_, err := projections.Decode(line)
	requireDecodeError(t, err, projections.ErrEnvelope)
	var first *projections.DecodeError
	require.ErrorAs(t, err, &first)
	require.Regexp(t, `^datacontenttype: .+; subject: .+$`, first.Reason)
	for range 50 {
		_, err := projections.Decode(line)
		var de *projections.DecodeError
		require.ErrorAs(t, err, &de)
		require.Equal(t, first.Reason, de.Reason)
	}
}

func TestDecodeFast_TakesFixtures(t *testing.T) {
	for _, name := range []string{"otp_sequence.jsonl", "v1_samples.jsonl", "mixed_sequence.jsonl"} {
		for i, line := range bytes.Split(mustReadFile(t, filepath.Join("testdata", name)), []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			fast, ok := projections.DecodeFast(line)
			strict, err := projections.DecodeStrict(line)
			if err != nil {
				require.False(t, ok, "%s line %d: fast path accepts a rejected event", name, i+1)
				continue
			}
			if name != "mixed_sequence.jsonl" {
				require.True(t, ok, "%s line %d: fast path declined a valid event", name, i+1)
			}
			require.Equal(t, strict, fast, "%s line %d", name, i+1)
		}
	}
}

// A source of letters and digits is the URI-reference url.Parse makes of it.
func TestDecode_AlphanumericSourceIsURIRef(t *testing.T) {
	for _, src := range []string{eventtest.HostID(1), "abc123", "Z"} {
		u, err := url.Parse(src)
		require.NoError(t, err)
		require.Equal(t, url.URL{Path: src}, *u)
	}
}

// The one-pass path takes the shapes hosts send and declines what it does
// not read itself (escapes, nulls, non-integer counts); whatever it takes,
// it decodes as the strict path does, and what it declines the strict path
// decides.
func TestDecodeFast_AgreesWithStrict(t *testing.T) {
	host := eventtest.HostID(7)
	hb := func(data string) []byte {
		return []byte(`{"specversion":"1.0","id":"1","source":"` + host + `","type":"` + heartbeatType() + `","data":` + data + `}`)
	}
	dataFirst := func(typ, data string) []byte {
		return []byte(`{"data":` + data + `,"specversion":"1.0","id":"1","source":"` + host + `","type":"` + eventtest.WasmcloudType + typ + `"}`)
	}
	for _, tc := range []struct {
		name string
		line []byte
		fast bool
	}{
		{"full heartbeat", eventtest.HostHeartbeat(host, fullHeartbeat()), true},
		{"actor map", eventtest.HostHeartbeat(host, eventtest.Heartbeat{Shape: eventtest.ActorMap, Actors: map[string]uint64{"a": 2, "b": 0}}), true},
		{"components", eventtest.HostHeartbeat(host, eventtest.Heartbeat{Shape: eventtest.Components, Actors: map[string]uint64{"c": 3, "d": 0},
			Providers: []eventtest.Provider{{ID: "p", V1: true}}}), true},
		{"empty data", hb(`{}`), true},
		{"spaces everywhere", hb(" {\n\"actors\" :\t[ { \"public_key\" : \"a\" , \"max_instances\" : 2 } ] ,\r\"labels\" : { } } "), true},
		{"actors and components", hb(`{"actors":[{"public_key":"a"}],"components":[{"id":"c","max_instances":2}]}`), true},
		{"actors and empty components", hb(`{"actors":[{"public_key":"a"}],"components":[]}`), true},
		{"actors and null components", hb(`{"actors":[{"public_key":"a"}],"components":null}`), true},
		{"null actors, components", hb(`{"actors":null,"components":[{"id":"c"}]}`), true},
		{"unused inventory without ids", hb(`{"actors":[{"public_key":""}],"components":[{"id":"c"}]}`), true},
		{"inventory without ids", hb(`{"actors":[{"instance_id":"x"}]}`), false},
		{"repeated actor", hb(`{"actors":[{"public_key":"a"},{"public_key":"a","max_instances":3}]}`), true},
		{"null max_instances", hb(`{"components":[{"id":"c","max_instances":null}]}`), true},
		{"zero max_instances", hb(`{"components":[{"id":"c","max_instances":0}]}`), true},
		{"count overflow", hb(`{"actors":[{"public_key":"a","max_instances":18446744073709551615},{"public_key":"a"}]}`), false},
		{"count too large", hb(`{"uptime_seconds":18446744073709551616}`), false},
		{"largest count", hb(`{"uptime_seconds":18446744073709551615}`), true},
		{"fractional count", hb(`{"uptime_seconds":1.0}`), false},
		{"exponent count", hb(`{"uptime_seconds":1e3}`), false},
		{"negative count", hb(`{"uptime_seconds":-1}`), false},
		{"escaped label", hb(`{"labels":{"a":"\u0062"}}`), false},
		{"escaped name", hb(`{"\u0061ctors":[{"public_key":"a"}]}`), false},
		{"escape in skipped member", hb(`{"x":"\"}{[","actors":[{"public_key":"a","y":["\\",{"z":"\""}]}]}`), true},
		{"null label", hb(`{"labels":{"a":null}}`), false},
		{"null labels", hb(`{"labels":null}`), false},
		{"empty label name", hb(`{"labels":{"":"v"}}`), true},
		{"provider link names", hb(`{"providers":[{"public_key":"p","link_name":null},{"id":"q","link_name":""},{"id":"r","link_name":"l","contract_id":"c"}]}`), true},
		{"provider without id", hb(`{"providers":[{"contract_id":"c"}]}`), false},
		{"empty providers", hb(`{"providers":[]}`), true},
		{"wrong case member", hb(`{"Actors":[{"public_key":"a"}]}`), true},
		{"data first, heartbeat", dataFirst("host_heartbeat", `{"actors":[{"public_key":"a"}]}`), true},
		{"data first, actor started", dataFirst("actor_started", `{"public_key":"a"}`), true},
		{"data first, host stopped", dataFirst("host_stopped", `{"labels":{"a":"b"}}`), true},
		{"data first, unknown type", dataFirst("config_set", `{"x":1}`), true},
		{"duplicate member", hb(`{"version":"1","version":"2"}`), false},
		{"invalid UTF-8", hb("{\"version\":\"\xff\"}"), false},
		{"trailing bytes", append(hb(`{}`), '1'), false},
		{"escaped source", []byte(`{"specversion":"1.0","id":"1","source":"\u004e` + host[1:] + `","type":"` + heartbeatType() + `","data":{}}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, ok := projections.DecodeFast(tc.line)
			require.Equal(t, tc.fast, ok, "one-pass path takes %s", tc.line)
			strict, err := projections.DecodeStrict(tc.line)
			if ok {
				require.NoError(t, err)
				require.Equal(t, strict, fast)
			}
			decoded, err2 := projections.Decode(tc.line)
			if err == nil {
				require.NoError(t, err2)
				require.Equal(t, strict, decoded)
			} else {
				require.Equal(t, err, err2)
			}
		})
	}
}
