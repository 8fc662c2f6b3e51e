package projections_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"latticestate/projections"
)

// declined reports whether b may be one of the inputs ValidJSON declines
// though jsontext accepts them: an escape anywhere, deep nesting, a large
// object. Every other input it judges exactly as jsontext does.
func declined(b []byte) bool {
	return bytes.IndexByte(b, '\\') >= 0 ||
		bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")) >= projections.MaxValidDepth ||
		bytes.Count(b, []byte(":")) >= projections.MaxValidNames
}

// checkValid holds ValidJSON to jsontext on b: never valid where jsontext
// is not, and the same answer unless b is one it may decline.
func checkValid(t *testing.T, b []byte) {
	t.Helper()
	got, want := projections.ValidJSON(b), jsontext.Value(b).IsValid()
	if got && !want {
		t.Fatalf("ValidJSON accepts what jsontext rejects: %q", b)
	}
	if got != want && !declined(b) {
		t.Fatalf("ValidJSON %v, jsontext %v: %q", got, want, b)
	}
}

func TestValidJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":[true,false,null,"x",-0.5e+3,{}],"c":{"a":"\u00e9\n"}}`, true},
		{` [ 1 , 2 ] `, true},
		{`"caf` + "\u00e9\ufffd\U0001F600" + `"`, true},
		{`0`, true},
		{`-0.0E-0`, true},
		{"\"\x7f\"", true},
		{"", false},
		{" ", false},
		{`{"a":1,"a":2}`, false},
		{`{"a":{"b":1},"b":{"b":2}}`, true},
		{`{"a":1}{}`, false},
		{`{"a":1,}`, false},
		{`[1,]`, false},
		{`[1 2]`, false},
		{`{"a" 1}`, false},
		{`{a:1}`, false},
		{`01`, false},
		{`-`, false},
		{`1.`, false},
		{`.5`, false},
		{`1e`, false},
		{`+1`, false},
		{`tru`, false},
		{`nul`, false},
		{`truex`, false},
		{"\"a\x01\"", false},
		{"\"\xff\"", false},
		{"\"\xed\xa0\x80\"", false}, // a UTF-8 encoded surrogate
		{"\"\xc0\xaf\"", false},     // overlong
		{`"\x"`, false},
		{`"\u12G4"`, false},
		{`"\u12"`, false},
		{`"abc`, false},
		{"\xef\xbb\xbf{}", false},
		// Declined, though jsontext accepts them.
		{`{"\u0061":1}`, false},
		{`"\ud83d\ude00"`, false},
		{strings.Repeat("[", projections.MaxValidDepth+1) + strings.Repeat("]", projections.MaxValidDepth+1), false},
	} {
		if got := projections.ValidJSON([]byte(c.in)); got != c.want {
			t.Errorf("ValidJSON(%q) = %v, want %v", c.in, got, c.want)
		}
		if c.want && !jsontext.Value(c.in).IsValid() {
			t.Errorf("jsontext rejects %q", c.in)
		}
	}
	checkValid(t, []byte(strings.Repeat("[", projections.MaxValidDepth-1)+strings.Repeat("]", projections.MaxValidDepth-1)))
}

// Every byte value at every position of a string, eight bytes at a time
// or one by one, is judged as jsontext judges it.
func TestValidJSON_EveryByte(t *testing.T) {
	for _, background := range []string{"abcdefghijklmnopq", "~~~~~~~~~~~~~~~~~", "         ", "!"} {
		for pos := range len(background) {
			for c := range 256 {
				s := []byte(`"` + background + `"`)
				s[1+pos] = byte(c)
				checkValid(t, s)
			}
		}
	}
}

// Every real and hostile line of FuzzDecode's corpus is judged as jsontext
// judges it; every line the fast path is meant for passes.
func TestValidJSON_Corpus(t *testing.T) {
	for _, seed := range fuzzSeeds(t) {
		checkValid(t, seed)
	}
	for _, hb := range benchHeartbeats()[:100] {
		if !projections.ValidJSON(hb) {
			t.Fatalf("a heartbeat is declined: %s", hb)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	for _, s := range []string{`{"a":[1,-2.5e3,true,null],"b":{"c":"d"}}`, `{"a":1,"a":2}`, `[01]`, "\"\xe2\x82\"", `"\u00e9"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkValid)
}

// BenchmarkValidJSON checks the heartbeats of BenchmarkDecode as the fast
// path does, and as jsontext does.
func BenchmarkValidJSON(b *testing.B) {
	lines := benchHeartbeats()
	for _, c := range []struct {
		name  string
		valid func([]byte) bool
	}{
		{"ValidJSON", projections.ValidJSON},
		{"jsontext", func(b []byte) bool { return jsontext.Value(b).IsValid() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(lines[0])))
			for i := 0; b.Loop(); i++ {
				if !c.valid(lines[i%len(lines)]) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
