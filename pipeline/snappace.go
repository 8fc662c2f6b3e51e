package pipeline

import (
	"bytes"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Snapshots are compressed in the background while the projector applies
// events on the same cores. Compressing a 10,000-host lattice takes tens
// of milliseconds of one core: done at once it is a burst that holds the
// live path back (on two cores, for several times as long as the burst,
// while the backlog it left drains). So it is paced: after each piece the
// writer rests as long as the piece took, using at most half a core, and
// a snapshot takes about twice as long to write, well within the interval
// between two snapshots.
const snapshotPiece = 256 << 10

// snapshotEncoders are the streaming encoders of the snapshots being
// written, kept for the next ones. Their window is 1 MB, not the 8 MB
// default: a reader holds a window's worth of plain text while it
// decompresses, and documents sorted by key find their matches near by
// (the snapshots come out no larger).
var snapshotEncoders = make(chan *zstd.Encoder, maxSnapshotWrites)

// compressSnapshot compresses plain, resting between pieces when pace is
// set.
func compressSnapshot(plain []byte, pace bool) ([]byte, error) {
	var enc *zstd.Encoder
	select {
	case enc = <-snapshotEncoders:
	default:
		var err error
		if enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20)); err != nil {
			return nil, err
		}
	}
	out := bytes.NewBuffer(make([]byte, 0, len(plain)/8))
	enc.Reset(out)
	for len(plain) > 0 {
		start := time.Now()
		n := min(len(plain), snapshotPiece)
		if _, err := enc.Write(plain[:n]); err != nil {
			return nil, err
		}
		plain = plain[n:]
		if pace && len(plain) > 0 {
			time.Sleep(time.Since(start))
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	select {
	case snapshotEncoders <- enc:
	default:
	}
	return out.Bytes(), nil
}
