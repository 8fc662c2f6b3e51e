package projections

import (
	"bytes"
	"encoding/base64"
	"errors"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	ceevent "github.com/cloudevents/sdk-go/v2/event"
	cetypes "github.com/cloudevents/sdk-go/v2/types"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nkeys"
)

// envelope is the structured-mode CloudEvents JSON object. Extension
// attributes are accepted and not kept.
type envelope struct {
	SpecVersion     *string        `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Time            *string        `json:"time"`
	DataContentType *string        `json:"datacontenttype"`
	DataSchema      *string        `json:"dataschema"`
	Subject         *string        `json:"subject"`
	Data            jsontext.Value `json:"data"`
	DataBase64      *string        `json:"data_base64"`
}

// Decode parses and validates one CloudEvent in JSON structured mode.
//
// It returns a *DecodeError (wrapping ErrMalformed, ErrEnvelope, ErrData or
// ErrInvalidHostID) for anything that is not exactly one JSON object in valid
// UTF-8 forming a valid CloudEvents 1.0 envelope with data of the shape its
// kind requires. Events of kinds that change no state are returned with an
// empty Kind once the envelope is valid, without their source or data being
// read. Decode keeps nothing between calls; a Decoder shares what recurs.
func Decode(raw []byte) (Event, error) {
	var uncached *Decoder
	return uncached.Decode(raw)
}

// decodeStrict decodes the envelope, then the data its type calls for.
func (d *Decoder) decodeStrict(raw []byte) (Event, error) {
	var env envelope
	if err := decodeEnvelope(raw, &env); err != nil {
		return Event{}, err
	}
	ev, known := env.event()
	if !known {
		return ev, nil
	}
	data, err := env.payload()
	if err != nil {
		return Event{}, err
	}
	if err := d.decodeData(&ev, data, nil); err != nil {
		return Event{}, err
	}
	if err := d.checkHostID(ev.HostID); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// event returns the event a valid envelope describes, and whether its type
// is one that changes state; its Kind is set only then.
func (env *envelope) event() (Event, bool) {
	ev := Event{ID: env.ID, Source: env.Source, Type: env.Type}
	if env.Time != nil {
		ev.Time = *env.Time
	}
	kind, ok := eventKinds[env.Type]
	ev.Kind = kind
	return ev, ok
}

// ValidHostID reports whether id is a server public nkey: 56 characters of
// the base32 alphabet, prefix N, valid checksum. Only such ids become KV keys
// and subject tokens.
func ValidHostID(id string) bool {
	if len(id) != 56 || id[0] != 'N' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return nkeys.IsValidPublicServerKey(id)
}

func decodeEnvelope(raw []byte, env *envelope) error {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 {
		return reject(ErrMalformed, "empty input")
	}
	if bytes.HasPrefix(trimmed, []byte("\xef\xbb\xbf")) {
		return reject(ErrMalformed, "byte order mark before the JSON object")
	}
	if trimmed[0] != '{' {
		if !utf8.Valid(trimmed) {
			return reject(ErrMalformed, "invalid UTF-8")
		}
		return reject(ErrMalformed, "not a JSON object")
	}
	if err := json.Unmarshal(trimmed, env); err != nil {
		// Valid JSON whose attributes have the wrong types is a bad
		// envelope; anything else is not one JSON object.
		var semantic *json.SemanticError
		if errors.As(err, &semantic) && jsontext.Value(trimmed).IsValid() {
			return reject(ErrEnvelope, "%s", jsonReason(err))
		}
		return reject(ErrMalformed, "%s", jsonReason(err))
	}
	return env.validate()
}

func (env *envelope) validate() error {
	if env.SpecVersion == nil {
		return reject(ErrEnvelope, "specversion is missing")
	}
	if *env.SpecVersion != "1.0" {
		return reject(ErrEnvelope, "specversion %q is not \"1.0\"", truncate(*env.SpecVersion))
	}
	for _, a := range [...]struct{ name, value string }{{"id", env.ID}, {"source", env.Source}, {"type", env.Type}} {
		if a.value == "" {
			return reject(ErrEnvelope, "%s is missing or empty", a.name)
		}
	}
	if !env.plain() {
		if err := env.validateContext(); err != nil {
			return err
		}
	}
	if env.Time != nil {
		if _, err := time.Parse(time.RFC3339Nano, *env.Time); err != nil {
			return reject(ErrEnvelope, "time %q is not RFC 3339", truncate(*env.Time))
		}
	}
	if env.DataContentType != nil && !isJSONMediaType(*env.DataContentType) {
		return reject(ErrEnvelope, "datacontenttype %q is not JSON", truncate(*env.DataContentType))
	}
	if env.hasData() && env.DataBase64 != nil {
		return reject(ErrEnvelope, "both data and data_base64 are present")
	}
	if env.DataBase64 != nil {
		if _, err := base64.StdEncoding.DecodeString(*env.DataBase64); err != nil {
			return reject(ErrEnvelope, "data_base64 is not valid base64")
		}
	}
	return nil
}

// plain reports whether the envelope has the shape hosts send, which the
// CloudEvents SDK's checks are known to pass: non-blank id and type, an
// alphanumeric source, datacontenttype absent or application/json, no
// dataschema and no subject.
func (env *envelope) plain() bool {
	return strings.TrimSpace(env.ID) != "" && strings.TrimSpace(env.Type) != "" && isAlphanumeric(env.Source) &&
		(env.DataContentType == nil || *env.DataContentType == "application/json") &&
		env.DataSchema == nil && env.Subject == nil
}

// validateContext checks the attributes with the CloudEvents SDK.
func (env *envelope) validateContext() error {
	ctx := ceevent.EventContextV1{
		ID:              env.ID,
		Type:            env.Type,
		DataContentType: env.DataContentType,
		Subject:         env.Subject,
	}
	if isAlphanumeric(env.Source) {
		// What url.Parse makes of it (a host id, mostly), without the cost.
		ctx.Source = cetypes.URIRef{URL: url.URL{Path: env.Source}}
	} else if src := cetypes.ParseURIRef(env.Source); src != nil {
		ctx.Source = *src
	} else {
		return reject(ErrEnvelope, "source %q is not a URI-reference", truncate(env.Source))
	}
	if env.DataSchema != nil {
		ctx.DataSchema = cetypes.ParseURI(*env.DataSchema)
		if ctx.DataSchema == nil {
			return reject(ErrEnvelope, "dataschema %q is not a URI", truncate(*env.DataSchema))
		}
	}
	if err := ctx.Validate(); err != nil {
		return reject(ErrEnvelope, "%s", validationReason(err))
	}
	return nil
}

// validationReason is what the CloudEvents SDK found wrong, attribute by
// attribute in the order of their names: the SDK lists them in the order
// of a map, which changes from one call to the next, and the same event
// is rejected with the same reason.
func validationReason(err error) string {
	var ve ceevent.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	reasons := make([]string, 0, len(ve))
	for _, name := range slices.Sorted(maps.Keys(ve)) {
		reasons = append(reasons, name+": "+ve[name].Error())
	}
	return strings.Join(reasons, "; ")
}

func isAlphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func (env *envelope) hasData() bool {
	return len(env.Data) > 0 && env.Data.Kind() != 'n'
}

// payload returns the data bytes, decoding data_base64 when that carries them.
// nil means the event has no data.
func (env *envelope) payload() ([]byte, error) {
	if env.DataBase64 != nil {
		b, err := base64.StdEncoding.DecodeString(*env.DataBase64)
		if err != nil {
			return nil, reject(ErrEnvelope, "data_base64 is not valid base64")
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		if !jsontext.Value(b).IsValid() {
			return nil, reject(ErrData, "data_base64 does not hold one JSON value in valid UTF-8")
		}
		return b, nil
	}
	if !env.hasData() {
		return nil, nil
	}
	return env.Data, nil
}

func isJSONMediaType(s string) bool {
	if s == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// jsonReason renders a JSON error without the package prefix, keeping the
// JSON pointer of the offending value where the decoder reports one.
func jsonReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return strings.TrimPrefix(msg, "jsontext: ")
}

// truncate bounds values quoted in reasons, so hostile input cannot blow up
// logs or dead-letter headers.
func truncate(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
