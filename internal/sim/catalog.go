package sim

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
)

// officialIssuer is the account that signs wasmCloud's own artifacts; it
// appears in the claims of 1.x events.
const officialIssuer = "ACOJJN6WUP4ODD75XEBKKTCCUJJCY5ZKQ56XVKYK4BEJWGVAOOQHZMCW"

// actorSpec is an actor (1.x: component) hosts can run.
type actorSpec struct {
	key         string // OTP public key (M…)
	componentID string // 1.x component id
	name        string
	imageRef    string
	version     string
	revision    int
	caps        []string
}

// providerSpec is a capability provider hosts can run.
type providerSpec struct {
	key        string // OTP public key (V…)
	providerID string // 1.x provider id
	name       string
	imageRef   string
	version    string
	contractID string
	linkName   string
	// linkValues are the OTP link definition values for this provider.
	linkValues map[string]string
	// witNamespace, witPackage and interfaces describe a 1.x link to it.
	witNamespace, witPackage string
	interfaces               []string
	// inbound: the provider calls the component (a 1.x link's source is
	// the provider), as an HTTP server does.
	inbound bool
}

// The actors and providers hosts pick from. The first entries carry the
// public keys of the real artifacts seen in the fixtures; the others get
// keys derived from their names.
var (
	actorCatalog = []actorSpec{
		{key: "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5", componentID: "echo", name: "Echo",
			imageRef: "wasmcloud.azurecr.io/echo:0.3.4", version: "0.3.4", revision: 4, caps: []string{"wasmcloud:httpserver"}},
		{key: wascapKey('M', "kvcounter"), componentID: "kvcounter", name: "KVCounter",
			imageRef: "wasmcloud.azurecr.io/kvcounter:0.4.0", version: "0.4.0", revision: 2, caps: []string{"wasmcloud:httpserver", "wasmcloud:keyvalue"}},
		{key: wascapKey('M', "hello"), componentID: "http_hello_world", name: "http-hello-world",
			imageRef: "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0", version: "0.1.0", caps: []string{"wasmcloud:httpserver"}},
		{key: wascapKey('M', "xkcd"), componentID: "xkcd", name: "xkcd",
			imageRef: "wasmcloud.azurecr.io/xkcd:0.1.1", version: "0.1.1", revision: 1, caps: []string{"wasmcloud:httpserver", "wasmcloud:httpclient"}},
		{key: wascapKey('M', "uppercase"), componentID: "uppercase", name: "Uppercase",
			imageRef: "wasmcloud.azurecr.io/uppercase:0.3.3", version: "0.3.3", revision: 3, caps: []string{"wasmcloud:messaging"}},
		{key: wascapKey('M', "blobby"), componentID: "blobby", name: "Blobby",
			imageRef: "ghcr.io/wasmcloud/components/blobby-rust:0.4.0", version: "0.4.0", caps: []string{"wasmcloud:httpserver", "wasmcloud:blobstore"}},
		{key: wascapKey('M', "petclinic"), componentID: "petclinic_api", name: "Petclinic API",
			imageRef: "wasmcloud.azurecr.io/petclinic-api:0.2.1", version: "0.2.1", revision: 1, caps: []string{"wasmcloud:httpserver", "wasmcloud:sqldb"}},
	}
	providerCatalog = []providerSpec{
		{key: "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M", providerID: "httpserver", name: "HTTP Server",
			imageRef: "wasmcloud.azurecr.io/httpserver:0.16.0", version: "0.16.0", contractID: "wasmcloud:httpserver", linkName: "default",
			linkValues: map[string]string{"PORT": "8080"}, witNamespace: "wasi", witPackage: "http", interfaces: []string{"incoming-handler"}, inbound: true},
		{key: "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB", providerID: "kvredis", name: "Redis KeyValue",
			imageRef: "wasmcloud.azurecr.io/kvredis:0.16.3", version: "0.16.3", contractID: "wasmcloud:keyvalue", linkName: "default",
			linkValues: map[string]string{"URL": "redis://127.0.0.1:6379/"}, witNamespace: "wasi", witPackage: "keyvalue", interfaces: []string{"store", "atomics"}},
		{key: wascapKey('V', "nats-messaging"), providerID: "nats_messaging", name: "NATS Messaging",
			imageRef: "wasmcloud.azurecr.io/nats_messaging:0.14.5", version: "0.14.5", contractID: "wasmcloud:messaging", linkName: "default",
			linkValues: map[string]string{"SUBSCRIPTION": "demo.echo"}, witNamespace: "wasmcloud", witPackage: "messaging", interfaces: []string{"consumer"}},
		{key: wascapKey('V', "httpclient"), providerID: "httpclient", name: "HTTP Client",
			imageRef: "wasmcloud.azurecr.io/httpclient:0.5.3", version: "0.5.3", contractID: "wasmcloud:httpclient", linkName: "default",
			linkValues: map[string]string{}, witNamespace: "wasi", witPackage: "http", interfaces: []string{"outgoing-handler"}},
		{key: wascapKey('V', "blobstore-fs"), providerID: "blobstore_fs", name: "Blobstore FS",
			imageRef: "wasmcloud.azurecr.io/blobstore_fs:0.2.0", version: "0.2.0", contractID: "wasmcloud:blobstore", linkName: "default",
			linkValues: map[string]string{"ROOT": "/tmp/blobby"}, witNamespace: "wasi", witPackage: "blobstore", interfaces: []string{"blobstore"}},
		{key: wascapKey('V', "sqldb-postgres"), providerID: "sqldb_postgres", name: "Postgres SQL DB",
			imageRef: "wasmcloud.azurecr.io/sqldb-postgres:0.3.1", version: "0.3.1", contractID: "wasmcloud:sqldb", linkName: "default",
			linkValues: map[string]string{"uri": "postgres://petclinic@127.0.0.1:5432/petclinic"}, witNamespace: "wasmcloud", witPackage: "postgres", interfaces: []string{"query"}},
		{key: "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB", providerID: "kvredis_cache", name: "Redis KeyValue",
			imageRef: "wasmcloud.azurecr.io/kvredis:0.16.3", version: "0.16.3", contractID: "wasmcloud:keyvalue", linkName: "cache",
			linkValues: map[string]string{"URL": "redis://127.0.0.1:6380/"}, witNamespace: "wasi", witPackage: "keyvalue", interfaces: []string{"store"}},
	}
)

