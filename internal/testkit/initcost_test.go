package testkit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// TestNoRegexpIsCompiledWhenTheBinaryLoads pins a memory decision (see
// BENCHMARKS.md, round 3): every sendmail process runs every package's
// initialisers, so a package-level regexp.MustCompile costs each send its
// heap and the regexp compiler's pages even when the send never matches
// it. Product code compiles regexps on first use (sync.OnceValue).
func TestNoRegexpIsCompiledWhenTheBinaryLoads(t *testing.T) {
	root := testbin.ModuleRoot()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == filepath.Join("internal", "testkit") || rel == filepath.Join("internal", "e2e") || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					call, ok := v.(*ast.CallExpr)
					if !ok {
						continue
					}
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "regexp" && strings.HasPrefix(sel.Sel.Name, "MustCompile") {
							t.Errorf("%s: a package-level regexp.%s runs in every process; compile it on first use (sync.OnceValue)", rel, sel.Sel.Name)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d product files read under %s", checked, root)
	}
}
