package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"latticestate/projections"
)

// Versions the simulated hosts report.
const (
	otpVersion = "0.56.0"
	v1Version  = "1.0.4"
)

// maxInstancesPerHost bounds how many actor instances churn starts on one
// host, so a long run does not drift into huge inventories.
const maxInstancesPerHost = 12

// host is one simulated wasmCloud host. Everything below mu is guarded by it;
// a host's events are built and published while mu is held, so they leave
// in the order they happened.
type host struct {
	id     string
	name   string
	labels map[string]string
	silent bool
	schema Schema
	issuer string
	slot   int
	// sub receives the host's inventory requests while it is up; guarded
	// by the Lattice's mu.
	sub *nats.Subscription

	mu        sync.Mutex
	src       *rand.ChaCha8 // reads instance ids
	rng       *rand.Rand
	started   time.Time
	up        bool // between host_started and host_stopped
	paused    bool
	actors    []*actorState
	providers []*providerState
}

type actorState struct {
	spec actorSpec
	id   string
	// instances holds one id per running instance (1.x hosts report only
	// the count).
	instances []string
}

type providerState struct {
	spec       providerSpec
	id         string
	linkName   string
	instanceID string
}

// hostEvent is one event a host publishes: its kind and its data.
type hostEvent struct {
	kind projections.Kind
	data any
}

// hostSeed derives the random source of the gen-th host in slot from the
// simulation seed.
func hostSeed(seed uint64, slot, gen int) [32]byte {
	b := binary.BigEndian.AppendUint64([]byte("latticestate sim host "), seed)
	b = binary.BigEndian.AppendUint64(b, uint64(slot))
	b = binary.BigEndian.AppendUint64(b, uint64(gen))
	return sha256.Sum256(b)
}

// newHost derives a host deterministically from seed, slot and generation:
// its server nkey, name, labels and, when withInventory, the inventory it
// starts with.
func newHost(seed uint64, slot, gen int, schema Schema, silent bool, issuer string, withInventory bool) (*host, error) {
	src := rand.NewChaCha8(hostSeed(seed, slot, gen))
	kp, err := nkeys.CreatePairWithRand(nkeys.PrefixByteServer, src)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	id, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	rng := rand.New(src)
	h := &host{id: id, slot: slot, schema: schema, silent: silent, issuer: issuer, src: src, rng: rng}
	h.name = friendlyName(rng)
	h.labels = hostLabels(rng)
	if withInventory {
		h.initialInventory()
	}
	return h, nil
}

// initialInventory gives a new host 1-3 actors with 1-3 instances each and
// 1-2 providers.
func (h *host) initialInventory() {
	for _, i := range h.rng.Perm(len(actorCatalog))[:1+h.rng.IntN(3)] {
		h.startActor(h.actorID(actorCatalog[i]), 1+h.rng.IntN(3))
	}
	for _, i := range h.rng.Perm(len(providerCatalog))[:1+h.rng.IntN(2)] {
		p := providerCatalog[i]
		_, _ = h.startProvider(p, h.providerID(p)) // fails only for a duplicate: skipped
	}
}

func (h *host) version() string {
	if h.schema == SchemaV1 {
		return v1Version
	}
	return otpVersion
}

// visibleLabels are the labels the host sends: none for silent hosts.
func (h *host) visibleLabels() map[string]string {
	if h.silent {
		return nil
	}
	return h.labels
}

func (h *host) uptime(now time.Time) (uint64, string) {
	secs := uint64(max(0, now.Sub(h.started)/time.Second))
	if h.schema == SchemaV1 {
		return secs, v1Uptime(secs)
	}
	return secs, otpUptime(secs)
}

