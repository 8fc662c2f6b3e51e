package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/direct"
	"latticestate/streams"
)

// A snapshot is the projection of one lattice at a stream sequence S:
// exactly the events at or below S folded, as the live projector held it.
// It is stored as an object of streams.SnapshotStore (whose SHA-256 digest
// the client checks on every read), zstd-compressed: a header line
//
//	{"format":1,"lattice":"default","seq":12000}
//
// then one line per live document, sorted by key: the key, a tab, and the
// document exactly as the state bucket stores it.
const snapshotFormat = 1

type snapshotHeader struct {
	Format  int    `json:"format"`
	Lattice string `json:"lattice"`
	Seq     uint64 `json:"seq"`
}

// zstdEncoder compresses snapshots. Its window is 1 MB, not the 8 MB
// default: a reader holds a window's worth of plain text while it
// decompresses, and documents sorted by key find their matches near by
// (the snapshots come out no larger).
var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))

// snapshotBuffers hold the plain text of a snapshot while it is
// compressed: a 10,000-host lattice is about 12 MB. They are kept, not
// pooled: a pool is emptied by every garbage collection, and allocating
// them again is most of what a snapshot costs the collector.
var snapshotBuffers = make(chan *[]byte, maxSnapshotWrites)

func snapshotBuffer() *[]byte {
	select {
	case b := <-snapshotBuffers:
		return b
	default:
		return new([]byte)
	}
}

func releaseSnapshotBuffer(b *[]byte) {
	select {
	case snapshotBuffers <- b:
	default:
	}
}

// encodeSnapshot encodes the live documents of lattice at seq.
func encodeSnapshot(lattice string, seq uint64, docs []*document) ([]byte, error) {
	slices.SortFunc(docs, func(a, b *document) int { return strings.Compare(a.key, b.key) })
	hdr, err := json.Marshal(snapshotHeader{Format: snapshotFormat, Lattice: lattice, Seq: seq})
	if err != nil {
		return nil, err
	}
	pooled := snapshotBuffer()
	defer releaseSnapshotBuffer(pooled)
	b := slices.Grow((*pooled)[:0], len(hdr)+1+len(docs)*1100)
	b = append(append(b, hdr...), '\n')
	for _, d := range docs {
		b = append(append(b, d.key...), '\t')
		if b, err = d.appendEncoded(b); err != nil {
			return nil, fmt.Errorf("snapshot of %s at %d: encode %s: %w", lattice, seq, d.key, err)
		}
		b = append(b, '\n')
	}
	*pooled = b
	return zstdEncoder.EncodeAll(b, make([]byte, 0, len(b)/8)), nil
}

// decodeSnapshot reads a snapshot made by encodeSnapshot, checking that it
// is the one of lattice at seq. It decompresses as it parses, a line at a
// time, so that the plain text (12 MB for 10,000 hosts) is never held
// whole beside the documents decoded from it.
func decodeSnapshot(raw []byte, lattice string, seq uint64) ([]*document, error) {
	docs, err := readSnapshotLines(raw, lattice, seq)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s at %d: %w", lattice, seq, err)
	}
	return docs, nil
}

func readSnapshotLines(raw []byte, lattice string, seq uint64) ([]*document, error) {
	// A decoder of its own, closed when done: a shared one keeps the
	// buffers of the largest snapshot it read for the life of the process.
	zr, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	lines := snapshotLines{r: bufio.NewReaderSize(zr, 64<<10)}
	line, err := lines.next()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(line, &hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if hdr.Format != snapshotFormat || hdr.Lattice != lattice || hdr.Seq != seq {
		return nil, fmt.Errorf("header says format %d, lattice %s, seq %d", hdr.Format, hdr.Lattice, hdr.Seq)
	}
	prefix := []byte(lattice + ".")
	var docs []*document
	for {
		line, err := lines.next()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		key, body, ok := bytes.Cut(line, []byte{'\t'})
		if !ok || !bytes.HasPrefix(key, prefix) {
			return nil, fmt.Errorf("malformed line %.40q", line)
		}
		d, err := decodeDocument(string(key), 0, "", "", body)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
}

// snapshotLines reads the lines of a snapshot's plain text.
type snapshotLines struct {
	r *bufio.Reader
	// long holds a line longer than r's buffer.
	long []byte
}

// next returns the next line without its newline, valid until the next
// call; io.EOF at the end. Every line of a snapshot ends with a newline:
// one that does not is cut short.
func (s *snapshotLines) next() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = s.r.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, fmt.Errorf("line %.40q cut short: %w", line, io.ErrUnexpectedEOF)
	case err != nil:
		return nil, err
	}
	return line[:len(line)-1], nil
}

// snapInfo describes a stored snapshot.
type snapInfo struct {
	name    string
	lattice string
	seq     uint64
	// since is the first event of the lattice after the previous snapshot
	// (0: none before seq).
	since uint64
	// stream is the creation time of the stream the sequences count in.
	stream   string
	captured time.Time
}

