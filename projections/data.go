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
// ev.HostID according to ev.Kind. A heartbeat's data is taken from read
// when the one-pass decoder has read it.
func (d *Decoder) decodeData(ev *Event, data []byte, read *heartbeatValues) error {
	ev.HostID = ev.Source
	switch ev.Kind {
	case KindHostHeartbeat:
		return d.decodeHeartbeat(ev, data, read)
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
	case KindProviderStarted, KindProviderStopped, KindHealthCheckPassed, KindHealthCheckFailed:
		return decodeProvider(ev, data)
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
		return decodeRefmap(ev, data)
	case KindHostLabelsResolved, KindHostStale, KindHostExpired:
		return decodeRecorded(ev, data)
	}
	return nil
}

// decodeProvider decodes a provider's start, stop or health check: the
// provider is named by public_key (OTP) or provider_id (1.x).
func decodeProvider(ev *Event, data []byte) error {
	var w providerWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	id := firstNonEmpty(w.PublicKey, w.ProviderID)
	switch ev.Kind {
	case KindHealthCheckPassed, KindHealthCheckFailed:
		if id == "" {
			return reject(ErrData, "health check has no public_key or provider_id")
		}
		ev.Data = &HealthCheck{ID: id, LinkName: linkName(w.LinkName)}
	default:
		if id == "" {
			return reject(ErrData, "provider has no public_key or provider_id")
		}
		ev.Data = &ProviderRef{PublicKey: id, LinkName: linkName(w.LinkName), ContractID: w.ContractID}
	}
	return nil
}

func decodeRefmap(ev *Event, data []byte) error {
	var w refmapWire
	if err := unmarshalObject(data, &w); err != nil {
		return err
	}
	if w.OCIURL == "" || w.PublicKey == "" {
		return reject(ErrData, "refmap_set needs oci_url and public_key")
	}
	ev.Data = &Refmap{OCIURL: w.OCIURL, PublicKey: w.PublicKey}
	return nil
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
		return DefaultLinkName
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
