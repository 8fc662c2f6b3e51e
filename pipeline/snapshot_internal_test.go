package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// A snapshot decodes to the documents it was encoded from, and refuses
// to be read as another lattice's or sequence's.
func TestSnapshot_RoundTrip(t *testing.T) {
	set := newDocSet()
	host := "NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I"
	for i, raw := range [][]byte{
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{"zone": "a"}}}),
		eventtest.ActorStarted(host, "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5"),
	} {
		set.add(uint64(i+1), "wasmbus.evt.default", raw)
	}
	docs := set.lattice("default")
	require.Len(t, docs, 1)
	raw, err := encodeSnapshot("default", 2, docs)
	require.NoError(t, err)
	got, err := decodeSnapshot(raw, "default", 2)
	require.NoError(t, err)
	require.Len(t, got, 1)
	a, err := docs[0].encode()
	require.NoError(t, err)
	b, err := got[0].encode()
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b))
	require.Equal(t, uint64(2), got[0].Seq)

	_, err = decodeSnapshot(raw, "other", 2)
	require.ErrorContains(t, err, "header says")
	_, err = decodeSnapshot(raw, "default", 3)
	require.ErrorContains(t, err, "header says")
	_, err = decodeSnapshot([]byte("not zstd"), "default", 2)
	require.Error(t, err)
}

// A snapshot decodes to its documents whatever their size (a line longer
// than the reader's buffer included), and one corrupt or cut short is
// refused, never read as fewer documents.
func TestSnapshot_DecodeCorrupt(t *testing.T) {
	docs := snapshotDocs(t, 300)
	big := *docs[0]
	big.Host = big.Host.Clone()
	big.Host.Labels = map[string]string{"big": strings.Repeat("x", 200<<10)}
	docs[0] = &big
	raw, err := encodeSnapshot("default", 9, docs)
	require.NoError(t, err)
	got, err := decodeSnapshot(raw, "default", 9)
	require.NoError(t, err)
	require.Len(t, got, len(docs))
	for i := range docs {
		a, err := docs[i].encode()
		require.NoError(t, err)
		b, err := got[i].encode()
		require.NoError(t, err)
		require.Equal(t, string(a), string(b), "document %d", i)
	}

	plain, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer plain.Close()
	text, err := plain.DecodeAll(raw, nil)
	require.NoError(t, err)
	compress := func(b []byte) []byte { return zstdEncoder.EncodeAll(b, nil) }
	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 0x55
	lastLine := bytes.LastIndexByte(text[:len(text)-1], '\n') + 1
	for name, c := range map[string]struct {
		raw  []byte
		want string
	}{
		"compressed bytes cut short": {raw[:len(raw)/2], ""},
		"a compressed byte changed":  {flipped, ""},
		"empty":                      {nil, "header"},
		"last line cut short":        {compress(text[:len(text)-1]), "cut short"},
		"last line cut in two":       {compress(text[:lastLine+20]), "cut short"},
		"line without a key":         {compress(append(bytes.Clone(text), "{}\n"...)), "malformed line"},
		"another lattice's line":     {compress(append(bytes.Clone(text), "other.hosts.N\t{}\n"...)), "malformed line"},
		"a document that is not":     {compress(append(bytes.Clone(text), "default.hosts.N\t{\n"...)), "document default.hosts.N"},
	} {
		t.Run(name, func(t *testing.T) {
			docs, err := decodeSnapshot(c.raw, "default", 9)
			require.Error(t, err)
			require.Nil(t, docs)
			require.ErrorContains(t, err, "snapshot of default at 9: ")
			require.ErrorContains(t, err, c.want)
		})
	}
}

// Which snapshot a point starts from, and whether the retained events
// continue it.
func TestStreamView_Start(t *testing.T) {
	snaps := []snapInfo{{seq: 100, since: 5}, {seq: 200, since: 150}, {seq: 300, since: 0}, {seq: 400, since: 390}}
	cases := []struct {
		name  string
		first uint64
		p     uint64
		i     int
		ok    bool
	}{
		{"whole history, before any snapshot", 1, 50, -1, true},
		{"whole history, at a snapshot", 1, 200, 1, true},
		{"whole history, between snapshots", 1, 250, 1, true},
		{"trimmed, the snapshot is at the point", 500, 400, 3, true},
		{"trimmed, retained events continue the snapshot", 201, 250, 1, true},
		{"trimmed, the next snapshot says no event followed", 250, 280, 1, true},
		{"trimmed, the first event after the snapshot is retained", 302, 350, 2, true},
		{"trimmed, the first event after the snapshot is gone", 395, 350, 2, false},
		{"trimmed, before every snapshot", 50, 60, -1, false},
		{"trimmed, the first snapshot's lattice began after the cut", 3, 60, -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := streamView{first: c.first, last: 1000}
			i, ok := v.start(snaps, c.p)
			require.Equal(t, c.i, i)
			require.Equal(t, c.ok, ok)
		})
	}
}

