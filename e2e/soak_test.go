package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// soak reports whether the long versions of the e2e tests run: their full
// event counts, durations and clients, with LATTICESTATE_SOAK=1 (the
// README's second test command, which .ci/run runs too). By default, and
// with -short, each proves the same with fewer events, so the README's test
// command stays within minutes on two cores.
func soak() bool { return os.Getenv("LATTICESTATE_SOAK") == "1" && !testing.Short() }

// soakSize is full under soak and short otherwise.
func soakSize(short, full int) int {
	if soak() {
		return full
	}
	return short
}

// TestSoak_Documented: the soak command .ci/run runs is the README's, and
// it selects exactly the tests that have a soak size, so that a test made
// smaller by default is still run at its full size somewhere.
func TestSoak_Documented(t *testing.T) {
	ci, err := os.ReadFile("../.ci/run")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	cmd := regexp.MustCompile(`(?m)^LATTICESTATE_SOAK=1 go test .* -run '\^\(([A-Za-z0-9_|]+)\)\$'$`)
	m := cmd.FindAllSubmatch(ci, -1)
	require.Len(t, m, 1, ".ci/run runs one soak command")
	require.Contains(t, string(readme), "\n"+string(m[0][0])+"\n", "the README names .ci/run's soak command")
	selected := strings.Split(string(m[0][1]), "|")

	var sized []string
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok && (id.Name == "soakSize" || id.Name == "soak") {
						sized = append(sized, fn.Name.Name)
					}
				}
				return true
			})
		}
	}
	require.ElementsMatch(t, slices.Compact(slices.Sorted(slices.Values(sized))), selected,
		"the soak command selects the tests with a soak size")
}
