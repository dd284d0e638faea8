package stack_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// The stack grows before the initialisers that would otherwise double it
// deep in their own calls (toml's loads the time zone, go-smtp's and ours
// compile regular expressions): the runtime must initialise this package
// before all of them, or growing it buys nothing.
func TestStackGrowsBeforeTheInitialisersThatNeedIt(t *testing.T) {
	cmd := exec.Command(testbin.Path(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gsendmail --version: %v\n%s", err, out)
	}
	order := map[string]int{}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			order[f[1]] = n
			n++
		}
	}
	self, ok := order["github.com/gsendmail/gsendmail/cmd/gsendmail/internal/stack"]
	if !ok {
		t.Fatalf("no init trace of the stack package in:\n%s", out)
	}
	for _, later := range []string{"time", "regexp", "github.com/BurntSushi/toml/internal", "github.com/emersion/go-smtp", "crypto/tls"} {
		if i, ok := order[later]; ok && i < self {
			t.Errorf("%s is initialised before the stack package (%d < %d)", later, i, self)
		}
	}
}