func TestStreamView_Earliest(t *testing.T) {
	snaps := []snapInfo{{seq: 100, since: 5}, {seq: 200, since: 150}, {seq: 300, since: 0}, {seq: 400, since: 390}}
	at, _, ok := streamView{first: 1}.earliest(snaps)
	require.True(t, ok)
	require.Equal(t, uint64(1), at)
	at, _, ok = streamView{first: 201}.earliest(snaps)
	require.True(t, ok)
	require.Equal(t, uint64(200), at)
	at, _, ok = streamView{first: 350}.earliest(snaps)
	require.True(t, ok)
	require.Equal(t, uint64(200), at, "nothing followed 200 before 300, and 390 is retained")
	at, _, ok = streamView{first: 395}.earliest(snaps)
	require.True(t, ok)
	require.Equal(t, uint64(400), at, "390 is gone")
	_, _, ok = streamView{first: 500}.earliest(snaps[:2])
	require.False(t, ok, "the newest snapshot is older than the stream")
}

// The snapshotter's boundaries: a boundary is due once, before the first
// event past it, when the projector holds every event up to it.
func TestSnapshotter_BoundaryBefore(t *testing.T) {
	s := &snapshotter{every: 1000, step: 100}
	require.Equal(t, uint64(100), s.boundaryBefore(57, 101))
	require.Equal(t, uint64(300), s.boundaryBefore(99, 350), "no events between: the state at 99 is the state at 300")
	require.Zero(t, s.boundaryBefore(57, 99), "no boundary crossed")
	require.Zero(t, s.boundaryBefore(150, 151), "crossed before")
	s.boundary = 300
	require.Zero(t, s.boundaryBefore(99, 350), "handled already")
	require.Equal(t, uint64(400), s.boundaryFrom(301))
	require.Equal(t, uint64(400), s.boundaryFrom(400))
}

// snapshotDocs builds the documents of n hosts with a few actors and
// providers each, about 1 KB of JSON apiece.
func snapshotDocs(tb testing.TB, n int) []*document {
	tb.Helper()
	set := newDocSet()
	for i := range n {
		host := eventtest.HostID(i)
		set.add(uint64(i+1), "wasmbus.evt.default", eventtest.HostHeartbeat(host, eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: "host", Version: "0.56.0", Labels: map[string]string{"zone": "a", "hostcore.os": "linux"}},
			Actors:   map[string]uint64{"MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5": 2},
			Providers: []eventtest.Provider{{ID: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", LinkName: "default",
				ContractID: "wasmcloud:httpserver"}},
		}))
	}
	return set.lattice("default")
}

// A snapshot of documents that keep the bytes last written is the one
// encoding them gives, and a changed copy of a document does not keep its
// original's bytes.
func TestSnapshot_ReusesWrittenBytes(t *testing.T) {
	docs := snapshotDocs(t, 50)
	plain, err := encodeSnapshot("default", 7, docs)
	require.NoError(t, err)
	written := make([]*document, len(docs))
	for i, d := range docs {
		c := *d
		require.NoError(t, c.keepEncoded())
		written[i] = &c
	}
	reused, err := encodeSnapshot("default", 7, written)
	require.NoError(t, err)
	require.Equal(t, plain, reused)

	host := written[0].Host.HostID
	next, _, changed := foldDocument(written[0], []*projections.Event{{Seq: 1000, Lattice: "default", Kind: projections.KindHostStopped, HostID: host}})
	require.True(t, changed)
	require.Nil(t, next.enc, "a changed copy is encoded again")
}

