package view

import (
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/eventtest"
	"latticestate/projections"
	"latticestate/streams"
)

// entry is a bucket entry as a watch delivers it.
type entry struct {
	key   string
	value []byte
	rev   uint64
	op    jetstream.KeyValueOp
}

var _ jetstream.KeyValueEntry = entry{}

func (e entry) Bucket() string                  { return streams.StateBucket }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return time.Time{} }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

// benchHost is a host of a large lattice: a few labels (one of them with a
// value per host), three actors, two providers.
func benchHost(i int) *projections.Host {
	return &projections.Host{HostID: eventtest.HostID(i), Lattice: "default", FriendlyName: fmt.Sprintf("host-%06d", i),
		Version: fmt.Sprintf("1.%d.0", i%4), Status: []string{projections.StatusUp, projections.StatusStale}[min(i%50, 1)],
		Labels: map[string]string{"zone": fmt.Sprintf("zone-%d", i%5), "hostcore.os": "linux", "node": fmt.Sprintf("node-%d", i)},
		Actors: map[string]projections.Actor{"MAECHO": {Count: 2, Status: projections.StatusHealthy},
			"MAKV": {Count: 1, Status: projections.StatusAwaiting}, fmt.Sprintf("MAOWN%d", i): {Count: 1, Status: projections.StatusAwaiting}},
		Providers: map[string]projections.Provider{
			"VHTTP/default": {PublicKey: "VHTTP", LinkName: "default", ContractID: "wasmcloud:httpserver", Status: projections.StatusHealthy},
			"VKV/default":   {PublicKey: "VKV", LinkName: "default", ContractID: "wasmcloud:keyvalue", Status: projections.StatusAwaiting}},
		Seq: uint64(i + 1)}
}

// loadedView is a view holding n hosts, as after its first load.
func loadedView(tb testing.TB, n int) *View {
	tb.Helper()
	v, err := New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	v.log = slog.New(slog.DiscardHandler)
	st := &state{lattices: map[string]*latticeState{}}
	for i := range n {
		h := benchHost(i)
		b, err := projections.AppendHost(nil, h)
		if err != nil {
			tb.Fatal(err)
		}
		v.apply(st, entry{key: streams.HostKey("default", h.HostID), value: b, rev: uint64(i + 1)}, true)
	}
	for _, l := range st.lattices {
		l.loaded()
	}
	v.st = st
	return v
}

// BenchmarkView_Summary measures GET …/summary's work: the counts of a
// lattice as JSON, after one host changed (so nothing is cached).
func BenchmarkView_Summary(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			v := loadedView(b, n)
			l := v.st.lattices["default"]
			rev := uint64(n)
			b.ResetTimer()
			for b.Loop() {
				rev++
				l.rev = rev
				if _, err := v.SummaryJSON("default"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkView_Hosts measures a page of hosts with and without filters.
func BenchmarkView_Hosts(b *testing.B) {
	v := loadedView(b, 10_000)
	for _, q := range []string{"", "label=zone%3Dzone-3", "q=node-99", "status=stale&label=zone"} {
		vals, _ := url.ParseQuery(q)
		f, err := ParseFilter(vals)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("hosts=10000/%s", q), func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Hosts("default", f, PageRequest{Limit: 100, After: eventtest.HostID(17)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkView_Apply measures one host change applied, with 1,000
// watchers of 100 hosts each.
func BenchmarkView_Apply(b *testing.B) {
	v := loadedView(b, 10_000)
	l := v.st.lattices["default"]
	for w := range 1000 {
		ids := map[string]bool{}
		for i := range 100 {
			ids[eventtest.HostID((w*100+i)%10_000)] = true
		}
		s := newSubscription(v, "default", Filter{IDs: ids}, WatchOptions{Hosts: true, Summary: true}, 1<<30)
		l.subs.add(s)
	}
	entries := make([]entry, 100)
	for i := range entries {
		h := benchHost(i * 97)
		doc, _ := projections.AppendHost(nil, h)
		entries[i] = entry{key: streams.HostKey("default", h.HostID), value: doc}
	}
	rev := uint64(10_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rev++
		e := entries[i%100]
		e.rev = rev
		v.apply(v.st, e, false)
		if i%1000 == 999 {
			for s := range l.subs.all {
				s.Take(nil)
			}
		}
	}
}

// BenchmarkView_ApplyAlone measures one host change applied with no
// watcher: decode, counts, search text.
func BenchmarkView_ApplyAlone(b *testing.B) {
	v := loadedView(b, 10_000)
	entries := make([]entry, 100)
	for i := range entries {
		h := benchHost(i * 97)
		doc, _ := projections.AppendHost(nil, h)
		entries[i] = entry{key: streams.HostKey("default", h.HostID), value: doc}
	}
	rev := uint64(10_000)
	for i := 0; b.Loop(); i++ {
		rev++
		e := entries[i%100]
		e.rev = rev
		v.apply(v.st, e, false)
	}
}
