// Package eventtest builds wasmCloud lattice CloudEvents as JSON lines for
// tests: one builder per event kind, in the wire shapes that 0.5x OTP, 0.8x
// and 1.x hosts (and latticestate itself) publish.
//
// Lines are encoded with encoding/json, so they are always valid JSON with
// map keys sorted; tests that need malformed input write it by hand. Every
// builder is deterministic: the same arguments give the same bytes.
package eventtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/nats-io/nkeys"
)

// CloudEvents type prefixes: hosts publish WasmcloudType, latticestate
// records its own events under RecordedType.
const (
	WasmcloudType = "com.wasmcloud.lattice."
	RecordedType  = "dev.latticestate."
)

// DefaultTime is the "time" of every event unless an Option changes it.
const DefaultTime = "2024-03-06T21:32:13.405311Z"

// ProjectorSource is the "source" of events that latticestate records.
const ProjectorSource = "urn:latticestate:projector"

var hostIDs sync.Map // int -> string

// HostID returns the i-th deterministic host id: a valid server public nkey
// derived from a seed that depends only on i.
func HostID(i int) string {
	if id, ok := hostIDs.Load(i); ok {
		return id.(string)
	}
	raw := sha256.Sum256([]byte("latticestate eventtest host " + strconv.Itoa(i)))
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteServer, raw[:])
	if err != nil {
		panic(fmt.Sprintf("eventtest: host key %d: %v", i, err))
	}
	id, err := kp.PublicKey()
	if err != nil {
		panic(fmt.Sprintf("eventtest: host key %d: %v", i, err))
	}
	hostIDs.Store(i, id)
	return id
}

// Option changes a member of the CloudEvents envelope before it is encoded.
type Option func(envelope map[string]any)

// Set sets the envelope member name to value (any JSON-encodable value, so
// also wrong types such as a number for "specversion").
func Set(name string, value any) Option {
	return func(env map[string]any) { env[name] = value }
}

// Delete removes the envelope member name.
func Delete(name string) Option {
	return func(env map[string]any) { delete(env, name) }
}

// Base64 moves the event's data into data_base64, base64-encoded JSON.
func Base64() Option {
	return func(env map[string]any) {
		data, ok := env["data"]
		if !ok {
			return
		}
		delete(env, "data")
		env["data_base64"] = base64.StdEncoding.EncodeToString(mustMarshal(data))
	}
}

// Line encodes a CloudEvents 1.0 envelope of type eventType from source with
// data (left out when nil), then applies opts. The id is derived from the
// content, so distinct events get distinct ids.
func Line(eventType, source string, data any, opts ...Option) []byte {
	env := map[string]any{
		"specversion":     "1.0",
		"type":            eventType,
		"source":          source,
		"time":            DefaultTime,
		"datacontenttype": "application/json",
	}
	if data != nil {
		env["data"] = data
	}
	sum := sha256.Sum256(mustMarshal(env))
	env["id"] = hex.EncodeToString(sum[:16])
	for _, opt := range opts {
		opt(env)
	}
	return mustMarshal(env)
}

func hostLine(kind, host string, data any, opts []Option) []byte {
	return Line(WasmcloudType+kind, host, data, opts...)
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("eventtest: encode %T: %v", v, err))
	}
	return b
}

// HostInfo is what heartbeats and host_started carry about a host.
type HostInfo struct {
	FriendlyName  string
	Version       string
	UptimeSeconds uint64
	UptimeHuman   string
	// Labels is sent as given, {} included; nil leaves the member out.
	Labels map[string]string
}

func (h HostInfo) data() map[string]any {
	d := map[string]any{
		"friendly_name":  h.FriendlyName,
		"version":        h.Version,
		"uptime_seconds": h.UptimeSeconds,
		"uptime_human":   h.UptimeHuman,
	}
	if h.Labels != nil {
		d["labels"] = h.Labels
	}
	return d
}

// Inventory is the shape in which a heartbeat lists its actors.
type Inventory int

// Inventory shapes.
const (
	// ActorList is OTP's "actors": [{instance_id, public_key}], one entry per
	// instance.
	ActorList Inventory = iota
	// ActorMap is older OTP's "actors": {public_key: count}.
	ActorMap
	// Components is 0.8x/1.x "components": [{id, max_instances, …}], with
	// "host_id" and "issuer" beside it.
	Components
)

