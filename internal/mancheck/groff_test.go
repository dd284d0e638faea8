package mancheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// Debian's man(1) renders with groff, which warns where mandoc does not:
// a table or a literal too wide for the 80-column terminal ("can't break
// line"). The pages must render without any warning.
func TestManPagesRenderUnderGroffWithoutWarnings(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		if os.Getenv("GSENDMAIL_REQUIRE_REAL_SERVERS") == "1" {
			t.Fatal("groff is not installed: run internal/testkit/testenv/install-deps.sh (groff-base)")
		}
		t.Skip("groff is not installed")
	}
	pages, _ := filepath.Glob(filepath.Join(testbin.ModuleRoot(), "man", "*.[0-9]"))
	if len(pages) < 2 {
		t.Fatalf("found man pages %v, want gsendmail.1 and gsendmail.toml.5", pages)
	}
	for _, p := range pages {
		for _, macros := range []string{"-man", "-mandoc"} {
			out, err := exec.Command(groff, macros, "-Tutf8", "-ww", "-z", p).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("groff %s -Tutf8 -ww -z %s: %v\n%s", macros, filepath.Base(p), err, out)
			}
		}
	}
}