// lookupActor returns the catalog entry whose key or component id is id, or
// a generic entry named after id.
func lookupActor(id string) actorSpec {
	for _, a := range actorCatalog {
		if a.key == id || a.componentID == id {
			return a
		}
	}
	ref := strings.ToLower(id)
	return actorSpec{key: id, componentID: id, name: id, imageRef: "localhost:5000/" + ref + ":0.1.0", version: "0.1.0", caps: []string{}}
}

// lookupProvider returns the catalog entry whose key or provider id is id
// (the default link name first), or a generic entry named after id.
func lookupProvider(id string) providerSpec {
	for _, p := range providerCatalog {
		if (p.key == id && p.linkName == "default") || p.providerID == id {
			return p
		}
	}
	ref := strings.ToLower(id)
	return providerSpec{key: id, providerID: id, name: id, imageRef: "localhost:5000/" + ref + ":0.1.0", version: "0.1.0",
		contractID: "wasmcloud:example", linkName: "default", linkValues: map[string]string{},
		witNamespace: "wasmcloud", witPackage: "example", interfaces: []string{"handler"}}
}

// keyEncoding is the base32 alphabet of nkeys and wascap keys.
var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// wascapKey returns a public key of the nkeys format for the key type whose
// encoded form starts with prefix ('M' module, 'V' service), derived from
// name. nkeys itself only encodes the NATS key types.
func wascapKey(prefix byte, name string) string {
	raw := sha256.Sum256([]byte("latticestate sim " + name))
	return encodeKey(byte(strings.IndexByte(alphabet, prefix))<<3, raw[:])
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// encodeKey encodes a 32-byte public key with its prefix byte and CRC-16
// checksum, as nkeys.Encode does.
func encodeKey(prefix byte, raw []byte) string {
	b := make([]byte, 0, 1+len(raw)+2)
	b = append(b, prefix)
	b = append(b, raw...)
	b = binary.LittleEndian.AppendUint16(b, crc16(b))
	return keyEncoding.EncodeToString(b)
}

// crc16 is CRC-16/XMODEM, the checksum of nkeys.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
