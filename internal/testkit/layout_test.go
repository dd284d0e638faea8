package testkit

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductDoesNotImportTestkit pins the split: the product's packages
// (everything but testkit itself and the e2e suites) may use test tooling
// only from their _test.go files, so the shipped binary never links it.
func TestProductDoesNotImportTestkit(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/gsendmail/gsendmail/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const kit = "github.com/gsendmail/gsendmail/internal/testkit"
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], kit) || strings.Contains(fields[0], "/internal/e2e") {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, kit) {
				t.Errorf("%s imports %s outside its tests", fields[0], imp)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d product packages listed; go list output looks wrong:\n%s", checked, out)
	}
}
