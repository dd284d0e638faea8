package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Promise 5: a directory that holds secrets (the token directory, the
// access-token cache directory, the queue) is used only when it is the
// user's own and nobody else can write to it. A pre-existing 0777
// directory, or a symbolic link into a world-writable or another user's
// directory, is refused with 78 and a line naming it, before any token
// is read or written there; the same account with a private directory
// works.
func TestStateDirectoriesOthersCanWriteAreRefused(t *testing.T) {
	as, f := oauthOnFake(t)
	type layout struct {
		name      string
		prepare   func(t *testing.T, base string) (tokenDir, state string)
		wantInErr string
		ok        bool
	}
	world := func(t *testing.T, p string) {
		os.MkdirAll(p, 0o777)
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cases := []layout{
		{name: "private (control)", ok: true, prepare: func(t *testing.T, base string) (string, string) {
			return filepath.Join(base, "tokens"), filepath.Join(base, "state")
		}},
		{name: "0777 token directory", wantInErr: "writable by group or others", prepare: func(t *testing.T, base string) (string, string) {
			d := filepath.Join(base, "tokens")
			world(t, d)
			return d, filepath.Join(base, "state")
		}},
		{name: "token directory symlinked into a 0777 directory", wantInErr: "writable by group or others", prepare: func(t *testing.T, base string) (string, string) {
			shared := filepath.Join(base, "shared-tmp")
			world(t, shared)
			link := filepath.Join(base, "tokens")
			if err := os.Symlink(shared, link); err != nil {
				t.Fatal(err)
			}
			return link, filepath.Join(base, "state")
		}},
		{name: "token directory symlinked to another user's directory", wantInErr: "owned by uid", prepare: func(t *testing.T, base string) (string, string) {
			other := filepath.Join(base, "other-user")
			os.MkdirAll(other, 0o700)
			if err := os.Chown(other, 65534, 65534); err != nil {
				t.Skipf("cannot give a directory to another user here: %v", err)
			}
			link := filepath.Join(base, "tokens")
			os.Symlink(other, link)
			return link, filepath.Join(base, "state")
		}},
		{name: "0777 cache directory", wantInErr: "token cache directory", prepare: func(t *testing.T, base string) (string, string) {
			state := filepath.Join(base, "state")
			world(t, filepath.Join(state, "gsendmail", "cache"))
			return filepath.Join(base, "tokens"), state
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			tokenDir, state := tc.prepare(t, base)
			os.MkdirAll(state, 0o700)
			// Random-looking, like real tokens: the redactor removes any
			// 8-character piece of a secret from what is printed.
			rt := fmt.Sprintf("rt-7Qz%dXk2Vw9", i)
			as.AddRefreshToken(rt, sentUser)
			cfg := writeFile(t, "c.toml", "default_account = \"oauth\"\n"+
				fakeOAuthAccount(f, as, "oauth", filepath.Join(tokenDir, "refresh.json"), "timeout = \"5s\"\n"), 0o600)
			o := runOpts{cfg: cfg, state: state, stdin: strings.NewReader(rt + "\n")}
			imp := run(t, o, "auth", "import", "oauth")
			if tc.ok {
				if imp.Code != 0 {
					t.Fatalf("auth import into a private directory:\n%s", imp)
				}
				if r := run(t, runOpts{cfg: cfg, state: state}, "someone@example.org"); r.Code != 0 {
					t.Fatalf("send with a private directory:\n%s", r)
				}
				return
			}
			if imp.Code != 78 || !strings.Contains(imp.Stderr, tc.wantInErr) {
				t.Errorf("auth import: want 78 naming %q:\n%s", tc.wantInErr, imp)
			}
			if _, err := os.Stat(filepath.Join(tokenDir, "refresh.json")); err == nil {
				t.Errorf("the refresh token was written into the refused directory")
			}
			// A token planted there by someone else is not used either.
			os.WriteFile(filepath.Join(tokenDir, "refresh.json"), []byte(`{"refresh_token":"`+rt+`"}`), 0o600)
			r := run(t, runOpts{cfg: cfg, state: state}, "someone@example.org")
			if r.Code != 78 || !strings.Contains(r.Stderr, tc.wantInErr) {
				t.Errorf("send: want 78 naming %q:\n%s", tc.wantInErr, r)
			}
			oneLine(t, r)
		})
	}
}
