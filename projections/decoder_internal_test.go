package projections

import (
	"fmt"
	"hash/maphash"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A cache's table grows once it has missed as often as it has slots, and
// the grown table still shares what the old one held.
func TestStringCache_Grow(t *testing.T) {
	var c stringCache
	c.init(maphash.MakeSeed(), 1<<16, stringKey)
	value := func(i int) []byte { return fmt.Appendf(nil, "value-%d", i) }
	first := make([]string, 1100)
	for i := range first {
		first[i] = c.get(value(i))
	}
	require.Len(t, *c.table.Load(), 8*initialSlots)

	shared := 0
	for i := range 1000 {
		s := c.get(value(i))
		require.Equal(t, first[i], s)
		if unsafe.StringData(s) == unsafe.StringData(first[i]) {
			shared++
		}
	}
	// About 600 of the first 1,000 were still in the old table when it
	// grew (the rest lost their slot to a later value).
	require.Greater(t, shared, 400, "values shared after the table grew")
}

// A table stops growing at its largest size.
func TestStringSet_GrowsUpToMax(t *testing.T) {
	var c stringSet
	c.init(maphash.MakeSeed(), 2*initialSlots, stringKey)
	for i := range 10 * initialSlots {
		c.add(fmt.Sprint(i))
	}
	require.Len(t, *c.table.Load(), 2*initialSlots)
	require.True(t, c.has(fmt.Sprint(10*initialSlots-1)))
}
