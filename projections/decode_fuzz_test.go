package projections_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// fuzzSeeds is the seed corpus of FuzzDecode: real lines, every kind, and
// hostile shapes.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	files, err := filepath.Glob("testdata/*.json*")
	if err != nil {
		tb.Fatal(err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(name, ".jsonl") {
			seeds = append(seeds, bytes.Split(raw, []byte("\n"))...)
		} else {
			seeds = append(seeds, raw)
		}
	}

	host := eventtest.HostID(1)
	hb := eventtest.HostHeartbeat(host, fullHeartbeat())
	seeds = append(seeds, hostEvents()...)
	seeds = append(seeds,
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{Shape: eventtest.ActorMap, Actors: map[string]uint64{"a": 1, "b": 0}}),
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{Shape: eventtest.Components, Actors: map[string]uint64{"c": 2},
			Providers: []eventtest.Provider{{ID: "p", V1: true}}}),
		eventtest.HostHeartbeat(host, fullHeartbeat(), eventtest.Base64()),
		eventtest.LinkdefSet(host, eventtest.Link{ActorID: "a", ProviderID: "p", ContractID: "c", Values: map[string]string{"k": "v"}}),
		eventtest.LinkdefDeleted(host, eventtest.Link{SourceID: "s", Target: "t", WitNamespace: "n", WitPackage: "p"}),
		eventtest.RefmapSet(host, "oci", "k"),
		eventtest.Line(eventtest.WasmcloudType+"config_set", "not a key", "garbage"),
		eventtest.Line("com.wasmcloud.lattice.Host_Heartbeat", "x", []int{1}),
	)

	// Malformed JSON.
	seeds = append(seeds,
		nil, []byte("{"), []byte("}"), []byte("{}"), []byte("[]"), []byte("null"), []byte(`"x"`), []byte("1e999"),
		hb[:len(hb)/2], append(bytes.Clone(hb), hb...), append([]byte("\xef\xbb\xbf"), hb...),
		bytes.Replace(hb, []byte(`"datacontenttype":`), []byte(`"type":"x","datacontenttype":`), 1),
		bytes.Replace(hb, []byte(`"friendly_name":`), []byte(`"version":"","friendly_name":`), 1),
		bytes.Replace(hb, []byte("wandering"), []byte("\xff\xfe"), 1),
		[]byte("\xc0\xaf"),
	)
	// Wrong types in every field.
	for _, member := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject", "data", "data_base64"} {
		for _, v := range []any{nil, 1.0, -1, true, "", []any{}, map[string]any{}} {
			seeds = append(seeds, eventtest.HostHeartbeat(host, fullHeartbeat(), eventtest.Set(member, v)))
		}
	}
	for _, member := range []string{"actors", "components", "providers", "labels", "friendly_name", "version", "uptime_seconds", "uptime_human"} {
		for _, v := range []any{nil, 1.5, -1, "5253", true, []any{nil}, map[string]any{"a": 1}, []any{map[string]any{"public_key": 1}}} {
			seeds = append(seeds, eventtest.Line(eventtest.WasmcloudType+"host_heartbeat", host, map[string]any{member: v}))
		}
	}
	for _, kind := range []string{"actor_started", "component_scaled", "provider_started", "health_check_passed", "labels_changed", "linkdef_set", "refmap_set"} {
		seeds = append(seeds, eventtest.Line(eventtest.WasmcloudType+kind, host, map[string]any{
			"public_key": 1, "component_id": []int{}, "max_instances": "2", "labels": []string{}, "actor_id": true, "oci_url": nil,
		}))
	}
	seeds = append(seeds,
		eventtest.HostLabelsResolved(host, map[string]string{"a": "b"}, "maybe"),
		eventtest.Line(eventtest.RecordedType+"host_stale", eventtest.ProjectorSource, map[string]any{"host_id": 5}),
		eventtest.HostExpired(host, nil, 3),
		eventtest.Line(eventtest.RecordedType+"host_expired", eventtest.ProjectorSource, map[string]any{"host_id": host, "seq": "3", "last_seen": 1}),
	)
	// Host ids with subject characters, spaces, wrong prefix or checksum.
	for _, id := range []string{host[:10] + "." + host[11:], host[:10] + "*" + host[11:], host[:10] + ">" + host[11:],
		host[:10] + " " + host[11:], "U" + host[1:], host[:55] + "A", host + "A", host + "\n", "*", ">", "a.b"} {
		seeds = append(seeds, eventtest.HostHeartbeat(id, fullHeartbeat()), eventtest.HostStale(id))
	}
	// Huge and deeply nested inputs.
	seeds = append(seeds,
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{FriendlyName: strings.Repeat("x", 1<<20)}}),
		[]byte(`{"specversion":"1.0","id":"x","source":"`+host+`","type":"x","data":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`),
		[]byte(`{"specversion":"1.0","id":"x","source":"`+host+`","type":"`+eventtest.WasmcloudType+`host_heartbeat","data":`+
			strings.Repeat(`{"a":`, 10000)+"1"+strings.Repeat("}", 10000)+`}`),
		[]byte(strings.Repeat("[", 10000)),
		[]byte(strings.Repeat(`{"a":`, 10000)),
	)
	return seeds
}

