package projections

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// validJSON reports whether b is one JSON value that jsontext accepts with
// its default options: RFC 8259 syntax, valid UTF-8 in strings, unique
// member names in every object. It is the fast path's check, in one pass
// and without allocating. It declines, reporting false, what it does not
// check itself: a member name with an escape, a \u escape of a surrogate,
// more than maxValidNames names in the objects being read at once, nesting
// deeper than maxValidDepth, an input longer than 4 GiB. Those inputs take
// the strict path, where jsontext decides. So true always means jsontext
// accepts b; false means it rejects b or b is one of those.
func validJSON(b []byte) bool {
	if uint64(len(b)) > math.MaxUint32 {
		return false
	}
	v := validator{b: b}
	if !v.value(0) {
		return false
	}
	v.skipSpace()
	return v.i == len(v.b)
}

const (
	// maxValidDepth bounds the nesting validJSON checks; events nest a few
	// levels deep.
	maxValidDepth = 64
	// maxValidNames bounds the member names of the objects being read at
	// once (an object and those it is in), which validJSON checks for
	// duplicates one against the others.
	maxValidNames = 128
)

type validator struct {
	b []byte
	i int
	// names[:n] are the member names of the objects being read, innermost
	// last, as offsets into b.
	names [maxValidNames]nameSpan
	n     int
}

type nameSpan struct{ start, end uint32 }

func (v *validator) skipSpace() {
	for v.i < len(v.b) {
		// Most bytes after a token are the next token.
		if c := v.b[v.i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		v.i++
	}
}

// value reads the value at v.i, inside depth containers.
func (v *validator) value(depth int) bool {
	v.skipSpace()
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; c {
	case '{':
		return depth < maxValidDepth && v.object(depth+1)
	case '[':
		return depth < maxValidDepth && v.array(depth+1)
	case '"':
		_, ok := v.str()
		return ok
	case 't':
		return v.literal("true")
	case 'f':
		return v.literal("false")
	case 'n':
		return v.literal("null")
	default:
		return (c == '-' || isDigit(c)) && v.number()
	}
}

// end consumes the comma or the closing bracket after a member or an
// element: more reports a comma, ok either.
func (v *validator) end(closing byte) (more, ok bool) {
	v.skipSpace()
	if v.i >= len(v.b) {
		return false, false
	}
	switch v.b[v.i] {
	case ',':
		v.i++
		return true, true
	case closing:
		v.i++
		return false, true
	}
	return false, false
}

// empty consumes the opening bracket at v.i and reports whether closing
// follows it, consuming that too.
func (v *validator) empty(closing byte) bool {
	v.i++
	v.skipSpace()
	if v.i < len(v.b) && v.b[v.i] == closing {
		v.i++
		return true
	}
	return false
}

func (v *validator) object(depth int) bool {
	if v.empty('}') {
		return true
	}
	first := v.n
	for {
		v.skipSpace()
		if v.i >= len(v.b) || v.b[v.i] != '"' {
			return false
		}
		start := v.i + 1
		if escaped, ok := v.str(); !ok || escaped {
			return false
		}
		if !v.addName(first, start, v.i-1) {
			return false
		}
		v.skipSpace()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		if !v.value(depth) {
			return false
		}
		more, ok := v.end('}')
		if !ok {
			return false
		}
		if !more {
			v.n = first
			return true
		}
	}
}

// addName records b[start:end] as a member name of the object whose names
// start at first, reporting false if the object already has it, or there
// are maxValidNames names already.
func (v *validator) addName(first, start, end int) bool {
	if v.n == len(v.names) {
		return false
	}
	s := v.b[start:end]
	for _, n := range v.names[first:v.n] {
		if int(n.end-n.start) == len(s) && string(v.b[n.start:n.end]) == string(s) {
			return false
		}
	}
	v.names[v.n] = nameSpan{uint32(start), uint32(end)}
	v.n++
	return true
}

func (v *validator) array(depth int) bool {
	if v.empty(']') {
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		more, ok := v.end(']')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

func (v *validator) literal(lit string) bool {
	if len(v.b)-v.i < len(lit) || string(v.b[v.i:v.i+len(lit)]) != lit {
		return false
	}
	v.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (v *validator) number() bool {
	b, i := v.b, v.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	v.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits returns the index of the first byte from i on that is not a digit.
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// str reads the string at v.i, its opening quote, reporting whether it has
// an escape.
func (v *validator) str() (escaped, ok bool) {
	b, i := v.b, v.i+1
	for {
		// Eight bytes at a time while none of them needs a look, then
		// byte by byte up to the one that does.
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && verbatim[b[i]] {
			i++
		}
		if i >= len(b) {
			return false, false
		}
		switch c := b[i]; {
		case c == '"':
			v.i = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok || 0xD800 <= r && r <= 0xDFFF {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < 0x20:
			return false, false
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return false, false
			}
			i += size
		}
	}
}

// hex4 decodes the four hex digits that b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// verbatim marks the bytes a string holds as they are: ASCII, neither a
// control character, a quote nor a backslash.
var verbatim = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const ones, highs = 0x0101010101010101, 0x8080808080808080

// special8 reports whether any of the eight bytes in w is not verbatim:
// less than a space, a quote, a backslash, or past ASCII (its high bit).
// Each test sets the high bit of a byte that fails it, and a borrow only
// ever carries past a byte that failed already.
func special8(w uint64) bool {
	q, b := w^('"'*ones), w^('\\'*ones)
	return (w|(w-' '*ones)&^w|(q-ones)&^q|(b-ones)&^b)&highs != 0
}
