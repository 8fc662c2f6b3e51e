package codesize

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// violations returns what in the Go source src, named name, is over the
// limits: the file's lines, and the lines of each function (declared, or a
// function literal at package level, such as a table of flags), from its
// func keyword to its closing brace.
func violations(fset *token.FileSet, name string, src []byte) ([]string, error) {
	var out []string
	lines := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		lines++
	}
	if lines > MaxFileLines {
		out = append(out, fmt.Sprintf("%s: %d lines, at most %d", name, lines, MaxFileLines))
	}
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	long := func(what string, n ast.Node) {
		if l := fset.Position(n.End()).Line - fset.Position(n.Pos()).Line + 1; l > MaxFuncLines {
			out = append(out, fmt.Sprintf("%s: %s is %d lines, at most %d", fset.Position(n.Pos()), what, l, MaxFuncLines))
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			long(funcName(d), d)
		case *ast.GenDecl:
			ast.Inspect(d, func(n ast.Node) bool {
				if lit, ok := n.(*ast.FuncLit); ok {
					long("a function literal", lit)
					return false
				}
				return true
			})
		}
	}
	return out, nil
}

// funcName is Recv.Name for a method, Name for a function.
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + d.Name.Name
	}
	return d.Name.Name
}

// moduleRoot is the directory of the go.mod above the test.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test")
		dir = parent
	}
}

// TestModule_Size: no non-test Go file of the module is over MaxFileLines
// lines, and no function over MaxFuncLines. Split the file along its jobs,
// or the function into steps with names, rather than raise the limits.
func TestModule_Size(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	var found []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		v, err := violations(fset, rel, src)
		if err != nil {
			return err
		}
		files++
		found = append(found, v...)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 100, "the walk should see the module's code")
	require.Empty(t, found, "split these along their jobs:\n%s", strings.Join(found, "\n"))
}

func TestViolations(t *testing.T) {
	body := func(n int) string { return strings.Repeat("\t_ = 0\n", n) }
	for _, tt := range []struct {
		name string
		src  string
		want []string
	}{
		{"short", "package p\n\nfunc f() {\n" + body(78) + "}\n", nil},
		{"function over", "package p\n\nfunc f() {\n" + body(79) + "}\n", []string{"f is 81 lines"}},
		{"method over", "package p\n\ntype T int\n\nfunc (t *T) m() {\n" + body(79) + "}\n", []string{"T.m is 81 lines"}},
		{"table over", "package p\n\nvar flags = func() int {\n" + body(79) + "\treturn 0\n}()\n", []string{"function literal is 82 lines"}},
		{"file over", "package p\n" + strings.Repeat("\n", 499) + "var x = 1", []string{"501 lines"}},
		{"file at the limit", "package p\n" + strings.Repeat("\n", 498) + "var x = 1\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := violations(token.NewFileSet(), "p.go", []byte(tt.src))
			require.NoError(t, err)
			require.Len(t, got, len(tt.want), "%v", got)
			for i, w := range tt.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}
