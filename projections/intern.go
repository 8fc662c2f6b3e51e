package projections

import (
	"hash/maphash"
	"sync/atomic"
)

// The values of a lattice's events recur: the same host ids, names,
// versions, actor and provider ids and label sets arrive in every
// heartbeat. Decoding shares one copy of each through small direct-mapped
// caches instead of allocating it again for every event. A slot holds the
// last value hashed to it; a collision only costs an allocation. Values
// handed out are shared and never modified.

var internSeed = maphash.MakeSeed()

// stringCache shares strings.
type stringCache struct {
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
	slot := &c.slots[maphash.Bytes(internSeed, b)&(uint64(len(c.slots))-1)]
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
	return &c.slots[maphash.Bytes(internSeed, raw)&(uint64(len(c.slots))-1)]
}

// maxLabelsInterned bounds the label objects that are cached.
const maxLabelsInterned = 1024

// stringSet remembers strings known to have a property that is costly to
// check, such as host ids that are valid nkeys. With 10,000 hosts about 7%
// of them share a slot with another; a collision only costs the check.
type stringSet struct {
	slots [1 << 17]atomic.Pointer[string]
}

func (c *stringSet) slot(s string) *atomic.Pointer[string] {
	return &c.slots[maphash.String(internSeed, s)&(uint64(len(c.slots))-1)]
}

func (c *stringSet) has(s string) bool {
	p := c.slot(s).Load()
	return p != nil && *p == s
}

func (c *stringSet) add(s string) { c.slot(s).Store(&s) }

var (
	sharedStrings stringCache
	sharedLabels  labelsCache
	validHostIDs  stringSet
)
