package streams

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotStore is the object store holding snapshots: the whole
// projection of one lattice at one stream sequence. Time travel and replay
// start from the newest snapshot at or below the point they rebuild, so
// their cost is bounded by the snapshot interval, not by the history.
const SnapshotStore = "LATTICE_SNAPSHOTS"

// SnapshotStoreStream is the stream behind SnapshotStore.
const SnapshotStoreStream = "OBJ_" + SnapshotStore

// DefaultSnapshotEvery is the default distance, in stream sequences,
// between consecutive snapshots of a lattice.
const DefaultSnapshotEvery = 10_000

// Metadata keys of a snapshot object.
const (
	SnapshotMetaLattice = "lattice"
	SnapshotMetaSeq     = "seq"
	// SnapshotMetaStream is the creation time of the event stream the
	// snapshot's sequences count in (see HeaderStreamCreated).
	SnapshotMetaStream = "stream_created"
	// SnapshotMetaSince is the sequence of the first event of the lattice
	// after the previous snapshot, "0" when there was none: it tells
	// whether a snapshot before this one still applies once the events
	// between them are gone.
	SnapshotMetaSince = "since"
	// SnapshotMetaCaptured is when the event at seq was captured.
	SnapshotMetaCaptured = "captured"
	SnapshotMetaFormat   = "format"
)

// SnapshotStoreConfig: snapshots are pruned by the projector once no
// retained event needs them, not by age.
func SnapshotStoreConfig(o Options) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      SnapshotStore,
		Description: "latticestate snapshots: the projection of a lattice at a stream sequence",
		Storage:     o.Storage,
		Replicas:    max(o.Replicas, 1),
	}
}

// SnapshotName names the snapshot of lattice at seq: <lattice>/<seq>, the
// sequence zero-padded so that names sort in sequence order.
func SnapshotName(lattice string, seq uint64) string {
	return fmt.Sprintf("%s/%020d", lattice, seq)
}

// ParseSnapshotName reads a name made by SnapshotName.
func ParseSnapshotName(name string) (lattice string, seq uint64, err error) {
	lattice, n, ok := strings.Cut(name, "/")
	if !ok || ValidateLattice(lattice) != nil {
		return "", 0, fmt.Errorf("snapshot name %q: want <lattice>/<sequence>", name)
	}
	if seq, err = strconv.ParseUint(n, 10, 64); err != nil {
		return "", 0, fmt.Errorf("snapshot name %q: %w", name, err)
	}
	return lattice, seq, nil
}

// SnapshotChunks matches the subjects of every snapshot's chunks;
// SnapshotChunkSubject is those of the object with the given NUID.
const SnapshotChunks = "$O." + SnapshotStore + ".C.>"

// SnapshotChunkSubject is where the chunks of the snapshot object with id
// nuid are stored.
func SnapshotChunkSubject(nuid string) string { return "$O." + SnapshotStore + ".C." + nuid }