// FuzzDecode checks the decoder on any input: the one-pass path accepts
// nothing the strict one rejects and decodes what it accepts the same way;
// a Decoder, whose caches have seen the inputs before, decodes as Decode
// does; every rejection falls in exactly one category; what is accepted
// folds and encodes.
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	cached := projections.NewDecoder()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if fast, ok := projections.DecodeFast(raw); ok {
			strict, err := projections.DecodeStrict(raw)
			if err != nil {
				t.Fatalf("the fast path accepts what the strict one rejects: %v", err)
			}
			if !reflect.DeepEqual(fast, strict) {
				t.Fatalf("the paths disagree:\nfast   %+v\nstrict %+v", fast, strict)
			}
		}
		ev, err := projections.Decode(raw)
		evCached, errCached := cached.Decode(raw)
		if !reflect.DeepEqual(ev, evCached) || !reflect.DeepEqual(err, errCached) {
			t.Fatalf("a Decoder disagrees with Decode:\ncached   %+v, %v\nuncached %+v, %v", evCached, errCached, ev, err)
		}
		fromHost, hostErr := projections.DecodeFrom(projections.FromHost, raw)
		switch {
		case err != nil:
			if !reflect.DeepEqual(hostErr, err) {
				t.Fatalf("from a host: %v, else %v", hostErr, err)
			}
		case strings.HasPrefix(ev.Type, projections.LatticestateTypePrefix):
			if !errors.Is(hostErr, projections.ErrForged) {
				t.Fatalf("own event %q from a host: %v", ev.Type, hostErr)
			}
		case hostErr != nil || !reflect.DeepEqual(fromHost, ev):
			t.Fatalf("host event decoded from a host: %v", hostErr)
		}
		if err != nil {
			var de *projections.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if de.Reason == "" {
				t.Fatalf("empty reason: %v", err)
			}
			n := 0
			for _, c := range categories {
				if errors.Is(err, c) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v is in %d categories", err, n)
			}
			return
		}
		if !ev.Ignored() && !nkeys.IsValidPublicServerKey(ev.HostID) {
			t.Fatalf("accepted host id %q", ev.HostID)
		}
		if ev.Ignored() && (ev.HostID != "" || ev.Data != nil) {
			t.Fatalf("ignored event with host %q and data %v", ev.HostID, ev.Data)
		}
		folder := projections.NewFolder(testLattice)
		folder.AddEvent(&ev, 1)
		folder.AddEvent(&ev, 2)
		if _, err := projections.Marshal(folder.Lattice); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}
