package projections_test

import (
	encjson "encoding/json"
	"sync"
	"testing"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

const benchHosts = 10000

// benchHeartbeats are benchHosts distinct heartbeats shaped like the fixture
// otp_heartbeat_full.json (one actor with two instances, two providers,
// three labels), each from its own host.
var benchHeartbeats = sync.OnceValue(func() [][]byte {
	lines := make([][]byte, benchHosts)
	for i := range lines {
		lines[i] = eventtest.HostHeartbeat(eventtest.HostID(i), fullHeartbeat())
	}
	return lines
})

// reportPerEvent reports ns/event and the average event size; with one
// event per op, allocs/op is allocs/event.
func reportPerEvent(b *testing.B, lines [][]byte) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.ReportMetric(float64(size)/float64(len(lines)), "bytes/event")
}

// BenchmarkFold decodes and applies heartbeats into one Folder: the first
// pass over the hosts creates them, later passes update them.
func BenchmarkFold(b *testing.B) {
	lines := benchHeartbeats()
	f := projections.NewFolder(testLattice)
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.Add(uint64(i+1), lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPerEvent(b, lines)
	if len(f.Lattice.Hosts) != min(b.N, benchHosts) {
		b.Fatalf("%d hosts after %d events", len(f.Lattice.Hosts), b.N)
	}
}

// BenchmarkDecode decodes the same heartbeats without applying them, as
// the pipeline does: with one Decoder, whose caches share what recurs,
// warmed by one pass over the hosts.
func BenchmarkDecode(b *testing.B) {
	benchmarkDecode(b, projections.NewDecoder().Decode)
}

// BenchmarkDecodeUncached decodes them with the package-level Decode,
// which keeps nothing between calls.
func BenchmarkDecodeUncached(b *testing.B) {
	benchmarkDecode(b, projections.Decode)
}

func benchmarkDecode(b *testing.B, decode func([]byte) (projections.Event, error)) {
	lines := benchHeartbeats()
	for _, l := range lines {
		if _, err := decode(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := decode(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPerEvent(b, lines)
}

// BenchmarkDecodeMapEncodingJSON is the baseline: the same bytes decoded
// into map[string]any by encoding/json, with no validation at all.
func BenchmarkDecodeMapEncodingJSON(b *testing.B) {
	lines := benchHeartbeats()
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var m map[string]any
		if err := encjson.Unmarshal(lines[i%len(lines)], &m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPerEvent(b, lines)
}
