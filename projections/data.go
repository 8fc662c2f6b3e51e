package projections

import (
	"errors"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Wire shapes of event data. Only the members the reducers use are declared;
// others are skipped (but still checked for syntax, duplicates and UTF-8).

type hostInfoWire struct {
	FriendlyName  string    `json:"friendly_name"`
	Version       string    `json:"version"`
	UptimeSeconds uint64    `json:"uptime_seconds"`
	UptimeHuman   string    `json:"uptime_human"`
	Labels        stringMap `json:"labels"`
}

type heartbeatWire struct {
	hostInfoWire
	Actors     actorInventory  `json:"actors"`
	Components actorInventory  `json:"components"`
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

// actorInventory accepts the three inventory shapes hosts send: a list of
// instances ({public_key, instance_id}, one per instance), a list of
// components ({id, max_instances}) or an older OTP map {public_key: count}.
type actorInventory struct {
	present bool
	list    []inventoryEntry
	counts  map[string]uint64
}

func (a *actorInventory) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	a.present = true
	switch dec.PeekKind() {
	case '[':
		return json.UnmarshalDecode(dec, &a.list)
	case '{':
		return json.UnmarshalDecode(dec, &a.counts)
	case 'n':
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

// stringMap is a JSON object whose values must all be strings: null or
// any other kind is rejected, not turned into "".
type stringMap map[string]string

func (m *stringMap) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		*m = nil
		return err
	case '{':
	default:
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return reject(ErrData, "expected an object of strings, got a JSON %s", kindName(v.Kind()))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	out := stringMap{}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		if dec.PeekKind() != '"' {
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			return reject(ErrData, "value of %q is a JSON %s, not a string", truncate(name), kindName(v.Kind()))
		}
		val, err := dec.ReadToken()
		if err != nil {
			return err
		}
		out[name] = val.String()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*m = out
	return nil
}

type actorWire struct {
	PublicKey    string  `json:"public_key"`
	ComponentID  string  `json:"component_id"`
	ActorID      string  `json:"actor_id"`
	MaxInstances *uint64 `json:"max_instances"`
}

func (w *actorWire) id() string { return firstNonEmpty(w.PublicKey, w.ComponentID, w.ActorID) }

type providerWire struct {
	PublicKey  string  `json:"public_key"`
	ProviderID string  `json:"provider_id"`
	LinkName   *string `json:"link_name"`
	ContractID string  `json:"contract_id"`
}

type linkWire struct {
	// 0.5x OTP hosts.
	ActorID    string    `json:"actor_id"`
	ProviderID string    `json:"provider_id"`
	ContractID string    `json:"contract_id"`
	LinkName   *string   `json:"link_name"`
	Values     stringMap `json:"values"`
	// 1.x hosts.
	SourceID     string   `json:"source_id"`
	Target       string   `json:"target"`
	Name         *string  `json:"name"`
	WitNamespace string   `json:"wit_namespace"`
	WitPackage   string   `json:"wit_package"`
	Interfaces   []string `json:"interfaces"`
	SourceConfig []string `json:"source_config"`
	TargetConfig []string `json:"target_config"`
}

type refmapWire struct {
	OCIURL    string `json:"oci_url"`
	PublicKey string `json:"public_key"`
}

type recordedWire struct {
	HostID  string    `json:"host_id"`
	Labels  stringMap `json:"labels"`
	Outcome string    `json:"outcome"`
	// host_expired.
	LastSeen *string `json:"last_seen"`
	Seq      *uint64 `json:"seq"`
}

type labelsWire struct {
	Labels stringMap `json:"labels"`
}

// decodeData decodes data (nil when the event has none) into ev.Data and sets
// ev.HostID according to ev.Kind.
func decodeData(ev *Event, data []byte) error {
	ev.HostID = ev.Source
	switch ev.Kind {
	case KindHostHeartbeat:
		return decodeHeartbeat(ev, data)
	case KindHostStarted:
		var w hostInfoWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		ev.Data = w.toHostInfo()
	case KindHostStopped:
		// Data is optional; 1.x hosts send their labels, which are checked
		// for shape but not needed.
		if data != nil {
			var w labelsWire
			return unmarshalObject(data, &w)
		}
	case KindActorStarted, KindActorStopped, KindComponentScaled:
		return decodeActor(ev, data)
	case KindProviderStarted, KindProviderStopped:
		var w providerWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		id := firstNonEmpty(w.PublicKey, w.ProviderID)
		if id == "" {
			return reject(ErrData, "provider has no public_key or provider_id")
		}
		ev.Data = &ProviderRef{PublicKey: id, LinkName: linkName(w.LinkName), ContractID: w.ContractID}
	case KindHealthCheckPassed, KindHealthCheckFailed:
		var w providerWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		id := firstNonEmpty(w.PublicKey, w.ProviderID)
		if id == "" {
			return reject(ErrData, "health check has no public_key or provider_id")
		}
		ev.Data = &HealthCheck{ID: id, LinkName: linkName(w.LinkName)}
	case KindLabelsChanged:
		var w labelsWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		if w.Labels == nil {
			return reject(ErrData, "labels_changed has no labels")
		}
		ev.Data = &HostInfo{Labels: w.Labels}
	case KindLinkdefSet, KindLinkdefDeleted:
		return decodeLink(ev, data)
	case KindRefmapSet:
		var w refmapWire
		if err := unmarshalObject(data, &w); err != nil {
			return err
		}
		if w.OCIURL == "" || w.PublicKey == "" {
			return reject(ErrData, "refmap_set needs oci_url and public_key")
		}
		ev.Data = &Refmap{OCIURL: w.OCIURL, PublicKey: w.PublicKey}
	case KindHostLabelsResolved, KindHostStale, KindHostExpired:
		return decodeRecorded(ev, data)
	}
	return nil
}

func decodeHeartbeat(ev *Event, data []byte) error {
	var w heartbeatWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	return w.setData(ev)
}

// setData checks a decoded heartbeat and sets it as ev.Data.
func (w *heartbeatWire) setData(ev *Event) error {
	inv := &w.Actors
	if w.Components.present && (w.Components.list != nil || w.Components.counts != nil || !w.Actors.present) {
		inv = &w.Components
	}
	actors, err := inv.counted()
	if err != nil {
		return err
	}
	hb := &Heartbeat{HostInfo: *w.toHostInfo(), Actors: actors}
	if len(w.Providers) > 0 {
		hb.Providers = make([]ProviderRef, len(w.Providers))
	}
	for i, p := range w.Providers {
		id := firstNonEmpty(p.PublicKey, p.ID)
		if id == "" {
			return reject(ErrData, "providers[%d] has no public_key or id", i)
		}
		hb.Providers[i] = ProviderRef{PublicKey: id, LinkName: linkName(p.LinkName), ContractID: p.ContractID}
	}
	ev.Data = hb
	return nil
}

// counted turns an inventory into instance counts per id, dropping ids whose
// count is 0.
func (a *actorInventory) counted() (map[string]uint64, error) {
	if a.counts != nil {
		out := make(map[string]uint64, len(a.counts))
		for id, n := range a.counts {
			if id == "" {
				return nil, reject(ErrData, "actors map has an empty public key")
			}
			if n > 0 {
				out[id] = n
			}
		}
		return out, nil
	}
	out := make(map[string]uint64, len(a.list))
	for i, e := range a.list {
		id := firstNonEmpty(e.PublicKey, e.ID)
		if id == "" {
			return nil, reject(ErrData, "inventory entry %d has no public_key or id", i)
		}
		n := uint64(1)
		if e.MaxInstances != nil {
			n = *e.MaxInstances
		}
		if n > 0 {
			if out[id]+n < out[id] {
				return nil, reject(ErrData, "instance count of %q overflows", truncate(id))
			}
			out[id] += n
		}
	}
	return out, nil
}

func decodeActor(ev *Event, data []byte) error {
	var w actorWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	id := w.id()
	if id == "" {
		return reject(ErrData, "%s has no public_key or component_id", ev.Kind)
	}
	change := &ActorChange{ID: id}
	if ev.Kind == KindComponentScaled {
		if w.MaxInstances == nil {
			return reject(ErrData, "component_scaled has no max_instances")
		}
		change.Count = *w.MaxInstances
	}
	ev.Data = change
	return nil
}

func decodeLink(ev *Event, data []byte) error {
	var w linkWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	var lc LinkChange
	switch {
	case w.SourceID != "":
		if w.WitNamespace == "" || w.WitPackage == "" {
			return reject(ErrData, "%s needs wit_namespace and wit_package", ev.Kind)
		}
		name := linkName(w.Name)
		lc.Key = w.SourceID + "/" + w.WitNamespace + ":" + w.WitPackage + "/" + name
		lc.Link = Link{
			SourceID: w.SourceID, Target: w.Target, Name: name,
			WitNamespace: w.WitNamespace, WitPackage: w.WitPackage,
			Interfaces: nonNil(w.Interfaces), SourceConfig: nonNil(w.SourceConfig), TargetConfig: nonNil(w.TargetConfig),
		}
	case w.ActorID != "":
		if w.ContractID == "" {
			return reject(ErrData, "%s needs contract_id", ev.Kind)
		}
		name := linkName(w.LinkName)
		lc.Key = w.ActorID + "/" + w.ContractID + "/" + name
		values := w.Values
		if values == nil {
			values = map[string]string{}
		}
		lc.Link = Link{ActorID: w.ActorID, ProviderID: w.ProviderID, ContractID: w.ContractID, LinkName: name, Values: values}
	default:
		return reject(ErrData, "%s has no actor_id or source_id", ev.Kind)
	}
	ev.Data = &lc
	return nil
}

func decodeRecorded(ev *Event, data []byte) error {
	var w recordedWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	ev.HostID = w.HostID
	switch ev.Kind {
	case KindHostStale:
		return nil
	case KindHostExpired:
		return w.setExpired(ev)
	}
	switch w.Outcome {
	case OutcomeOK, OutcomeTimeout, OutcomeError:
	default:
		return reject(ErrData, "outcome %q is not ok, timeout or error", truncate(w.Outcome))
	}
	ev.Data = &LabelsResolved{Labels: w.Labels, Outcome: w.Outcome}
	return nil
}

// setExpired checks the judgment a host_expired carries and sets it as
// ev.Data: seq is required, last_seen is null or an RFC 3339 time, as in a
// host document.
func (w *recordedWire) setExpired(ev *Event) error {
	if w.Seq == nil {
		return reject(ErrData, "host_expired has no seq")
	}
	if w.LastSeen != nil {
		if _, err := time.Parse(time.RFC3339Nano, *w.LastSeen); err != nil {
			return reject(ErrData, "last_seen %q is not RFC 3339", truncate(*w.LastSeen))
		}
	}
	ev.Data = &HostExpired{LastSeen: w.LastSeen, Seq: *w.Seq}
	return nil
}

func (w *hostInfoWire) toHostInfo() *HostInfo {
	return &HostInfo{
		FriendlyName:  w.FriendlyName,
		Version:       w.Version,
		UptimeSeconds: w.UptimeSeconds,
		UptimeHuman:   w.UptimeHuman,
		Labels:        w.Labels,
	}
}

// unmarshalObject decodes data, which must be a JSON object, into v.
func unmarshalObject(data []byte, v any) error {
	if data == nil {
		return reject(ErrData, "data is missing")
	}
	if k := jsontext.Value(data).Kind(); k != '{' {
		return reject(ErrData, "data is a JSON %s, not an object", kindName(k))
	}
	if err := json.Unmarshal(data, v); err != nil {
		if de := (*DecodeError)(nil); errors.As(err, &de) {
			return de
		}
		return reject(ErrData, "%s", jsonReason(err))
	}
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

func linkName(p *string) string {
	if p == nil || *p == "" {
		return "default"
	}
	return *p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
