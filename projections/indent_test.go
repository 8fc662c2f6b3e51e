package projections_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/projections"
)

// requireWriteIndentMatches checks that WriteIndent writes MarshalIndent's
// bytes and a newline, and fails where MarshalIndent fails.
func requireWriteIndentMatches(t require.TestingT, l *projections.Lattice) {
	want, wantErr := projections.MarshalIndent(l)
	var got bytes.Buffer
	err := projections.WriteIndent(&got, l)
	if wantErr != nil {
		require.Error(t, err, "MarshalIndent fails: %v", wantErr)
		return
	}
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", got.String())
}

func TestWriteIndent_MatchesMarshalIndent(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".jsonl"), func(t *testing.T) {
			f, _ := foldLines(t, mustReadFile(t, file))
			require.NotEmpty(t, f.Lattice.Hosts)
			requireWriteIndentMatches(t, f.Lattice)
		})
	}
	t.Run("empty", func(t *testing.T) {
		requireWriteIndentMatches(t, projections.NewLattice("default"))
		requireWriteIndentMatches(t, &projections.Lattice{Name: "nil maps"})
	})
	t.Run("drawn", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			l := &projections.Lattice{
				Name:    drawText(t, "name"),
				Hosts:   drawTextMap(t, "hosts", rapid.Custom(drawHost)),
				Refmaps: drawTextMap(t, "refmaps", rapid.Custom(func(t *rapid.T) string { return drawText(t, "public key") })),
				Links: drawTextMap(t, "links", rapid.Custom(func(t *rapid.T) *projections.Link {
					return &projections.Link{SourceID: drawText(t, "source"), Target: drawText(t, "target"),
						Values: drawTextMap(t, "values", rapid.Custom(func(t *rapid.T) string { return drawText(t, "value") }))}
				})),
			}
			requireWriteIndentMatches(t, l)
		})
	})
}

// writeSizes records the size of every write.
type writeSizes struct{ sizes []int }

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return len(p), nil
}

// A large lattice reaches the writer in pieces of bounded size, not as one
// document.
func TestWriteIndent_Streams(t *testing.T) {
	l := projections.NewLattice("default")
	for i := range 5000 {
		id := fmt.Sprintf("N%05d", i)
		l.Hosts[id] = &projections.Host{HostID: id, Lattice: "default", Labels: map[string]string{"zone": "a", "os": "linux"}}
	}
	var w writeSizes
	require.NoError(t, projections.WriteIndent(&w, l))
	total := 0
	for _, n := range w.sizes {
		total += n
		require.LessOrEqual(t, n, 256<<10)
	}
	require.Greater(t, total, 1<<20)
}
