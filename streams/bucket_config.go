package streams

import (
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// StateBucket is the KV bucket holding the projections: the one bucket
// every reader uses. A replay rebuilds it in place.
const StateBucket = "LATTICE_STATE"

// MetaBucket holds the projectors' leases (LeaseKey), replay's requests
// to hand a lease over (YieldKey) and serve's host expiry (HostExpiryKey).
const MetaBucket = "LATTICE_META"

// LegacyActiveStateKey is where earlier versions named a rebuilt state
// bucket that readers were switched to; the projector removes it, since
// StateBucket is always the one in use now.
const LegacyActiveStateKey = "state_bucket"

// HostExpiryKey holds, in MetaBucket, the host expiry `serve` runs with as
// a Go duration ("0s": hosts never expire), so that readers can tell how
// long a stale host has left.
const HostExpiryKey = "host_expiry"

// MetaBucketConfig keeps the last value of each key.
func MetaBucketConfig(o Options) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      MetaBucket,
		Description: "latticestate: projector leases",
		History:     1,
		Storage:     o.Storage,
		Replicas:    max(o.Replicas, 1),
	}
}

// StateBucketConfig: the current documents only; history is the event
// stream's job.
func StateBucketConfig(o Options) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "latticestate projections: hosts, links and ref maps per lattice",
		History:     1,
		Storage:     o.Storage,
		Replicas:    max(o.Replicas, 1),
	}
}

// BucketStream is the stream behind a KV bucket.
func BucketStream(bucket string) string { return "KV_" + bucket }

// BucketSubject is the subject a key of bucket is stored under.
func BucketSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// HeaderKVOperation marks, on a message of a bucket's stream, a key
// deleted (KVOpDelete) or purged (KVOpPurge); a put has none. The projector
// writes and reads the state bucket's stream directly, so it spells them.
const (
	HeaderKVOperation = "KV-Operation"
	KVOpDelete        = "DEL"
	KVOpPurge         = "PURGE"
)

// IsKVRemoval reports whether op, a HeaderKVOperation value, removes the
// key.
func IsKVRemoval(op string) bool { return op == KVOpDelete || op == KVOpPurge }

// Keys of documents in the state bucket.

// HostKey is <lattice>.hosts.<host_id>; host ids are validated nkeys.
func HostKey(lattice, hostID string) string { return lattice + ".hosts." + hostID }

// HostKeys matches every host of lattice.
func HostKeys(lattice string) string { return lattice + ".hosts.*" }

// AllHostKeys matches every host of every lattice.
func AllHostKeys() string { return HostKeys("*") }

// LatticeKeys matches every document of lattice.
func LatticeKeys(lattice string) string { return lattice + ".>" }

// LinkKeys matches every link of lattice.
func LinkKeys(lattice string) string { return lattice + ".links.*" }

// RefmapKeys matches every ref map entry of lattice.
func RefmapKeys(lattice string) string { return lattice + ".refmaps.*" }

// DocumentKeys matches every host, link and ref map of every lattice.
func DocumentKeys() []string { return []string{AllHostKeys(), LinkKeys("*"), RefmapKeys("*")} }

// LatticeOfKey returns the lattice of a host, link or ref map key; ok is
// false for any other key (such as the checkpoints under _meta).
func LatticeOfKey(key string) (lattice string, ok bool) {
	lattice, rest, found := strings.Cut(key, ".")
	if !found {
		return "", false
	}
	kind, id, found := strings.Cut(rest, ".")
	if !found || id == "" {
		return "", false
	}
	switch kind {
	case "hosts", "links", "refmaps":
		return lattice, ValidateLattice(lattice) == nil
	}
	return "", false
}

// LinkKey is <lattice>.links.<escaped link key>.
func LinkKey(lattice, key string) string { return lattice + ".links." + EscapeKey(key) }

// RefmapKey is <lattice>.refmaps.<escaped OCI reference>.
func RefmapKey(lattice, ociURL string) string { return lattice + ".refmaps." + EscapeKey(ociURL) }

// MetaKeys matches every key under _meta: the checkpoints, which the
// projector writes after the documents of each batch.
func MetaKeys() string { return "_meta.>" }

// CheckpointKey holds the last stream sequence the projector named consumer
// applied completely.
func CheckpointKey(consumer string) string {
	if consumer == ProjectorConsumer {
		return "_meta.checkpoint"
	}
	return "_meta.checkpoint." + consumer
}

// EscapeKey makes s one KV key token: letters, digits, '-', '_' and '/' stay;
// every other byte becomes =XX (hex), so "wasmcloud:httpserver" becomes
// "wasmcloud=3Ahttpserver" and no '.' splits the token.
func EscapeKey(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
