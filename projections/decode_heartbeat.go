package projections

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// heartbeatValues is a host_heartbeat's data as read, before the heartbeat
// rules apply. Both decoders fill one, the strict one from its wire structs
// and the one-pass one token by token, and newHeartbeat applies the rules
// to it, so that they are written once. Byte slices may point into the
// input; an empty one stands for a member that is missing, null or "".
type heartbeatValues struct {
	info       HostInfo
	actors     inventoryValues
	components inventoryValues
	providers  smallList[providerValues]
}

// inventoryValues is an inventory member (actors or components) as sent: a
// list of instances ({public_key, instance_id}, one per instance), a list
// of components ({id, max_instances}) or an older OTP map {public_key:
// count}.
type inventoryValues struct {
	// present: the member was there; null: it was JSON null; isMap: it
	// was a map, not a list.
	present, null, isMap bool
	entries              smallList[inventoryValue]
}

// inventoryValue is one entry of an inventory.
type inventoryValue struct {
	publicKey, id []byte
	// count is max_instances or the map's count, when counted.
	count   uint64
	counted bool
}

// providerValues is one entry of a heartbeat's providers.
type providerValues struct {
	publicKey, id, linkName, contractID []byte
}

// smallList is a list that keeps its first elements in place: a
// heartbeatValues on the stack holds the usual inventory without an
// allocation.
type smallList[T any] struct {
	n     int
	small [8]T
	// more holds every element once there are more than small holds.
	more []T
}

func (l *smallList[T]) add(v T) {
	switch {
	case l.more != nil:
		l.more = append(l.more, v)
	case l.n < len(l.small):
		l.small[l.n] = v
		l.n++
	default:
		l.more = make([]T, l.n, 2*l.n)
		copy(l.more, l.small[:])
		l.more = append(l.more, v)
	}
}

// all returns the elements; they are l's own.
func (l *smallList[T]) all() []T {
	if l.more != nil {
		return l.more
	}
	return l.small[:l.n]
}

// DefaultLinkName is the link name of a provider or link that names none.
const DefaultLinkName = "default"

// newHeartbeat applies the heartbeat rules to what was read: which
// inventory counts, how instances are counted, how providers are named. Its
// strings are shared through d.
func (d *Decoder) newHeartbeat(v *heartbeatValues) (*Heartbeat, error) {
	actors, err := d.countInstances(v.inventory())
	if err != nil {
		return nil, err
	}
	providers, err := d.providerRefs(v.providers.all())
	if err != nil {
		return nil, err
	}
	return &Heartbeat{HostInfo: v.info, Actors: actors, Providers: providers}, nil
}

// inventory returns the inventory that counts: 1.x components when they
// are a list or a map, or when there are no actors; else the actors (OTP,
// and 0.8x hosts' alias of components).
func (v *heartbeatValues) inventory() *inventoryValues {
	if v.components.present && (!v.components.null || !v.actors.present) {
		return &v.components
	}
	return &v.actors
}

// countInstances turns an inventory into instance counts per id (public_key,
// else id): an instance counts 1, a component its max_instances (1 when
// missing or null), a map member its count. Ids whose count is 0 are left
// out; a missing id or a count past the range of uint64 is rejected.
func (d *Decoder) countInstances(inv *inventoryValues) (map[string]uint64, error) {
	entries := inv.entries.all()
	counts := make(map[string]uint64, len(entries))
	for i := range entries {
		e := &entries[i]
		id := firstNonEmptyBytes(e.publicKey, e.id)
		switch {
		case len(id) == 0 && inv.isMap:
			return nil, reject(ErrData, "actors map has an empty public key")
		case len(id) == 0:
			return nil, reject(ErrData, "inventory entry %d has no public_key or id", i)
		}
		n := uint64(1)
		if e.counted {
			n = e.count
		}
		if n == 0 {
			continue
		}
		cur := counts[string(id)]
		if cur+n < cur {
			return nil, reject(ErrData, "instance count of %q overflows", truncate(string(id)))
		}
		counts[d.str(id)] = cur + n
	}
	return counts, nil
}

