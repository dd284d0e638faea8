package setup

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestWizardNamesTheFoundServersTLSModeInTheConfigFilesWord(t *testing.T) {
	stderr, stdout, err := script{dir: t.TempDir(), args: []string{"--dry-run", "--yes", "--auth", "password", "me@fastmail.com"}}.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "port 465 (tls)") {
		t.Errorf("the wizard did not call the server's mode by its tls word:\n%s", stderr)
	}
	if !strings.Contains(stdout, `tls = "tls"`) {
		t.Errorf("the file does not say tls = \"tls\":\n%s", stdout)
	}
}

func TestWizardTLSFlagKeepsAcceptingAnyCase(t *testing.T) {
	for flag, want := range map[string]string{"STARTTLS": "starttls", "Tls": "tls"} {
		dir := t.TempDir()
		stderr, _, err := script{dir: dir, dns: &fakeDNS{}, args: []string{"--yes", "--no-doctor", "--host", "smtp.example.org", "--tls", flag, "--auth", "none", "me@example.org"}}.run(t)
		if err != nil {
			t.Fatalf("--tls %s: %v\n%s", flag, err, stderr)
		}
		a := loadAt(t, filepath.Join(dir, "gsendmail", "config.toml")).Accounts["example"]
		if a == nil || a.TLS.String() != want || a.Port != a.TLS.DefaultPort() {
			t.Errorf("--tls %s: account = %v, want tls = %q on its default port", flag, a, want)
		}
	}
}
