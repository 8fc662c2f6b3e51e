package projections

import "bytes"

// scanner walks a JSON text that validJSON has already validated (syntax,
// UTF-8, escapes, unique names), so it only has to find boundaries. It
// hands out strings as the bytes between their quotes and refuses (ok
// false) any string with an escape: the caller then leaves the input to the
// strict decoder.
type scanner struct {
	b []byte
	i int
	// escapes is false when b has no backslash: no string needs the
	// check.
	escapes bool
	// d shares the strings and label sets read (nil: none are shared).
	d *Decoder
}

func (d *Decoder) newScanner(b []byte) scanner {
	return scanner{b: b, escapes: bytes.IndexByte(b, '\\') >= 0, d: d}
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next consumes c, the next non-space byte, reporting whether it was there.
func (s *scanner) next(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// more is the loop condition of an object or array whose opening bracket
// is consumed: it consumes a separating comma and reports whether another
// member or element follows, or consumes the closing bracket.
func (s *scanner) more(closing byte) bool {
	switch s.peek() {
	case ',':
		s.i++
		return true
	case closing:
		s.i++
		return false
	}
	return true
}

// str reads a string without escapes and returns its contents.
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	rest := s.b[s.i+1:]
	n := bytes.IndexByte(rest, '"')
	if n < 0 || s.escapes && bytes.IndexByte(rest[:n], '\\') >= 0 {
		return nil, false
	}
	s.i += n + 2
	return rest[:n], true
}

// name reads an object member's name and the colon after it.
func (s *scanner) name() ([]byte, bool) {
	n, ok := s.str()
	return n, ok && s.next(':')
}

// uint reads a number that is a JSON integer in the range of uint64.
func (s *scanner) uint() (uint64, bool) {
	s.skipSpace()
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		s.i++
	}
	if s.i == start {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// null consumes a JSON null.
func (s *scanner) null() bool {
	if s.peek() != 'n' {
		return false
	}
	s.i += len("null")
	return true
}

// skip steps over one value of any kind.
func (s *scanner) skip() {
	s.skipSpace()
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.skipString()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return
			}
			depth--
			if depth == 0 {
				s.i++
				return
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
		}
		s.i++
	}
}

// skipString steps over a string, escapes included.
func (s *scanner) skipString() {
	s.i++
	for {
		n := bytes.IndexByte(s.b[s.i:], '"')
		if n < 0 {
			s.i = len(s.b)
			return
		}
		esc := bytes.IndexByte(s.b[s.i:s.i+n], '\\')
		if esc < 0 {
			s.i += n + 1
			return
		}
		s.i += esc + 2
	}
}