func (h *host) newUUID() string {
	id, err := uuid.NewRandomFromReader(h.src)
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// start marks the host up and returns host_started followed by the events
// that start the inventory it was created with.
func (h *host) start(now time.Time) []hostEvent {
	h.up, h.started = true, now
	evs := []hostEvent{{projections.KindHostStarted, hostStartedData{
		FriendlyName: h.name, Labels: h.visibleLabels(), Version: h.version(),
	}}}
	for _, a := range h.actors {
		if h.schema == SchemaV1 {
			evs = append(evs, h.componentScaled(a))
			continue
		}
		for _, inst := range a.instances {
			evs = append(evs, h.actorStarted(a, inst))
		}
	}
	for _, p := range h.providers {
		evs = append(evs, h.providerStarted(p))
	}
	return evs
}

// stop marks the host down and returns host_stopped.
func (h *host) stop() hostEvent {
	h.up = false
	return hostEvent{projections.KindHostStopped, hostStoppedData{Labels: h.visibleLabels()}}
}

// actorID is how this host's generation names a catalog actor.
func (h *host) actorID(a actorSpec) string {
	if h.schema == SchemaV1 {
		return a.componentID
	}
	return a.key
}

// providerID is how this host's generation names a catalog provider.
func (h *host) providerID(p providerSpec) string {
	if h.schema == SchemaV1 {
		return p.providerID
	}
	return p.key
}

func (h *host) findActor(id string) int {
	return slices.IndexFunc(h.actors, func(a *actorState) bool { return a.id == id })
}

func (h *host) instanceCount() int {
	n := 0
	for _, a := range h.actors {
		n += len(a.instances)
	}
	return n
}

// startActor adds n instances of actor id: n actor_started events (OTP) or
// one component_scaled to the new count (1.x).
func (h *host) startActor(id string, n int) []hostEvent {
	i := h.findActor(id)
	if i < 0 {
		h.actors = append(h.actors, &actorState{spec: lookupActor(id), id: id})
		i = len(h.actors) - 1
	}
	a := h.actors[i]
	var evs []hostEvent
	for range n {
		inst := h.newUUID()
		a.instances = append(a.instances, inst)
		if h.schema == SchemaOTP {
			evs = append(evs, h.actorStarted(a, inst))
		}
	}
	if h.schema == SchemaV1 {
		evs = append(evs, h.componentScaled(a))
	}
	return evs
}

// stopActor removes one instance of actor id.
func (h *host) stopActor(id string) (hostEvent, error) {
	i := h.findActor(id)
	if i < 0 {
		return hostEvent{}, fmt.Errorf("actor %s: %w %s", id, ErrNotOnHost, h.id)
	}
	a := h.actors[i]
	inst := a.instances[len(a.instances)-1]
	a.instances = a.instances[:len(a.instances)-1]
	if len(a.instances) == 0 {
		h.actors = slices.Delete(h.actors, i, i+1)
	}
	if h.schema == SchemaV1 {
		return h.componentScaled(a), nil
	}
	return hostEvent{projections.KindActorStopped, otpActorStopped{InstanceID: inst, PublicKey: id}}, nil
}

func (h *host) actorStarted(a *actorState, inst string) hostEvent {
	return hostEvent{projections.KindActorStarted, otpActorStarted{
		Annotations: map[string]string{}, ImageRef: a.spec.imageRef, InstanceID: inst, PublicKey: a.id,
	}}
}

func (h *host) componentScaled(a *actorState) hostEvent {
	return hostEvent{projections.KindComponentScaled, v1ComponentScaled{
		Annotations: map[string]string{},
		Claims: v1ComponentClaims{
			Caps: slices.Clone(a.spec.caps), ExpiresHuman: "never", Issuer: officialIssuer, Name: a.spec.name,
			NotBeforeHuman: "immediately", Revision: a.spec.revision, Tags: []string{}, Version: a.spec.version,
		},
		ComponentID: a.id, HostID: h.id, ImageRef: a.spec.imageRef, MaxInstances: uint64(len(a.instances)),
	}}
}

func (h *host) findProvider(id, linkName string) int {
	return slices.IndexFunc(h.providers, func(p *providerState) bool {
		return p.id == id && (linkName == "" || p.linkName == linkName)
	})
}

// startProvider starts provider spec under id with the spec's link name.
func (h *host) startProvider(spec providerSpec, id string) (hostEvent, error) {
	if h.findProvider(id, spec.linkName) >= 0 {
		return hostEvent{}, fmt.Errorf("provider %s (link %s): %w %s", id, spec.linkName, ErrAlreadyOnHost, h.id)
	}
	p := &providerState{spec: spec, id: id, linkName: spec.linkName, instanceID: h.newUUID()}
	h.providers = append(h.providers, p)
	return h.providerStarted(p), nil
}

func (h *host) providerStarted(p *providerState) hostEvent {
	if h.schema == SchemaV1 {
		return hostEvent{projections.KindProviderStarted, v1ProviderStarted{
			Annotations: map[string]string{},
			Claims: v1ProviderClaims{
				ExpiresHuman: "never", Issuer: officialIssuer, Name: p.spec.name,
				NotBeforeHuman: "immediately", Version: p.spec.version,
			},
			HostID: h.id, ImageRef: p.spec.imageRef, ProviderID: p.id,
		}}
	}
	return hostEvent{projections.KindProviderStarted, otpProviderStarted{
		Annotations: map[string]string{}, ContractID: p.spec.contractID, ImageRef: p.spec.imageRef,
		InstanceID: p.instanceID, LinkName: p.linkName, PublicKey: p.id,
	}}
}

// stopProvider stops provider id under linkName ("" is any link name).
func (h *host) stopProvider(id, linkName string) (hostEvent, error) {
	i := h.findProvider(id, linkName)
	if i < 0 {
		return hostEvent{}, fmt.Errorf("provider %s: %w %s", id, ErrNotOnHost, h.id)
	}
	p := h.providers[i]
	h.providers = slices.Delete(h.providers, i, i+1)
	if h.schema == SchemaV1 {
		return hostEvent{projections.KindProviderStopped, v1ProviderStopped{
			Annotations: map[string]string{}, HostID: h.id, ProviderID: p.id, Reason: "normal",
		}}, nil
	}
	return hostEvent{projections.KindProviderStopped, otpProviderStopped{
		ContractID: p.spec.contractID, InstanceID: p.instanceID, LinkName: p.linkName, PublicKey: p.id, Reason: "normal",
	}}, nil
}

// healthCheck reports provider p's health.
func (h *host) healthCheck(p *providerState, passed bool) hostEvent {
	kind := projections.KindHealthCheckFailed
	if passed {
		kind = projections.KindHealthCheckPassed
	}
	if h.schema == SchemaV1 {
		return hostEvent{kind, v1HealthCheck{HostID: h.id, ProviderID: p.id}}
	}
	return hostEvent{kind, otpHealthCheck{LinkName: p.linkName, PublicKey: p.id}}
}

// linkSet links actor a with provider p.
func (h *host) linkSet(a *actorState, p *providerState) hostEvent {
	if h.schema == SchemaV1 {
		src, target := a.id, p.id
		if p.spec.inbound {
			src, target = p.id, a.id
		}
		return hostEvent{projections.KindLinkdefSet, v1LinkdefSet{
			Interfaces: slices.Clone(p.spec.interfaces), Name: "default", SourceConfig: []string{}, SourceID: src,
			Target: target, TargetConfig: []string{}, WitNamespace: p.spec.witNamespace, WitPackage: p.spec.witPackage,
		}}
	}
	values := maps.Clone(p.spec.linkValues)
	if _, ok := values["PORT"]; ok {
		values["PORT"] = strconv.Itoa(8080 + h.rng.IntN(20))
	}
	return hostEvent{projections.KindLinkdefSet, otpLinkdefSet{
		ActorID: a.id, ContractID: p.spec.contractID, ID: h.newUUID(), LinkName: p.linkName, ProviderID: p.id, Values: values,
	}}
}

// heartbeat returns host_heartbeat with the current inventory.
func (h *host) heartbeat(now time.Time) hostEvent {
	if h.schema == SchemaV1 {
		inv := h.v1Inventory(now)
		inv.Labels = h.visibleLabels()
		return hostEvent{projections.KindHostHeartbeat, inv}
	}
	inv := h.otpInventory(now)
	inv.Labels = h.visibleLabels()
	return hostEvent{projections.KindHostHeartbeat, inv}
}

func (h *host) otpInventory(now time.Time) otpInventory {
	secs, human := h.uptime(now)
	inv := otpInventory{
		Actors: make([]otpActorInstance, 0, h.instanceCount()), FriendlyName: h.name,
		Providers:   make([]otpProviderInstance, 0, len(h.providers)),
		UptimeHuman: human, UptimeSeconds: secs, Version: h.version(),
	}
	for _, a := range h.actors {
		for _, inst := range a.instances {
			inv.Actors = append(inv.Actors, otpActorInstance{InstanceID: inst, PublicKey: a.id})
		}
	}
	for _, p := range h.providers {
		inv.Providers = append(inv.Providers, otpProviderInstance{
			ContractID: p.spec.contractID, InstanceID: p.instanceID, LinkName: p.linkName, PublicKey: p.id,
		})
	}
	return inv
}

func (h *host) v1Inventory(now time.Time) v1Inventory {
	secs, human := h.uptime(now)
	inv := v1Inventory{
		Components: make([]v1Component, 0, len(h.actors)), FriendlyName: h.name, HostID: h.id, Issuer: h.issuer,
		Providers: make([]v1Provider, 0, len(h.providers)), UptimeHuman: human, UptimeSeconds: secs, Version: h.version(),
	}
	for _, a := range h.actors {
		inv.Components = append(inv.Components, v1Component{
			Annotations: map[string]string{}, ID: a.id, ImageRef: a.spec.imageRef,
			MaxInstances: uint64(len(a.instances)), Name: a.spec.name, Revision: a.spec.revision,
		})
	}
	for _, p := range h.providers {
		inv.Providers = append(inv.Providers, v1Provider{
			Annotations: map[string]string{}, ID: p.id, ImageRef: p.spec.imageRef, Name: p.spec.name,
		})
	}
	return inv
}

// otpInventoryReply answers an OTP inventory request: the heartbeat's
// inventory with host_id and labels.
func (h *host) otpInventoryReply(now time.Time) ([]byte, error) {
	inv := h.otpInventory(now)
	inv.HostID, inv.Labels = h.id, h.labels
	return json.Marshal(inv)
}

// v1InventoryReply answers a 1.x inventory request.
func (h *host) v1InventoryReply(now time.Time) ([]byte, error) {
	inv := h.v1Inventory(now)
	inv.Labels = h.labels
	return json.Marshal(v1Reply{Success: true, Response: inv})
}
