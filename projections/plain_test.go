package projections

import (
	"testing"

	"pgregory.net/rapid"
)

// The envelopes plain takes are ones the CloudEvents SDK accepts, so
// skipping its checks for them changes no outcome.
func TestEnvelope_PlainPassesSDK(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		contentType := rapid.SampledFrom([]*string{nil, ptr("application/json"), ptr("text/json"), ptr(" ")}).Draw(t, "datacontenttype")
		env := envelope{
			ID:              rapid.String().Draw(t, "id"),
			Source:          rapid.StringMatching(`[A-Za-z0-9]{0,60}|[ -~]{0,10}`).Draw(t, "source"),
			Type:            rapid.String().Draw(t, "type"),
			DataContentType: contentType,
		}
		if env.plain() {
			if err := env.validateContext(); err != nil {
				t.Fatalf("plain envelope %+v fails the SDK's checks: %v", env, err)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
