package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRootCmd_Help: the top-level --help lists every command on a line of
// its own, with its description after it, and nothing else on that line.
func TestRootCmd_Help(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"--help"})
	require.NoError(t, root.Execute())
	help, _, found := strings.Cut(out.String(), "\nUsage:")
	require.True(t, found, "help has a Usage section:\n%s", out.String())

	var want []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && c.Name() != "completion" {
			want = append(want, c.Name())
		}
	}
	require.NotEmpty(t, want)
	line := regexp.MustCompile(`^  ([a-z]+)( +)(\S.*)$`)
	var listed []string
	column := -1
	for l := range strings.SplitSeq(help, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || !slices.Contains(want, m[1]) {
			continue
		}
		listed = append(listed, m[1])
		require.NotContains(t, m[3], "  ", "one command per line: %q", l)
		if column < 0 {
			column = len(m[1]) + len(m[2])
		}
		require.Equal(t, column, len(m[1])+len(m[2]), "descriptions start in one column: %q", l)
	}
	require.ElementsMatch(t, want, listed, "every command listed once:\n%s", help)
}
