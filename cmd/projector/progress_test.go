package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgress_Renderer(t *testing.T) {
	t.Run("a terminal gets a bar with count and rate", func(t *testing.T) {
		var buf bytes.Buffer
		p := newProgress(&buf, true, "replaying", 0, 1000)
		p.set(500, 1000)
		time.Sleep(150 * time.Millisecond)
		p.set(1000, 1000)
		p.finish()
		out := buf.String()
		require.Contains(t, out, "replaying")
		require.Contains(t, out, "1000/1000")
		require.Contains(t, out, "events/s")
		require.Contains(t, out, "\r")
	})
	t.Run("elsewhere no bar, no carriage returns", func(t *testing.T) {
		var buf bytes.Buffer
		p := newProgress(&buf, false, "replaying", 0, 1000)
		p.set(500, 1000)
		p.set(1000, 1000)
		p.finish()
		require.NotContains(t, buf.String(), "\r")
		require.False(t, strings.Contains(buf.String(), "█"))
	})
	t.Run("a buffer is not a terminal", func(t *testing.T) {
		require.False(t, isTerminal(&bytes.Buffer{}))
	})
}