// A snapshot of documents that keep the encoding of their actors and
// providers, as the applier folds them, is the one encoding them afresh
// gives: after heartbeats that keep the inventory, and after events that
// change it.
func TestSnapshot_ReusesInventories(t *testing.T) {
	docs := snapshotDocs(t, 20)
	for _, d := range docs {
		d.keepInventory()
	}
	host := eventtest.HostID(3)
	for i, raw := range [][]byte{
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: "renamed", Version: "0.57.0", UptimeSeconds: 30},
			Actors:   map[string]uint64{"MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5": 2},
			Providers: []eventtest.Provider{{ID: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", LinkName: "default",
				ContractID: "wasmcloud:httpserver"}},
		}),
		eventtest.ActorStarted(host, "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5"),
		eventtest.HealthCheck(host, true, eventtest.Provider{ID: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", LinkName: "default"}),
	} {
		ev, key, err := decodeEvent(nil, uint64(100+i), "wasmbus.evt.default", raw)
		require.NoError(t, err)
		j := slices.IndexFunc(docs, func(d *document) bool { return d.key == key })
		require.GreaterOrEqual(t, j, 0)
		prev := docs[j]
		next, _, changed := foldDocument(prev, []*projections.Event{&ev})
		require.True(t, changed)
		next.keepInventory()
		if i == 0 {
			require.Same(t, prev.inv, next.inv, "a heartbeat that keeps the inventory keeps its encoding")
		} else {
			require.NotSame(t, prev.inv, next.inv, "%s changes the inventory", ev.Kind)
		}
		docs[j] = next

		fresh := make([]*document, len(docs))
		for k, d := range docs {
			c := *d
			c.inv = nil
			fresh[k] = &c
		}
		want, err := encodeSnapshot("default", 7, fresh)
		require.NoError(t, err)
		got, err := encodeSnapshot("default", 7, docs)
		require.NoError(t, err)
		require.Equal(t, want, got, "after %s", ev.Kind)
	}
}

// BenchmarkSnapshot: encoding and decoding the snapshot of a 10,000-host
// lattice, the work a snapshot adds per interval and an as-of read per
// snapshot not cached.
func BenchmarkSnapshot(b *testing.B) {
	docs := snapshotDocs(b, 10_000)
	raw, err := encodeSnapshot("default", 1, docs)
	require.NoError(b, err)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeSnapshot("default", 1, docs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(raw)), "bytes")
	})
	// As the projector holds them with snapshots on: each document keeps
	// the bytes its last write sent.
	written := make([]*document, len(docs))
	for i, d := range docs {
		c := *d
		require.NoError(b, c.keepEncoded())
		written[i] = &c
	}
	b.Run("encode-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeSnapshot("default", 1, written); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As the applier holds them between writes: each document keeps the
	// encoding of its actors and providers, which its last heartbeat left
	// as they were.
	folded := make([]*document, len(docs))
	for i, d := range docs {
		c := *d
		c.keepInventory()
		folded[i] = &c
	}
	b.Run("encode-folded", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeSnapshot("default", 1, folded); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeSnapshot(raw, "default", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Chunks left without an object by a crash are purged; an object's are
// kept.
func TestProjector_PurgeOrphans(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	p, err := New(ctx, js, res, WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	kept, err := res.Snapshots.PutBytes(ctx, streams.SnapshotName("default", 10), []byte("snapshot"))
	require.NoError(t, err)
	_, err = js.Publish(ctx, streams.SnapshotChunkSubject("ORPHAN"), []byte("cut short"))
	require.NoError(t, err)

	defer func(age time.Duration) { orphanAge = age }(orphanAge)
	orphanAge = time.Hour
	p.applier.snaps.purgeOrphans(ctx)
	chunks := func() map[string]uint64 {
		st, err := js.Stream(ctx, streams.SnapshotStoreStream)
		require.NoError(t, err)
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(streams.SnapshotChunks))
		require.NoError(t, err)
		return info.State.Subjects
	}
	require.Contains(t, chunks(), streams.SnapshotChunkSubject("ORPHAN"), "too recent: it may be a write in progress")

	orphanAge = 0
	p.applier.snaps.purgeOrphans(ctx)
	got := chunks()
	require.NotContains(t, got, streams.SnapshotChunkSubject("ORPHAN"))
	require.Contains(t, got, streams.SnapshotChunkSubject(kept.NUID))
	b, err := res.Snapshots.GetBytes(ctx, kept.Name)
	require.NoError(t, err)
	require.Equal(t, "snapshot", string(b))
}
