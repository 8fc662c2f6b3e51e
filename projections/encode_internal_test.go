package projections

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// plainByte is the rule plainASCII applies, one byte at a time.
func plainByte(c byte) bool { return c >= ' ' && c <= '~' && c != '"' && c != '\\' }

// Every byte value, at every position of a word and of the tail, is judged
// as plainByte judges it, whatever surrounds it; so is any mix of the
// bytes at the edges of the rule.
func TestPlainASCII(t *testing.T) {
	for _, background := range []string{"abcdefghijklmnopq", "~~~~~~~~~~~~~~~~~", "                 ", "!!!!!!!!!!!!!!!!!"} {
		for pos := range len(background) {
			for c := range 256 {
				s := []byte(background)
				s[pos] = byte(c)
				require.Equal(t, plainByte(byte(c)), plainASCII(string(s)), "byte %#x at %d of %q", c, pos, background)
			}
		}
	}
	edges := []byte{0, 0x1f, ' ', '!', '"', '#', '[', '\\', ']', '}', '~', 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.SliceOfN(rapid.SampledFrom(edges), 0, 40).Draw(t, "s")
		want := true
		for _, c := range s {
			want = want && plainByte(c)
		}
		require.Equal(t, want, plainASCII(string(s)), "%q", s)
	})
}
