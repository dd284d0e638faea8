package callers_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gsendmail/gsendmail/internal/aliases"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// TestContribAliasesExampleRoutesCronMail keeps contrib/aliases.example
// loadable and meaning what its comments say: root and the names that
// point at it reach the example address.
func TestContribAliasesExampleRoutesCronMail(t *testing.T) {
	tab, err := aliases.Load(filepath.Join(testbin.ModuleRoot(), "contrib", "aliases.example"))
	if err != nil {
		t.Fatalf("contrib/aliases.example: %v", err)
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"root", []string{"you@example.org"}},
		{"MAILER-DAEMON", []string{"you@example.org"}},
		{"www-data", []string{"you@example.org", "webmaster@example.org"}},
		{"backup", []string{"you@example.org", "oncall@example.org"}},
	} {
		got, err := tab.Expand([]string{tc.name}, "")
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s -> %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := tab.Expand([]string{"nobody"}, ""); err == nil {
		t.Errorf("a name without alias was accepted; the example's default is meant to be commented out")
	}
}
