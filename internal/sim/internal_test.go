package sim

import (
	"crypto/sha256"
	"regexp"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
)

func TestEncodeKey_MatchesNkeys(t *testing.T) {
	raw := sha256.Sum256([]byte("any"))
	want, err := nkeys.Encode(nkeys.PrefixByteServer, raw[:])
	require.NoError(t, err)
	require.Equal(t, string(want), encodeKey(byte(nkeys.PrefixByteServer), raw[:]))
}

func TestWascapKey(t *testing.T) {
	for _, a := range actorCatalog {
		require.Len(t, a.key, 56)
		require.Equal(t, byte('M'), a.key[0], a.key)
	}
	for _, p := range providerCatalog {
		require.Len(t, p.key, 56)
		require.Equal(t, byte('V'), p.key[0], p.key)
	}
}

func TestNewHost_IDIsServerNkey(t *testing.T) {
	h, err := newHost(7, 3, 1, SchemaOTP, false, "", true)
	require.NoError(t, err)
	require.True(t, nkeys.IsValidPublicServerKey(h.id), h.id)
	again, err := newHost(7, 3, 1, SchemaOTP, false, "", true)
	require.NoError(t, err)
	require.Equal(t, h.id, again.id)
	other, err := newHost(7, 3, 2, SchemaOTP, false, "", true)
	require.NoError(t, err)
	require.NotEqual(t, h.id, other.id)
}

func TestUptime(t *testing.T) {
	tests := []struct {
		secs     uint64
		otp, rfc string
	}{
		{0, "0 seconds", "0s"},
		{1, "1 second", "1s"},
		{30, "30 seconds", "30s"},
		{60, "1 minute", "1m"},
		{5253, "1 hour, 27 minutes, 33 seconds", "1h 27m 33s"},
		{6063, "1 hour, 41 minutes, 3 seconds", "1h 41m 3s"},
		{86400 + 7200, "1 day, 2 hours", "1day 2h"},
		{3 * 86400, "3 days", "3days"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.otp, otpUptime(tt.secs), tt.secs)
		require.Equal(t, tt.rfc, v1Uptime(tt.secs), tt.secs)
	}
}

func TestNewTraceparent(t *testing.T) {
	re := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	a, b := newTraceparent(), newTraceparent()
	require.Regexp(t, re, a)
	require.NotEqual(t, a, b)
}