// snapIndex lists the snapshots of each lattice in ascending sequence.
type snapIndex map[string][]snapInfo

// listSnapshots reads the metadata of every snapshot in obs.
func listSnapshots(ctx context.Context, obs direct.ObjectReader) (snapIndex, error) {
	objs, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return snapIndex{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	idx := snapIndex{}
	for _, o := range objs {
		s, ok := parseSnapInfo(o)
		if ok {
			idx[s.lattice] = append(idx[s.lattice], s)
		}
	}
	for l := range idx {
		slices.SortFunc(idx[l], func(a, b snapInfo) int { return compareSeq(a.seq, b.seq) })
	}
	return idx, nil
}

func parseSnapInfo(o *jetstream.ObjectInfo) (snapInfo, bool) {
	lattice, seq, err := streams.ParseSnapshotName(o.Name)
	if err != nil || o.Metadata[streams.SnapshotMetaFormat] != strconv.Itoa(snapshotFormat) {
		return snapInfo{}, false
	}
	since, _ := strconv.ParseUint(o.Metadata[streams.SnapshotMetaSince], 10, 64)
	captured, _ := time.Parse(time.RFC3339Nano, o.Metadata[streams.SnapshotMetaCaptured])
	return snapInfo{name: o.Name, lattice: lattice, seq: seq, since: since,
		stream: o.Metadata[streams.SnapshotMetaStream], captured: captured}, true
}

// of returns the snapshots of lattice taken of the stream created at
// stream.
func (x snapIndex) of(lattice, stream string) []snapInfo {
	var out []snapInfo
	for _, s := range x[lattice] {
		if s.stream == stream {
			out = append(out, s)
		}
	}
	return out
}

// streamView is what the history of a stream looks like now.
type streamView struct {
	first, last uint64
	created     string
}

func viewOf(info *jetstream.StreamInfo) streamView {
	return streamView{first: info.State.FirstSeq, last: info.State.LastSeq, created: streamIdentity(info.Created)}
}

// streamIdentity is how a stream's creation time is recorded.
func streamIdentity(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// retainedAfter reports whether every event of the lattice after snaps[i]
// (i = -1: from the start) up to the next snapshot is still in the stream:
// the state from snaps[i] on can be rebuilt exactly.
func (v streamView) retainedAfter(snaps []snapInfo, i int) bool {
	if v.first <= 1 {
		return true
	}
	if i >= 0 && snaps[i].seq+1 >= v.first {
		return true
	}
	if i+1 < len(snaps) {
		next := snaps[i+1].since
		return next == 0 || next >= v.first
	}
	return false
}

// start picks where to rebuild a lattice at point p from: the index of the
// newest snapshot at or below p (-1: from the start of the stream), and
// whether the events from there to p are all retained.
func (v streamView) start(snaps []snapInfo, p uint64) (int, bool) {
	i := -1
	for j := range snaps {
		if snaps[j].seq <= p {
			i = j
		}
	}
	if i >= 0 && snaps[i].seq == p {
		return i, true
	}
	return i, v.retainedAfter(snaps, i)
}

// earliest returns the earliest point of the lattice that can still be
// rebuilt exactly, and false when there is none.
func (v streamView) earliest(snaps []snapInfo) (uint64, time.Time, bool) {
	if v.first <= 1 {
		return 1, time.Time{}, true
	}
	at, when, ok := uint64(0), time.Time{}, false
	for i := len(snaps) - 1; i >= -1; i-- {
		if !v.retainedAfter(snaps, i) {
			break
		}
		if i < 0 {
			return 1, time.Time{}, true
		}
		at, when, ok = snaps[i].seq, snaps[i].captured, true
	}
	return at, when, ok
}

// snapshotCache keeps the documents of the snapshots used last: readers
// travelling in time near one point read the same snapshot again.
type snapshotCache struct {
	mu   sync.Mutex
	docs recent[string, []*document]
}

const snapshotCacheSize = 4

func newSnapshotCache() *snapshotCache {
	return &snapshotCache{docs: recent[string, []*document]{size: snapshotCacheSize}}
}

func (c *snapshotCache) get(name string) ([]*document, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.docs.get(name)
}

func (c *snapshotCache) put(name string, docs []*document) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.docs.put(name, docs)
}

// readSnapshot reads and decodes a snapshot; the object store checks its
// digest.
func readSnapshot(ctx context.Context, obs direct.ObjectReader, s snapInfo, cache *snapshotCache) ([]*document, error) {
	if cache != nil {
		if docs, ok := cache.get(s.name); ok {
			return docs, nil
		}
	}
	raw, err := obs.GetBytes(ctx, s.name)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", s.name, err)
	}
	docs, err := decodeSnapshot(raw, s.lattice, s.seq)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.put(s.name, docs)
	}
	return docs, nil
}
