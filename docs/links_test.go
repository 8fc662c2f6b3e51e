package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	// slugDrop is what GitHub drops from a heading to make its anchor.
	slugDrop = regexp.MustCompile(`[^a-z0-9 _-]`)
)

// anchors returns the anchors of the headings of a Markdown document.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for l := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		if m := heading.FindStringSubmatch(l); m != nil && !inFence {
			out[strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")] = true
		}
	}
	return out
}

func TestAnchors(t *testing.T) {
	got := anchors("# Operations\n## Durability: `--sync`\n```sh\n# not a heading\n```\n### Metrics and alerts\n")
	require.Equal(t, map[string]bool{"operations": true, "durability---sync": true, "metrics-and-alerts": true}, got)
}

// TestDocs_Links: every relative link of the README and of docs/ names a
// file (and heading) inside the repository, so a clone has everything the
// documentation points to; nothing refers to files outside it.
func TestDocs_Links(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	docs, err := filepath.Glob("*.md")
	require.NoError(t, err)
	require.Subset(t, docs, []string{"architecture.md", "events.md", "operations.md"})
	files := []string{filepath.Join(root, "README.md")}
	for _, d := range docs {
		files = append(files, filepath.Join(root, "docs", d))
	}
	readme, err := os.ReadFile(files[0])
	require.NoError(t, err)
	for _, d := range docs {
		require.Contains(t, string(readme), "](docs/"+d+")", "the README links to docs/%s", d)
	}

	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		text := string(b)
		rel, _ := filepath.Rel(root, file)
		// A relative path climbing above the repository's root, in a link
		// or in prose, names something a clone does not have.
		up := strings.Repeat("../", strings.Count(filepath.ToSlash(rel), "/")+1)
		require.False(t, strings.Contains(text, up), "%s refers outside the repository", rel)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				r, err := filepath.Rel(root, dest)
				require.NoError(t, err)
				require.False(t, r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)),
					"%s links to %s, outside the repository", rel, target)
				_, err = os.Stat(dest)
				require.NoError(t, err, "%s links to %s", rel, target)
			}
			if frag != "" {
				d, err := os.ReadFile(dest)
				require.NoError(t, err)
				require.True(t, anchors(string(d))[frag], "%s links to %s: no such heading", rel, target)
			}
		}
	}
}