// providerRefs names the providers a heartbeat lists: by public_key (OTP),
// else id (1.x), on link_name (DefaultLinkName when missing, null or ""),
// with contract_id ("" when missing). A provider without an id is
// rejected.
func (d *Decoder) providerRefs(ps []providerValues) ([]ProviderRef, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	refs := make([]ProviderRef, len(ps))
	for i := range ps {
		p := &ps[i]
		id := firstNonEmptyBytes(p.publicKey, p.id)
		if len(id) == 0 {
			return nil, reject(ErrData, "providers[%d] has no public_key or id", i)
		}
		refs[i] = ProviderRef{PublicKey: d.str(id), LinkName: DefaultLinkName, ContractID: d.str(p.contractID)}
		if len(p.linkName) > 0 {
			refs[i].LinkName = d.str(p.linkName)
		}
	}
	return refs, nil
}

func firstNonEmptyBytes(a, b []byte) []byte {
	if len(a) > 0 {
		return a
	}
	return b
}

// decodeHeartbeat sets the heartbeat as ev.Data: from the values the
// one-pass decoder read (read), else from data through the wire structs.
func (d *Decoder) decodeHeartbeat(ev *Event, data []byte, read *heartbeatValues) error {
	v := read
	if v == nil {
		var w heartbeatWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		v = w.values()
	}
	hb, err := d.newHeartbeat(v)
	if err != nil {
		return err
	}
	ev.Data = hb
	return nil
}

// heartbeatWire is the wire shape of a heartbeat's data for the strict
// decoder.
type heartbeatWire struct {
	hostInfoWire
	Actors     inventoryValues `json:"actors"`
	Components inventoryValues `json:"components"`
	Providers  []providerEntry `json:"providers"`
}

type inventoryEntry struct {
	PublicKey    string  `json:"public_key"`
	ID           string  `json:"id"`
	MaxInstances *uint64 `json:"max_instances"`
}

type providerEntry struct {
	PublicKey  string  `json:"public_key"`
	ID         string  `json:"id"`
	LinkName   *string `json:"link_name"`
	ContractID string  `json:"contract_id"`
}

// values returns what the wire structs read, for newHeartbeat.
func (w *heartbeatWire) values() *heartbeatValues {
	v := &heartbeatValues{info: *w.toHostInfo(), actors: w.Actors, components: w.Components}
	for _, p := range w.Providers {
		pv := providerValues{publicKey: []byte(p.PublicKey), id: []byte(p.ID), contractID: []byte(p.ContractID)}
		if p.LinkName != nil {
			pv.linkName = []byte(*p.LinkName)
		}
		v.providers.add(pv)
	}
	return v
}

// UnmarshalJSONFrom reads any of the three inventory shapes.
func (inv *inventoryValues) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	inv.present = true
	switch dec.PeekKind() {
	case '[':
		var list []inventoryEntry
		if err := json.UnmarshalDecode(dec, &list); err != nil {
			return err
		}
		for _, e := range list {
			v := inventoryValue{publicKey: []byte(e.PublicKey), id: []byte(e.ID)}
			if e.MaxInstances != nil {
				v.count, v.counted = *e.MaxInstances, true
			}
			inv.entries.add(v)
		}
		return nil
	case '{':
		var counts map[string]uint64
		if err := json.UnmarshalDecode(dec, &counts); err != nil {
			return err
		}
		inv.isMap = true
		for id, n := range counts {
			inv.entries.add(inventoryValue{publicKey: []byte(id), count: n, counted: true})
		}
		return nil
	case 'n':
		inv.null = true
		_, err := dec.ReadToken()
		return err
	default:
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return reject(ErrData, "inventory is a JSON %s, not a list or map", kindName(v.Kind()))
	}
}