// Provider names a provider in heartbeats and provider events.
type Provider struct {
	// ID is the public key (OTP) or provider id (1.x).
	ID string
	// LinkName and ContractID are left out when empty.
	LinkName   string
	ContractID string
	// V1 sends 1.x member names: "id" in heartbeats and "provider_id" in
	// provider and health check events, instead of "public_key".
	V1 bool
}

func (p Provider) data(v1Key string) map[string]any {
	d := map[string]any{}
	if p.V1 {
		d[v1Key] = p.ID
		d["image_ref"] = "ghcr.io/example/" + p.ID + ":0.1.0"
		d["annotations"] = map[string]string{}
	} else {
		d["public_key"] = p.ID
		d["instance_id"] = instanceID(p.ID+"/"+p.LinkName, 0)
	}
	if p.LinkName != "" {
		d["link_name"] = p.LinkName
	}
	if p.ContractID != "" {
		d["contract_id"] = p.ContractID
	}
	return d
}

// Heartbeat is a host_heartbeat's data.
type Heartbeat struct {
	HostInfo
	// Shape selects how Actors is sent.
	Shape Inventory
	// Actors maps actor (component) ids to instance counts. A count of 0 is
	// sent as such in ActorMap and Components and as no entry in ActorList.
	Actors    map[string]uint64
	Providers []Provider
}

// HostHeartbeat builds a host_heartbeat from host.
func HostHeartbeat(host string, hb Heartbeat, opts ...Option) []byte {
	d := hb.data()
	ids := slices.Sorted(maps.Keys(hb.Actors))
	switch hb.Shape {
	case ActorList:
		actors := []map[string]any{}
		for _, id := range ids {
			for n := range hb.Actors[id] {
				actors = append(actors, map[string]any{"public_key": id, "instance_id": instanceID(id, n)})
			}
		}
		d["actors"] = actors
	case ActorMap:
		counts := maps.Clone(hb.Actors)
		if counts == nil {
			counts = map[string]uint64{}
		}
		d["actors"] = counts
	case Components:
		components := []map[string]any{}
		for _, id := range ids {
			components = append(components, map[string]any{
				"id": id, "image_ref": "ghcr.io/example/" + id + ":0.1.0", "name": id,
				"annotations": map[string]string{}, "revision": 0, "max_instances": hb.Actors[id],
			})
		}
		d["components"] = components
		d["host_id"] = host
		d["issuer"] = "CDCCCTSNYF7RV4HAODDDAUMH2RLUXSKU6NJNBXMEKUJWAPTD5AUH5GGB"
	}
	providers := []map[string]any{}
	for _, p := range hb.Providers {
		providers = append(providers, p.data("id"))
	}
	d["providers"] = providers
	return hostLine("host_heartbeat", host, d, opts)
}

// HostStarted builds a host_started from host.
func HostStarted(host string, info HostInfo, opts ...Option) []byte {
	return hostLine("host_started", host, info.data(), opts)
}

// HostStopped builds a host_stopped from host: data {} when labels is nil,
// else 1.x's {"labels": labels}.
func HostStopped(host string, labels map[string]string, opts ...Option) []byte {
	d := map[string]any{}
	if labels != nil {
		d["labels"] = labels
	}
	return hostLine("host_stopped", host, d, opts)
}

// ActorStarted builds an OTP actor_started of one instance of actor.
func ActorStarted(host, actor string, opts ...Option) []byte {
	return hostLine("actor_started", host, map[string]any{
		"public_key": actor, "instance_id": instanceID(actor, 0),
		"image_ref": "wasmcloud.azurecr.io/" + actor + ":0.1.0", "annotations": map[string]string{}, "api_version": 0,
	}, opts)
}

// ActorStopped builds an OTP actor_stopped of one instance of actor.
func ActorStopped(host, actor string, opts ...Option) []byte {
	return hostLine("actor_stopped", host, map[string]any{"public_key": actor, "instance_id": instanceID(actor, 0)}, opts)
}

