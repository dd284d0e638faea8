// Package testbin gives end-to-end tests the gsendmail binary: the one
// named by $GSENDMAIL_BIN (make test builds it first) or one built once per
// test process from this checkout. Tests only.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once  sync.Once
	built string
	err   error
)

// Path returns the absolute path of a gsendmail binary built from this
// checkout.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GSENDMAIL_BIN"); p != "" {
		return p
	}
	once.Do(func() {
		dir, e := os.MkdirTemp("", "gsendmail-bin-")
		if e != nil {
			err = e
			return
		}
		built = filepath.Join(dir, "gsendmail")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/gsendmail")
		cmd.Dir = ModuleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, e := cmd.CombinedOutput(); e != nil {
			err = &buildError{string(out), e}
		}
	})
	if err != nil {
		t.Fatalf("building gsendmail: %v", err)
	}
	return built
}

type buildError struct {
	out string
	err error
}

func (b *buildError) Error() string { return b.err.Error() + ": " + b.out }

// ModuleRoot is the repository root (where go.mod is).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
