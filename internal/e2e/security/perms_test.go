package security

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Promise 5: a secrets-bearing file that group or others can read is
// refused (like ssh), and so is one not owned by root when running as root.
func TestSecretsBearingFilesWithLoosePermissionsAreRefused(t *testing.T) {
	f := newFake(t)
	f.starttls = "ok"
	for _, tc := range []struct {
		name   string
		mode   os.FileMode
		chown  bool   // hand the config to nobody (root only)
		file   string // "config", "password_file" or "token_file"
		code   int
		phrase string
	}{
		{name: "config-0600", mode: 0o600, file: "config", code: 0},
		{name: "config-0640", mode: 0o640, file: "config", code: 78, phrase: "chmod 600"},
		{name: "config-0644", mode: 0o644, file: "config", code: 78, phrase: "chmod 600"},
		{name: "config-group-writable", mode: 0o620, file: "config", code: 78, phrase: "chmod"},
		{name: "config-not-root-owned-as-root", mode: 0o600, chown: true, file: "config", code: 78, phrase: "chown root"},
		{name: "password-file-0644", mode: 0o644, file: "password_file", code: 78, phrase: "chmod"},
		{name: "password-file-0600", mode: 0o600, file: "password_file", code: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.chown && os.Geteuid() != 0 {
				t.Skip("ownership rule applies only when running as root")
			}
			cfg := fakeConfig(f, "starttls", "")
			cfgMode := os.FileMode(0o600)
			if tc.file == "config" {
				cfgMode = tc.mode
			}
			if tc.file == "password_file" {
				pf := writeFile(t, "pass", sentPass+"\n", tc.mode)
				cfg = strings.Replace(cfg, fmt.Sprintf("password = %q", sentPass), fmt.Sprintf("password_file = %q", pf), 1)
			}
			p := writeFile(t, "c.toml", cfg, cfgMode)
			if tc.chown {
				if err := os.Chown(p, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			r := run(t, runOpts{cfg: p}, "someone@example.org")
			if r.Code != tc.code {
				t.Fatalf("want exit %d:\n%s", tc.code, r)
			}
			if tc.code != 0 {
				oneLine(t, r)
				if !strings.Contains(r.Stderr, tc.phrase) {
					t.Errorf("stderr does not say how to fix it (%q): %q", tc.phrase, r.Stderr)
				}
				if strings.Contains(r.Stderr, sentPass) {
					t.Fatal("password in the error")
				}
			}
		})
	}
}

// Promise 5: the token file, the access-token cache and the queue are
// created 0600 in 0700 directories, and a token file others can read is
// refused.
func TestTokenCacheAndQueueFilesAreCreatedPrivate(t *testing.T) {
	as, f := oauthOnFake(t)
	as.AddRefreshToken(sentRefresh, sentUser)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	tokenFile := filepath.Join(dir, "tokens", "refresh.json")
	queueDir := filepath.Join(dir, "spool", "queue")
	cfg := writeFile(t, "c.toml", "default_account = \"oauth\"\n"+fakeOAuthAccount(f, as, "oauth", tokenFile, "")+fmt.Sprintf(`[account.queued]
host = "127.0.0.1"
port = %s
tls = "starttls"
user = %q
password = %q
from = %q
queue = true
queue_dir = %q
`, downSmarthost(t), sentUser, sentPass, sentUser, queueDir), 0o600)
	o := runOpts{cfg: cfg, state: state}
	o.stdin = strings.NewReader(sentRefresh + "\n")
	if r := run(t, o, "auth", "import", "oauth"); r.Code != 0 {
		t.Fatalf("auth import:\n%s", r)
	}
	if r := run(t, runOpts{cfg: cfg, state: state}, "-a", "oauth", "someone@example.org"); r.Code != 0 {
		t.Fatalf("oauth send:\n%s", r)
	}
	if r := run(t, runOpts{cfg: cfg, state: state}, "-a", "queued", "someone@example.org"); r.Code != 0 {
		t.Fatalf("queued send:\n%s", r)
	}
	var checked, caches, queued int
	for _, root := range []string{filepath.Dir(tokenFile), state, queueDir} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			fi, _ := d.Info()
			want := os.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if p == state {
				return nil // the test's own directory
			}
			checked++
			if strings.Contains(p, "cache") && !d.IsDir() {
				caches++
			}
			if strings.HasPrefix(p, queueDir) && !d.IsDir() {
				queued++
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
			}
			return nil
		})
	}
	if caches == 0 || queued == 0 {
		t.Fatalf("want an access-token cache and queue files to check; found %d cache and %d queue files", caches, queued)
	}
	t.Logf("checked %d paths", checked)

	// A token file others can read is refused before any token is used.
	os.Chmod(tokenFile, 0o644)
	r := run(t, runOpts{cfg: cfg, state: t.TempDir()}, "-a", "oauth", "someone@example.org")
	if r.Code == 0 || !strings.Contains(r.Stderr, tokenFile) || !strings.Contains(r.Stderr, "chmod") {
		t.Fatalf("token file readable by others was used:\n%s", r)
	}
	oneLine(t, r)
	t.Logf("token file 0644: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))

	// As root, a token file owned by another user is refused too: that
	// user could replace the token and read the mail sent with it.
	if os.Geteuid() != 0 {
		return
	}
	os.Chmod(tokenFile, 0o600)
	if err := os.Chown(tokenFile, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r = run(t, runOpts{cfg: cfg, state: t.TempDir()}, "-a", "oauth", "someone@example.org")
	if r.Code == 0 || !strings.Contains(r.Stderr, tokenFile) {
		t.Fatalf("token file owned by uid 65534 was used by root:\n%s", r)
	}
	oneLine(t, r)
	t.Logf("foreign-owned token file: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
}
