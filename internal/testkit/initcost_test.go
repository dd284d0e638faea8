package testkit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// TestNoRegexpIsCompiledWhenTheBinaryLoads pins a memory decision (see
// BENCHMARKS.md, round 3): every sendmail process runs every package's
// initialisers, so a package-level regexp.MustCompile costs each send its
// heap and the regexp compiler's pages even when the send never matches
// it. Product code compiles regexps on first use (lazyre.Regexp, static
// data). sync.OnceValue and its kin are calls too: each gives its package
// an initialiser (see TestPackagesAPlainSendDoesNotUseHaveNoInitialiser).
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
							t.Errorf("%s: a package-level regexp.%s runs in every process; compile it on first use (lazyre.Regexp)", rel, sel.Sel.Name)
						}
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "sync" && strings.HasPrefix(sel.Sel.Name, "Once") {
							t.Errorf("%s: a package-level sync.%s gives the package an initialiser that runs in every process; use lazyre.Regexp for a regexp, or a sync.Once beside a zero variable", rel, sel.Sel.Name)
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

// TestPackagesAPlainSendDoesNotUseHaveNoInitialiser pins a memory
// decision (BENCHMARKS.md, peak memory): every process runs every
// package's initialiser, and an initialiser, however small, makes the
// kernel map the 64 KB of the package's code around it. These packages do
// nothing on a send with a password and no queue, so an initialiser in
// any of them costs every such send up to 64 KB of peak RSS. Keep their
// package-level variables static data: constants, composite literals,
// errors.New (the compiler lays those out), lazyre.Regexp; no maps, no
// function calls.
func TestPackagesAPlainSendDoesNotUseHaveNoInitialiser(t *testing.T) {
	cmd := exec.Command(testbin.Path(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gsendmail --version: %v\n%s", err, out)
	}
	ran := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			ran[f[1]] = true
		}
	}
	if !ran["github.com/gsendmail/gsendmail/internal/config"] {
		t.Fatalf("no init trace of internal/config (which has an initialiser) in:\n%s", out)
	}
	for _, pkg := range []string{"oauth", "queue", "doctor", "serve", "mta", "setup", "aliases", "nss", "sqlite", "sasl"} {
		if ran["github.com/gsendmail/gsendmail/internal/"+pkg] {
			t.Errorf("internal/%s has an initialiser: a send that never uses the package runs it", pkg)
		}
	}
}
