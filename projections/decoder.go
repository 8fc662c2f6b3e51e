package projections

import (
	"hash/maphash"
	"sync/atomic"
)

// Decoder decodes events as Decode does, and shares one copy of the values
// that recur from event to event: the same host ids, names, versions, actor
// and provider ids and label sets arrive in every heartbeat. Its caches
// change which allocations happen, never what is decoded. A Decoder is safe
// for concurrent use; the pipeline holds one for as long as it runs. A nil
// *Decoder decodes without caches.
type Decoder struct {
	strings stringCache
	labels  labelsCache
	hostIDs stringSet
}

// NewDecoder returns a Decoder with empty caches (about 1.5 MB).
func NewDecoder() *Decoder {
	// The seed only spreads values over the caches' slots.
	seed := maphash.MakeSeed()
	d := &Decoder{}
	d.strings.seed, d.labels.seed, d.hostIDs.seed = seed, seed, seed
	return d
}

// Decode parses and validates one CloudEvent in JSON structured mode, as
// the package-level Decode does.
func (d *Decoder) Decode(raw []byte) (Event, error) {
	if ev, ok := d.decodeFast(raw); ok {
		return ev, nil
	}
	return d.decodeStrict(raw)
}

// str returns b as a string, shared with earlier calls for equal bytes.
func (d *Decoder) str(b []byte) string {
	if d == nil {
		return string(b)
	}
	return d.strings.get(b)
}

// cachedLabels returns the labels decoded before from the JSON object raw,
// or nil.
func (d *Decoder) cachedLabels(raw []byte) map[string]string {
	if d == nil {
		return nil
	}
	return d.labels.get(raw)
}

// keepLabels remembers that the JSON object raw decodes to labels.
func (d *Decoder) keepLabels(raw []byte, labels map[string]string) {
	if d != nil {
		d.labels.put(raw, labels)
	}
}

// checkHostID rejects a host id that is not a valid server public nkey
// (see ValidHostID), remembering the ids that are.
func (d *Decoder) checkHostID(id string) error {
	if d != nil && d.hostIDs.has(id) {
		return nil
	}
	if !ValidHostID(id) {
		return reject(ErrInvalidHostID, "%q is not a server public nkey", truncate(id))
	}
	if d != nil {
		d.hostIDs.add(id)
	}
	return nil
}

// The caches are direct-mapped: a slot holds the last value hashed to it,
// and a collision only costs an allocation. Values handed out are shared and
// never modified.

// stringCache shares strings.
type stringCache struct {
	seed  maphash.Seed
	slots [1 << 16]atomic.Pointer[string]
}

// get returns b as a string, shared with earlier calls for equal bytes.
func (c *stringCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxInterned {
		return string(b)
	}
	slot := &c.slots[maphash.Bytes(c.seed, b)&(uint64(len(c.slots))-1)]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// maxInterned bounds the strings worth sharing: ids, names and versions
// are short; long values are rarely repeated.
const maxInterned = 128

// labelsCache shares label sets, keyed by the bytes of their JSON object.
type labelsCache struct {
	seed  maphash.Seed
	slots [1 << 10]atomic.Pointer[labelsEntry]
}

type labelsEntry struct {
	raw    string
	labels map[string]string
}

// get returns the labels cached for raw, or nil.
func (c *labelsCache) get(raw []byte) map[string]string {
	if e := c.slot(raw).Load(); e != nil && e.raw == string(raw) {
		return e.labels
	}
	return nil
}

// put caches labels for raw, unless raw is too long to be worth it.
func (c *labelsCache) put(raw []byte, labels map[string]string) {
	if len(raw) <= maxLabelsInterned {
		c.slot(raw).Store(&labelsEntry{raw: string(raw), labels: labels})
	}
}

func (c *labelsCache) slot(raw []byte) *atomic.Pointer[labelsEntry] {
	return &c.slots[maphash.Bytes(c.seed, raw)&(uint64(len(c.slots))-1)]
}

// maxLabelsInterned bounds the label objects that are cached.
const maxLabelsInterned = 1024

// stringSet remembers strings known to have a property that is costly to
// check, such as host ids that are valid nkeys. With 10,000 hosts about 7%
// of them share a slot with another; a collision only costs the check.
type stringSet struct {
	seed  maphash.Seed
	slots [1 << 17]atomic.Pointer[string]
}

func (c *stringSet) slot(s string) *atomic.Pointer[string] {
	return &c.slots[maphash.String(c.seed, s)&(uint64(len(c.slots))-1)]
}

func (c *stringSet) has(s string) bool {
	p := c.slot(s).Load()
	return p != nil && *p == s
}

func (c *stringSet) add(s string) { c.slot(s).Store(&s) }