// ComponentScaled builds a 1.x component_scaled to maxInstances.
func ComponentScaled(host, component string, maxInstances uint64, opts ...Option) []byte {
	return hostLine("component_scaled", host, map[string]any{
		"component_id": component, "max_instances": maxInstances, "host_id": host,
		"image_ref": "ghcr.io/example/" + component + ":0.1.0", "annotations": map[string]string{},
	}, opts)
}

// ProviderStarted builds a provider_started.
func ProviderStarted(host string, p Provider, opts ...Option) []byte {
	return hostLine("provider_started", host, p.data("provider_id"), opts)
}

// ProviderStopped builds a provider_stopped.
func ProviderStopped(host string, p Provider, opts ...Option) []byte {
	return hostLine("provider_stopped", host, p.data("provider_id"), opts)
}

// HealthCheck builds a health_check_passed (passed) or health_check_failed
// about p; p.ID may also name an actor.
func HealthCheck(host string, passed bool, p Provider, opts ...Option) []byte {
	kind := "health_check_failed"
	if passed {
		kind = "health_check_passed"
	}
	return hostLine(kind, host, p.data("provider_id"), opts)
}

// LabelsChanged builds a 1.x labels_changed carrying the host's new labels.
func LabelsChanged(host string, labels map[string]string, opts ...Option) []byte {
	return hostLine("labels_changed", host, map[string]any{"host_id": host, "labels": labels}, opts)
}

// Link is a link definition: OTP links set ActorID, ProviderID, ContractID,
// LinkName and Values; 1.x links SourceID, Target, Name, WitNamespace,
// WitPackage and Interfaces. Empty members are left out.
type Link struct {
	ActorID    string            `json:"actor_id,omitempty"`
	ProviderID string            `json:"provider_id,omitempty"`
	ContractID string            `json:"contract_id,omitempty"`
	LinkName   string            `json:"link_name,omitempty"`
	Values     map[string]string `json:"values,omitempty"`

	SourceID     string   `json:"source_id,omitempty"`
	Target       string   `json:"target,omitempty"`
	Name         string   `json:"name,omitempty"`
	WitNamespace string   `json:"wit_namespace,omitempty"`
	WitPackage   string   `json:"wit_package,omitempty"`
	Interfaces   []string `json:"interfaces,omitempty"`
}

// LinkdefSet builds a linkdef_set.
func LinkdefSet(host string, l Link, opts ...Option) []byte {
	return hostLine("linkdef_set", host, l, opts)
}

// LinkdefDeleted builds a linkdef_deleted.
func LinkdefDeleted(host string, l Link, opts ...Option) []byte {
	return hostLine("linkdef_deleted", host, l, opts)
}

// RefmapSet builds a refmap_set mapping ociURL to publicKey.
func RefmapSet(host, ociURL, publicKey string, opts ...Option) []byte {
	return hostLine("refmap_set", host, map[string]any{"oci_url": ociURL, "public_key": publicKey}, opts)
}

// HostLabelsResolved builds the event the enricher records about host:
// outcome "ok", "timeout" or "error", labels left out when nil.
func HostLabelsResolved(host string, labels map[string]string, outcome string, opts ...Option) []byte {
	d := map[string]any{"host_id": host, "outcome": outcome}
	if labels != nil {
		d["labels"] = labels
	}
	return Line(RecordedType+"host_labels_resolved", ProjectorSource, d, opts...)
}

// HostStale builds the event the staleness sweeper records about host.
func HostStale(host string, opts ...Option) []byte {
	return Line(RecordedType+"host_stale", ProjectorSource, map[string]any{"host_id": host}, opts...)
}

// HostExpired builds the event the sweeper records about host when it
// removes it: the host's last_seen (nil: null) and seq as it judged them.
func HostExpired(host string, lastSeen *string, seq uint64, opts ...Option) []byte {
	return Line(RecordedType+"host_expired", ProjectorSource,
		map[string]any{"host_id": host, "last_seen": lastSeen, "seq": seq}, opts...)
}

// instanceID is a deterministic, UUID-shaped instance id.
func instanceID(of string, n uint64) string {
	s := sha256.Sum256([]byte(of + "#" + strconv.FormatUint(n, 10)))
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
