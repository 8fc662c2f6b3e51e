package sim

// Wire shapes of event data and inventory replies, field for field as the
// hosts send them (fixtures/otp_*.json, fixtures/v1_samples.jsonl). Fields
// are declared in alphabetical order so the JSON reads like the captures.

// hostStartedData is host_started of both generations.
type hostStartedData struct {
	FriendlyName  string            `json:"friendly_name"`
	Labels        map[string]string `json:"labels,omitzero"`
	UptimeSeconds uint64            `json:"uptime_seconds"`
	Version       string            `json:"version"`
}

// hostStoppedData is host_stopped of both generations.
type hostStoppedData struct {
	Labels map[string]string `json:"labels,omitzero"`
}

// OTP (0.5x host_core) shapes.

type otpActorInstance struct {
	InstanceID string `json:"instance_id"`
	PublicKey  string `json:"public_key"`
}

type otpProviderInstance struct {
	ContractID string `json:"contract_id"`
	InstanceID string `json:"instance_id"`
	LinkName   string `json:"link_name"`
	PublicKey  string `json:"public_key"`
}

// otpInventory is the data of an OTP heartbeat and, with HostID set, the
// reply to an OTP inventory request.
type otpInventory struct {
	Actors        []otpActorInstance    `json:"actors"`
	FriendlyName  string                `json:"friendly_name"`
	HostID        string                `json:"host_id,omitzero"`
	Labels        map[string]string     `json:"labels,omitzero"`
	Providers     []otpProviderInstance `json:"providers"`
	UptimeHuman   string                `json:"uptime_human"`
	UptimeSeconds uint64                `json:"uptime_seconds"`
	Version       string                `json:"version"`
}

type otpActorStarted struct {
	Annotations map[string]string `json:"annotations"`
	APIVersion  int               `json:"api_version"`
	ImageRef    string            `json:"image_ref"`
	InstanceID  string            `json:"instance_id"`
	PublicKey   string            `json:"public_key"`
}

type otpActorStopped struct {
	InstanceID string `json:"instance_id"`
	PublicKey  string `json:"public_key"`
}

type otpProviderStarted struct {
	Annotations map[string]string `json:"annotations"`
	ContractID  string            `json:"contract_id"`
	ImageRef    string            `json:"image_ref"`
	InstanceID  string            `json:"instance_id"`
	LinkName    string            `json:"link_name"`
	PublicKey   string            `json:"public_key"`
}

type otpProviderStopped struct {
	ContractID string `json:"contract_id"`
	InstanceID string `json:"instance_id"`
	LinkName   string `json:"link_name"`
	PublicKey  string `json:"public_key"`
	Reason     string `json:"reason"`
}

type otpHealthCheck struct {
	LinkName  string `json:"link_name"`
	PublicKey string `json:"public_key"`
}

type otpLinkdefSet struct {
	ActorID    string            `json:"actor_id"`
	ContractID string            `json:"contract_id"`
	ID         string            `json:"id"`
	LinkName   string            `json:"link_name"`
	ProviderID string            `json:"provider_id"`
	Values     map[string]string `json:"values"`
}

// 1.x shapes.

type v1Component struct {
	Annotations  map[string]string `json:"annotations"`
	ID           string            `json:"id"`
	ImageRef     string            `json:"image_ref"`
	MaxInstances uint64            `json:"max_instances"`
	Name         string            `json:"name"`
	Revision     int               `json:"revision"`
}

type v1Provider struct {
	Annotations map[string]string `json:"annotations"`
	ID          string            `json:"id"`
	ImageRef    string            `json:"image_ref"`
	Name        string            `json:"name"`
	Revision    int               `json:"revision"`
}

// v1Inventory is the data of a 1.x heartbeat and the response to a 1.x
// inventory request.
type v1Inventory struct {
	Components    []v1Component     `json:"components"`
	FriendlyName  string            `json:"friendly_name"`
	HostID        string            `json:"host_id"`
	Issuer        string            `json:"issuer"`
	Labels        map[string]string `json:"labels,omitzero"`
	Providers     []v1Provider      `json:"providers"`
	UptimeHuman   string            `json:"uptime_human"`
	UptimeSeconds uint64            `json:"uptime_seconds"`
	Version       string            `json:"version"`
}

// v1Reply wraps every answer on the 1.x control interface.
type v1Reply struct {
	Message  string `json:"message"`
	Response any    `json:"response"`
	Success  bool   `json:"success"`
}

type v1ComponentClaims struct {
	Caps           []string `json:"caps"`
	ExpiresHuman   string   `json:"expires_human"`
	Issuer         string   `json:"issuer"`
	Name           string   `json:"name"`
	NotBeforeHuman string   `json:"not_before_human"`
	Revision       int      `json:"revision"`
	Tags           []string `json:"tags"`
	Version        string   `json:"version"`
}

type v1ProviderClaims struct {
	ExpiresHuman   string   `json:"expires_human"`
	Issuer         string   `json:"issuer"`
	Name           string   `json:"name"`
	NotBeforeHuman string   `json:"not_before_human"`
	Tags           []string `json:"tags"`
	Version        string   `json:"version"`
}

type v1ComponentScaled struct {
	Annotations  map[string]string `json:"annotations"`
	Claims       v1ComponentClaims `json:"claims"`
	ComponentID  string            `json:"component_id"`
	HostID       string            `json:"host_id"`
	ImageRef     string            `json:"image_ref"`
	MaxInstances uint64            `json:"max_instances"`
}

type v1ProviderStarted struct {
	Annotations map[string]string `json:"annotations"`
	Claims      v1ProviderClaims  `json:"claims"`
	HostID      string            `json:"host_id"`
	ImageRef    string            `json:"image_ref"`
	ProviderID  string            `json:"provider_id"`
}

type v1ProviderStopped struct {
	Annotations map[string]string `json:"annotations"`
	HostID      string            `json:"host_id"`
	ProviderID  string            `json:"provider_id"`
	Reason      string            `json:"reason"`
}

type v1HealthCheck struct {
	HostID     string `json:"host_id"`
	ProviderID string `json:"provider_id"`
}

type v1LinkdefSet struct {
	Interfaces   []string `json:"interfaces"`
	Name         string   `json:"name"`
	SourceConfig []string `json:"source_config"`
	SourceID     string   `json:"source_id"`
	Target       string   `json:"target"`
	TargetConfig []string `json:"target_config"`
	WitNamespace string   `json:"wit_namespace"`
	WitPackage   string   `json:"wit_package"`
}
