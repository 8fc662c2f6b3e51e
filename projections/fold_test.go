package projections_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata sequences (not those copied from shared/fixtures)")

// fixtureGoldens are copies of shared/fixtures: references that -update
// never rewrites.
var fixtureGoldens = map[string]bool{"otp_sequence": true}

// foldLines folds the lines of r as `projector fold` does: every physical
// line counts, blank lines are skipped, rejected lines are reported as
// "line N: reason".
func foldLines(tb testing.TB, raw []byte) (*projections.Folder, []string) {
	tb.Helper()
	f := projections.NewFolder(testLattice)
	var rejected []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 8<<20)
	var n uint64
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := f.Add(n, line); err != nil {
			rejected = append(rejected, fmt.Sprintf("line %d: %v", n, err))
		}
	}
	require.NoError(tb, sc.Err())
	return f, rejected
}

func TestFolder_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			f, rejected := foldLines(t, mustReadFile(t, file))
			got, err := projections.MarshalIndent(f.Lattice)
			require.NoError(t, err)
			gotRejected := strings.Join(rejected, "\n")

			expected := filepath.Join("testdata", name+".expected.json")
			rejectedFile := filepath.Join("testdata", name+".rejected.txt")
			if *update && !fixtureGoldens[name] {
				require.NoError(t, os.WriteFile(expected, append(got, '\n'), 0o644))
				if len(rejected) > 0 {
					require.NoError(t, os.WriteFile(rejectedFile, []byte(gotRejected+"\n"), 0o644))
				} else if err := os.Remove(rejectedFile); err != nil {
					require.ErrorIs(t, err, os.ErrNotExist)
				}
			}
			require.JSONEq(t, string(mustReadFile(t, expected)), string(got))
			wantRejected, err := os.ReadFile(rejectedFile)
			if err != nil {
				require.ErrorIs(t, err, os.ErrNotExist)
			}
			require.Equal(t, strings.TrimSpace(string(wantRejected)), gotRejected)

			again, _ := foldLines(t, mustReadFile(t, file))
			require.Equal(t, mustMarshal(t, f.Lattice), mustMarshal(t, again.Lattice), "folding is deterministic")
		})
	}
}

func TestFolder_Add(t *testing.T) {
	t.Run("events get the position and the lattice", func(t *testing.T) {
		f := projections.NewFolder("prod")
		require.NoError(t, f.Add(17, eventtest.HostHeartbeat(hostA, fullHeartbeat())))
		h := f.Lattice.Hosts[hostA]
		require.Equal(t, uint64(17), h.Seq)
		require.Equal(t, "prod", h.Lattice)
		require.Equal(t, "prod", f.Lattice.Name)
	})
	t.Run("intents collect in order", func(t *testing.T) {
		f := mustFold(t,
			eventtest.ActorStarted(hostB, actorEcho),
			eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}),
			eventtest.HostHeartbeat(hostA, eventtest.Heartbeat{}),
			eventtest.HostHeartbeat(hostB, eventtest.Heartbeat{}),
			eventtest.HostStopped(hostB, nil),
			eventtest.ProviderStarted(hostB, eventtest.Provider{ID: provHTTP}),
		)
		require.Equal(t, []projections.Intent{requestLabels(hostB, 1), requestLabels(hostA, 2), requestLabels(hostB, 6)}, f.Intents)
	})
	t.Run("nothing valid is lost next to something invalid", func(t *testing.T) {
		lines := [][]byte{
			eventtest.HostHeartbeat(hostA, fullHeartbeat()),
			[]byte(`{"specversion":"1.0"`),
			eventtest.ActorStarted(hostA, actorKV),
			eventtest.HostHeartbeat("NOTAHOST", fullHeartbeat()),
			eventtest.ActorStarted(hostB, actorKV),
		}
		f := projections.NewFolder(testLattice)
		var errs int
		for i, line := range lines {
			if f.Add(uint64(i+1), line) != nil {
				errs++
			}
		}
		require.Equal(t, 2, errs)
		require.Equal(t, awaiting(1), mustHost(t, f, hostA).Actors[actorKV])
		require.Equal(t, uint64(3), mustHost(t, f, hostA).Seq)
		require.Equal(t, uint64(5), mustHost(t, f, hostB).Seq)
		require.Len(t, f.Lattice.Hosts, 2)
	})
	t.Run("empty lattice encodes empty maps", func(t *testing.T) {
		require.JSONEq(t, `{"lattice":"default","hosts":{},"links":{},"refmaps":{}}`, string(mustMarshal(t, projections.NewFolder(testLattice).Lattice)))
	})
}

func TestFolder_Marshal(t *testing.T) {
	// Equal states encode to equal bytes, with map keys sorted, whatever the
	// order in which hosts, actors and providers arrived.
	hb := fullHeartbeat()
	hb.Actors = map[string]uint64{"a": 1, "b": 2, "c": 3, "d": 4}
	one := mustFold(t,
		eventtest.HostHeartbeat(hostA, hb), eventtest.HostHeartbeat(hostB, hb),
		eventtest.RefmapSet(hostA, "z", "1"), eventtest.RefmapSet(hostA, "a", "2"),
	)
	two := mustFold(t,
		eventtest.RefmapSet(hostA, "a", "2"), eventtest.RefmapSet(hostA, "z", "1"),
		eventtest.HostHeartbeat(hostB, hb), eventtest.HostHeartbeat(hostA, hb),
	)
	for _, f := range []*projections.Folder{one, two} {
		for _, h := range f.Lattice.Hosts {
			h.Seq = 0
		}
	}
	require.Equal(t, mustMarshal(t, one.Lattice), mustMarshal(t, two.Lattice))
	out := string(mustMarshal(t, one.Lattice))
	require.Less(t, strings.Index(out, `"a":{"count":1`), strings.Index(out, `"d":{"count":4`))
	indented, err := projections.MarshalIndent(one.Lattice)
	require.NoError(t, err)
	require.JSONEq(t, out, string(indented))
	require.Contains(t, string(indented), "\n  \"hosts\"")
}
