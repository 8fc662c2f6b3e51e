package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// recent drops the least recently used value, counting reads as uses, and
// a value put again under its key replaces the one it had.
func TestRecent_KeepsTheMostRecentlyUsed(t *testing.T) {
	r := recent[string, int]{size: 2}
	r.put("a", 1)
	r.put("b", 2)
	v, ok := r.get("a")
	require.True(t, ok)
	require.Equal(t, 1, v)
	r.put("c", 3) // b is the least recently used
	_, ok = r.get("b")
	require.False(t, ok)
	r.put("a", 10)
	require.Len(t, r.entries, 2)
	v, _ = r.get("a")
	require.Equal(t, 10, v)
	v, _ = r.get("c")
	require.Equal(t, 3, v)
}
