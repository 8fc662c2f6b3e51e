package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/internal/server"
	"latticestate/projections"
	"latticestate/streams"
)

func TestHostExpiry_Left(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	seen := func(ago time.Duration) *string {
		s := now.Add(-ago).Format(time.RFC3339Nano)
		return &s
	}
	bad := "yesterday"
	stale := func(lastSeen *string) *projections.Host {
		return &projections.Host{Status: projections.StatusStale, LastSeen: lastSeen}
	}
	fifteen := hostExpiry{d: 15 * time.Minute, known: true}
	tests := []struct {
		name   string
		expiry hostExpiry
		host   *projections.Host
		want   string
	}{
		{"stale host with time left", fifteen, stale(seen(10*time.Minute + 30*time.Second)), "in 4m30s"},
		{"rounded to the second", fifteen, stale(seen(14*time.Minute + 58*time.Second + 400*time.Millisecond)), "in 2s"},
		{"past its expiry", fifteen, stale(seen(16 * time.Minute)), "due"},
		{"less than half a second left", fifteen, stale(seen(15*time.Minute - 400*time.Millisecond)), "due"},
		{"hosts never expire", hostExpiry{known: true}, stale(seen(time.Hour)), "never"},
		{"expiry unknown", hostExpiry{}, stale(seen(time.Minute)), "-"},
		{"host up", fifteen, &projections.Host{Status: projections.StatusUp, LastSeen: seen(time.Hour)}, "-"},
		{"never seen by a heartbeat", fifteen, stale(nil), "-"},
		{"last_seen not a time", fifteen, stale(&bad), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.expiry.left(tt.host, now))
		})
	}
}

// What serve records is what the queries read; a missing or garbled record
// leaves the expiry unknown.
func TestHostExpiry_RecordRead(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, hostExpiry{}, readHostExpiry(ctx, js))
	for _, d := range []time.Duration{6 * time.Second, 0} {
		require.NoError(t, server.RecordHostExpiry(ctx, res.Meta, d))
		require.Equal(t, hostExpiry{d: d, known: true}, readHostExpiry(ctx, js))
	}
	for _, garbage := range []string{"soon", "-5m", ""} {
		_, err := res.Meta.PutString(ctx, streams.HostExpiryKey, garbage)
		require.NoError(t, err)
		require.Equal(t, hostExpiry{}, readHostExpiry(ctx, js), garbage)
	}
}
