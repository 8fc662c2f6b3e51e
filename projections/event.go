package projections

import "slices"

// Kind is the kind of a lattice event: the last part of its CloudEvents type.
type Kind string

// The kinds that change the lattice state. Every other kind is ignored.
const (
	KindHostHeartbeat      Kind = "host_heartbeat"
	KindHostStarted        Kind = "host_started"
	KindHostStopped        Kind = "host_stopped"
	KindActorStarted       Kind = "actor_started"
	KindActorStopped       Kind = "actor_stopped"
	KindComponentScaled    Kind = "component_scaled"
	KindProviderStarted    Kind = "provider_started"
	KindProviderStopped    Kind = "provider_stopped"
	KindHealthCheckPassed  Kind = "health_check_passed"
	KindHealthCheckFailed  Kind = "health_check_failed"
	KindLabelsChanged      Kind = "labels_changed"
	KindLinkdefSet         Kind = "linkdef_set"
	KindLinkdefDeleted     Kind = "linkdef_deleted"
	KindRefmapSet          Kind = "refmap_set"
	KindHostLabelsResolved Kind = "host_labels_resolved"
	KindHostStale          Kind = "host_stale"
	KindHostExpired        Kind = "host_expired"
)

// CloudEvents type prefixes: wasmCloud hosts publish the first, latticestate
// records its own events (enrichment outcomes, staleness, expiry) with the
// second.
const (
	WasmcloudTypePrefix    = "com.wasmcloud.lattice."
	LatticestateTypePrefix = "dev.latticestate."
)

// eventKinds maps each CloudEvents type that changes state to its kind. The
// match is exact and case-sensitive.
var eventKinds = map[string]Kind{}

// typeNames holds the keys of eventKinds, so that decoding a type shares
// one string.
var typeNames = map[string]string{}

func init() {
	for _, k := range []Kind{
		KindHostHeartbeat, KindHostStarted, KindHostStopped,
		KindActorStarted, KindActorStopped, KindComponentScaled,
		KindProviderStarted, KindProviderStopped,
		KindHealthCheckPassed, KindHealthCheckFailed, KindLabelsChanged,
		KindLinkdefSet, KindLinkdefDeleted, KindRefmapSet,
	} {
		eventKinds[WasmcloudTypePrefix+string(k)] = k
	}
	for _, k := range recordedKinds {
		eventKinds[LatticestateTypePrefix+string(k)] = k
	}
	for t := range eventKinds {
		typeNames[t] = t
	}
}

// recordedKinds are the kinds latticestate records itself.
var recordedKinds = []Kind{KindHostLabelsResolved, KindHostStale, KindHostExpired}

// TypeOf returns the CloudEvents type under which kind k is published.
func TypeOf(k Kind) string {
	if slices.Contains(recordedKinds, k) {
		return LatticestateTypePrefix + string(k)
	}
	return WasmcloudTypePrefix + string(k)
}

// Event is a decoded, validated lattice event. Decode fills everything but Seq
// and Lattice, which come from where the event was read (stream sequence or
// line number, and subject).
type Event struct {
	ID     string
	Source string
	Type   string
	// Time is the event's time exactly as sent (RFC 3339), or "" when absent.
	Time string
	// Kind is "" for events that change no state (see Ignored).
	Kind Kind
	// HostID is the validated host public key the event is about; "" for
	// ignored events.
	HostID string
	// Data holds the kind's payload: *Heartbeat, *HostInfo, *ActorChange,
	// *ProviderRef, *HealthCheck, *LinkChange, *Refmap, *LabelsResolved,
	// *HostExpired, or nil for host_stopped and host_stale. Decoding shares
	// maps and strings between events (a label set that many heartbeats send
	// is one map), so Data and what it holds must not be modified.
	Data any

	Seq     uint64
	Lattice string
}

// Ignored reports whether the event is of a kind that changes no state.
func (ev *Event) Ignored() bool { return ev.Kind == "" }

// Heartbeat is a host's full inventory as sent every 30 seconds.
type Heartbeat struct {
	HostInfo
	// Actors maps an actor or component id to its instance count (> 0).
	Actors    map[string]uint64
	Providers []ProviderRef
}

// HostInfo carries a host's descriptive attributes.
type HostInfo struct {
	FriendlyName  string
	Version       string
	UptimeSeconds uint64
	UptimeHuman   string
	// Labels is nil when the event carried no labels (absent or null).
	Labels map[string]string
}

// ActorChange is an actor (component) start, stop or scale.
type ActorChange struct {
	ID string
	// Count is the new instance count for component_scaled.
	Count uint64
}

// ProviderRef names a provider instance on a host.
type ProviderRef struct {
	PublicKey  string
	LinkName   string
	ContractID string
}

// Key is the provider's key in a host document: public_key/link_name.
func (p ProviderRef) Key() string { return string(appendProviderKey(nil, p)) }

func appendProviderKey(b []byte, p ProviderRef) []byte {
	b = append(b, p.PublicKey...)
	b = append(b, '/')
	return append(b, p.LinkName...)
}

// HealthCheck is a health check outcome for a provider (or actor).
type HealthCheck struct {
	ID       string
	LinkName string
}

// LinkChange is a link definition set or deleted.
type LinkChange struct {
	Key  string
	Link Link
}

// Refmap maps an OCI reference to a public key.
type Refmap struct {
	OCIURL    string
	PublicKey string
}

// Label resolution outcomes recorded by the enricher.
const (
	OutcomeOK      = "ok"
	OutcomeTimeout = "timeout"
	OutcomeError   = "error"
)

// LabelsResolved is the recorded outcome of an inventory request.
type LabelsResolved struct {
	Labels  map[string]string
	Outcome string
}

// HostExpired is a recorded host_expired: the host's document as the
// sweeper read it when it found the host silent for too long. The host is
// removed only if its document is still that one (see ApplyHost).
type HostExpired struct {
	// LastSeen is the document's last_seen; nil when it had none.
	LastSeen *string
	// Seq is the document's seq.
	Seq uint64
}
