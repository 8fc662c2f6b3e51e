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

// NewDecoder returns a Decoder with empty caches. They take a few
// kilobytes at first and grow, as the values that recur need, up to about
// 1.5 MB.
func NewDecoder() *Decoder {
	// The seed only spreads values over the caches' slots.
	seed := maphash.MakeSeed()
	d := &Decoder{}
	d.strings.init(seed, 1<<16, stringKey)
	d.labels.init(seed, 1<<10, func(e *labelsEntry) string { return e.raw })
	d.hostIDs.init(seed, 1<<17, stringKey)
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
// never modified. Their tables start small, so that a Decoder for a few
// events costs little, and grow with the values seen.

// slotTable is the table of a direct-mapped cache. It grows eightfold, up
// to maxSlots, each time it has missed as often as it has slots: a table
// smaller than the values that recur keeps missing, one that holds them
// hardly misses any more.
type slotTable[E any] struct {
	seed     maphash.Seed
	maxSlots int
	// key is what an entry is looked up by, to place it again when the
	// table grows.
	key    func(*E) string
	table  atomic.Pointer[[]atomic.Pointer[E]]
	misses atomic.Uint64
}

// initialSlots is the size of a new table.
const initialSlots = 1 << 10

func (t *slotTable[E]) init(seed maphash.Seed, maxSlots int, key func(*E) string) {
	t.seed, t.maxSlots, t.key = seed, maxSlots, key
	slots := make([]atomic.Pointer[E], min(initialSlots, maxSlots))
	t.table.Store(&slots)
}

// slot returns the slot of the entry looked up by key.
func (t *slotTable[E]) slot(key []byte) *atomic.Pointer[E] {
	slots := *t.table.Load()
	return &slots[maphash.Bytes(t.seed, key)&uint64(len(slots)-1)]
}

// slotString is slot for a key held as a string.
func (t *slotTable[E]) slotString(key string) *atomic.Pointer[E] {
	slots := *t.table.Load()
	return &slots[maphash.String(t.seed, key)&uint64(len(slots)-1)]
}

// missed records a lookup that found nothing, and grows the table when it
// has missed as often as it has slots. The grown table starts with what
// the old one held; an entry stored in the old one meanwhile is lost, which
// only costs a miss.
func (t *slotTable[E]) missed() {
	cur := t.table.Load()
	n := len(*cur)
	if t.misses.Add(1) < uint64(n) || n >= t.maxSlots {
		return
	}
	grown := make([]atomic.Pointer[E], min(8*n, t.maxSlots))
	mask := uint64(len(grown) - 1)
	for i := range *cur {
		if e := (*cur)[i].Load(); e != nil {
			grown[maphash.String(t.seed, t.key(e))&mask].Store(e)
		}
	}
	if t.table.CompareAndSwap(cur, &grown) {
		t.misses.Store(0)
	}
}

// stringCache shares strings.
type stringCache struct {
	slotTable[string]
}

// get returns b as a string, shared with earlier calls for equal bytes.
func (c *stringCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxInterned {
		return string(b)
	}
	slot := c.slot(b)
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	c.missed()
	s := string(b)
	slot.Store(&s)
	return s
}

// maxInterned bounds the strings worth sharing: ids, names and versions
// are short; long values are rarely repeated.
const maxInterned = 128

// labelsCache shares label sets, keyed by the bytes of their JSON object.
type labelsCache struct {
	slotTable[labelsEntry]
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
		c.missed()
		c.slot(raw).Store(&labelsEntry{raw: string(raw), labels: labels})
	}
}

// maxLabelsInterned bounds the label objects that are cached.
const maxLabelsInterned = 1024

// stringSet remembers strings known to have a property that is costly to
// check, such as host ids that are valid nkeys. With 10,000 hosts about 7%
// of them share a slot with another in a full table; a collision only
// costs the check.
type stringSet struct {
	slotTable[string]
}

func (c *stringSet) has(s string) bool {
	p := c.slotString(s).Load()
	return p != nil && *p == s
}

func (c *stringSet) add(s string) {
	c.missed()
	c.slotString(s).Store(&s)
}

// stringKey is the key of a string entry: the string.
func stringKey(s *string) string { return *s }
