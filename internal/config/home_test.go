package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// homeWorld fakes a machine with two users: "alice" (uid 4242, home
// alice/) who runs gsendmail, and root, whose home root/ holds a config
// alice's daemon-inherited HOME points at. The files are chowned, so the
// test needs root (CI runs as root).
type homeWorld struct {
	dir, alice, root, system string
}

func newHomeWorld(t *testing.T) *homeWorld {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown test files to a second uid")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &homeWorld{dir: dir, alice: filepath.Join(dir, "alice"), root: filepath.Join(dir, "root"), system: filepath.Join(dir, "etc", "gsendmail.toml")}
	for _, d := range []string{w.alice, w.root, filepath.Dir(w.system)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(w.alice, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.system, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	oldSystem, oldEUID, oldPW, oldReadable := SystemPath, geteuid, lookupPasswd, readable
	t.Cleanup(func() { SystemPath, geteuid, lookupPasswd, readable = oldSystem, oldEUID, oldPW, oldReadable })
	SystemPath = w.system
	geteuid = func() int { return 4242 }
	lookupPasswd = func(uid int) (*Passwd, error) {
		if uid != 4242 {
			t.Fatalf("password database asked for uid %d, want the effective uid 4242", uid)
		}
		return &Passwd{UID: 4242, Name: "alice", Home: w.alice, FullName: "Alice Example"}, nil
	}
	return w
}

// config writes HOME/.config/gsendmail/config.toml owned by uid.
func (w *homeWorld) config(t *testing.T, home string, uid int) string {
	t.Helper()
	p := filepath.Join(home, ".config", "gsendmail", "config.toml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookupUsesThePasswordDatabaseHomeWhenHOMEIsInheritedFromTheDaemon(t *testing.T) {
	w := newHomeWorld(t)
	own := w.config(t, w.alice, 4242)
	w.config(t, w.root, 0) // root's own config: must not be tried, nor warned about
	for _, e := range []map[string]string{
		{"HOME": w.root},     // Debian cron/atd started with HOME=/root
		{},                   // no HOME at all (PHP-FPM pools)
		{"HOME": "relative"}, // not a home
		{"HOME": w.root, "XDG_CONFIG_HOME": w.root + "/.config"}, // root's XDG too
	} {
		f, err := Lookup("", env(e))
		if err != nil || f.Path != own || f.System || len(f.Warnings) != 0 {
			t.Errorf("env %v: Lookup = %+v, %v; want %s without warnings", e, f, err, own)
		}
	}
}

func TestLookupKeepsAHOMEThatTheUserOwns(t *testing.T) {
	w := newHomeWorld(t)
	elsewhere := filepath.Join(w.dir, "srv-alice")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(elsewhere, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	mine := w.config(t, elsewhere, 4242)
	w.config(t, w.alice, 4242)
	f, err := Lookup("", env(map[string]string{"HOME": elsewhere}))
	if err != nil || f.Path != mine {
		t.Errorf("Lookup = %+v, %v; want the config under the user's own HOME %s", f, err, mine)
	}
}

func TestLookupSkipsAUserConfigOwnedByAnotherUserAndUsesTheSystemFile(t *testing.T) {
	w := newHomeWorld(t)
	// alice's own home, but the file in it belongs to root (planted, or
	// written by "sudo gsendmail setup" without -H).
	p := w.config(t, w.alice, 0)
	f, err := Lookup("", env(map[string]string{"HOME": w.alice}))
	if err != nil || f.Path != w.system || !f.System {
		t.Fatalf("Lookup = %+v, %v; want the system file %s", f, err, w.system)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], p) || !strings.Contains(f.Warnings[0], "belongs to uid 0") {
		t.Errorf("warnings %q; want one naming %s and its owner", f.Warnings, p)
	}
}

func TestLookupSkipsAnUnreadableUserConfigAndUsesTheSystemFile(t *testing.T) {
	w := newHomeWorld(t)
	p := w.config(t, w.alice, 4242)
	readable = func(path string) bool { return path != p }
	f, err := Lookup("", env(map[string]string{"HOME": w.alice}))
	if err != nil || f.Path != w.system {
		t.Fatalf("Lookup = %+v, %v; want the system file", f, err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "cannot be read") {
		t.Errorf("warnings %q", f.Warnings)
	}
}

func TestLookupWithOnlyASkippedUserConfigSaysWhyInTheError(t *testing.T) {
	w := newHomeWorld(t)
	os.Remove(w.system)
	p := w.config(t, w.alice, 0)
	_, err := Lookup("", env(map[string]string{"HOME": w.alice}))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), w.system+" does not exist") {
		t.Errorf("err = %v; want one line naming the skipped %s and the missing system file", err, p)
	}
}

func TestUserEnvReplacesAnInheritedHOMEAndForeignXDGDirectories(t *testing.T) {
	w := newHomeWorld(t)
	state := filepath.Join(w.dir, "alice-state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	in := map[string]string{"HOME": w.root, "XDG_CONFIG_HOME": w.root + "/.config", "XDG_STATE_HOME": state, "PATH": "/usr/bin"}
	got, note := UserEnv(env(in))
	for k, want := range map[string]string{"HOME": w.alice, "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": state, "PATH": "/usr/bin"} {
		if got(k) != want {
			t.Errorf("%s = %q, want %q", k, got(k), want)
		}
	}
	if !strings.Contains(note, "HOME="+w.root) || !strings.Contains(note, w.alice) {
		t.Errorf("note %q does not say what was replaced by what", note)
	}
	same, note := UserEnv(env(map[string]string{"HOME": w.alice, "XDG_CONFIG_HOME": "/x"}))
	if same("XDG_CONFIG_HOME") != "/x" || note != "" {
		t.Errorf("the user's own environment was changed: XDG_CONFIG_HOME=%q note %q", same("XDG_CONFIG_HOME"), note)
	}
}

func TestGECOSFullNameIsTheFirstField(t *testing.T) {
	for in, want := range map[string]string{"Alice Example,,,": "Alice Example", "Bob": "Bob", "": "", " Carol ,Room 1": "Carol"} {
		if got := gecosName(in); got != want {
			t.Errorf("gecosName(%q) = %q, want %q", in, got, want)
		}
	}
}
