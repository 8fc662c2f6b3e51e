package projections

import (
	"slices"
	"strconv"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// AppendHost appends the host document h to b: its members in the order of
// Host's fields, map keys sorted, without reflection (the pipeline writes
// one for every changed host). It fails on strings that are not valid
// UTF-8. It is the one encoder of hosts: Marshal and json.Marshal use it
// through MarshalJSON.
func AppendHost(b []byte, h *Host) ([]byte, error) {
	return AppendHostWith(b, h, nil)
}

// AppendHostWith is AppendHost, and appends the same bytes, taking the
// encoding of h's labels, actors and providers from inv where inv was made
// from h's very maps (see InventoryOf); otherwise, or when inv is nil, it
// encodes them.
func AppendHostWith(b []byte, h *Host, inv *Inventory) ([]byte, error) {
	e := appender{b: b}
	e.str(`{"host_id":`, h.HostID)
	e.str(`,"lattice":`, h.Lattice)
	e.str(`,"friendly_name":`, h.FriendlyName)
	e.str(`,"version":`, h.Version)
	if inv != nil && sameMap(inv.labels, h.Labels) {
		e.b = append(e.b, inv.labelsEnc...)
	} else {
		e.labels(h.Labels)
	}
	if h.LabelsOutcome != "" {
		e.str(`,"labels_outcome":`, h.LabelsOutcome)
	}
	e.uint(`,"uptime_seconds":`, h.UptimeSeconds)
	e.str(`,"uptime_human":`, h.UptimeHuman)
	e.str(`,"status":`, h.Status)
	if h.LastSeen == nil {
		e.raw(`,"last_seen":null`)
	} else {
		e.str(`,"last_seen":`, *h.LastSeen)
	}
	if inv.ofInventory(h) {
		e.b = append(e.b, inv.enc...)
	} else {
		e.inventory(h.Actors, h.Providers)
	}
	e.uint(`,"seq":`, h.Seq)
	e.raw("}")
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

// labels appends the labels member of a host document.
func (e *appender) labels(labels map[string]string) {
	var buf [16]string
	e.raw(`,"labels":{`)
	for i, k := range sortedKeys(buf[:0], labels) {
		e.comma(i)
		e.str("", k)
		e.str(":", labels[k])
	}
	e.raw("}")
}

// inventory appends the actors and providers members of a host document.
func (e *appender) inventory(actors map[string]Actor, providers map[string]Provider) {
	var buf [16]string
	e.raw(`,"actors":{`)
	for i, id := range sortedKeys(buf[:0], actors) {
		a := actors[id]
		e.comma(i)
		e.str("", id)
		e.uint(`:{"count":`, a.Count)
		e.str(`,"status":`, a.Status)
		e.raw("}")
	}
	e.raw(`},"providers":{`)
	for i, key := range sortedKeys(buf[:0], providers) {
		p := providers[key]
		e.comma(i)
		e.str("", key)
		e.str(`:{"public_key":`, p.PublicKey)
		e.str(`,"link_name":`, p.LinkName)
		e.str(`,"contract_id":`, p.ContractID)
		e.str(`,"status":`, p.Status)
		e.raw("}")
	}
	e.raw("}")
}

// Inventory is the encoding of a host document's labels, actors and
// providers, made from one version of the document and kept beside it: a
// later version that shares those maps (a heartbeat that changes no actor
// or provider hands back the maps it got, the decoder shares a label set
// that many heartbeats send, and reducers replace a map rather than change
// it) is encoded by copying these bytes, which are most of a document's.
// An Inventory is never modified once made.
type Inventory struct {
	labels    map[string]string
	labelsEnc []byte
	actors    map[string]Actor
	providers map[string]Provider
	// enc holds the actors and providers.
	enc []byte
}

// InventoryOf returns the inventory of h: prev when it was made from h's
// maps, else a new one that shares what still holds of prev. It returns
// nil when the maps cannot be encoded (AppendHost then reports why).
func InventoryOf(prev *Inventory, h *Host) *Inventory {
	sameLabels := prev != nil && sameMap(prev.labels, h.Labels)
	sameInventory := prev.ofInventory(h)
	if sameLabels && sameInventory {
		return prev
	}
	inv := &Inventory{labels: h.Labels, actors: h.Actors, providers: h.Providers}
	if sameLabels {
		inv.labelsEnc = prev.labelsEnc
	} else {
		e := appender{}
		if e.labels(h.Labels); e.err != nil {
			return nil
		}
		inv.labelsEnc = e.b
	}
	if sameInventory {
		inv.enc = prev.enc
	} else {
		e := appender{}
		if e.inventory(h.Actors, h.Providers); e.err != nil {
			return nil
		}
		inv.enc = e.b
	}
	return inv
}

// ofInventory reports whether inv was made from h's actors and providers:
// the very maps, not equal ones.
func (inv *Inventory) ofInventory(h *Host) bool {
	return inv != nil && sameMap(inv.actors, h.Actors) && sameMap(inv.providers, h.Providers)
}

// sameMap reports whether a and b are the same map (or both nil). A map
// value is a pointer to the map's storage: comparing those pointers is
// what reflect's Value.UnsafePointer would compare, without its cost.
func sameMap[V any](a, b map[string]V) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// MarshalJSON encodes the host document with AppendHost.
func (h *Host) MarshalJSON() ([]byte, error) {
	if h == nil {
		return []byte("null"), nil
	}
	return AppendHost(nil, h)
}

// appender appends JSON to b, keeping the first error.
type appender struct {
	b   []byte
	err error
}

func (e *appender) raw(s string) { e.b = append(e.b, s...) }

// str appends the literal text before and then s as a JSON string.
func (e *appender) str(before, s string) {
	e.b = append(e.b, before...)
	if plainASCII(s) {
		e.b = append(append(append(e.b, '"'), s...), '"')
	} else if e.err == nil {
		e.b, e.err = jsontext.AppendQuote(e.b, s)
	}
}

// plainASCII reports whether s is printable ASCII that JSON quotes as it
// is, the common case that needs no rune-by-rune look. It looks at eight
// bytes at a time (host ids and keys are tens of bytes long): a byte fails
// special8, or is DEL.
func plainASCII(s string) bool {
	p := unsafe.Pointer(unsafe.StringData(s))
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := *(*uint64)(unsafe.Add(p, i))
		d := w ^ (0x7f * ones)
		if special8(w) || (d-ones)&^d&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// uint appends the literal text before and then n.
func (e *appender) uint(before string, n uint64) {
	e.b = strconv.AppendUint(append(e.b, before...), n, 10)
}

func (e *appender) comma(i int) {
	if i > 0 {
		e.b = append(e.b, ',')
	}
}

// sortedKeys appends the keys of m to keys in byte order, the order in
// which deterministic JSON writes them.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
