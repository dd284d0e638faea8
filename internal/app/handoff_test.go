package app

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
)

func TestSystemHandoffIsChosenForEveryoneButTheDaemonUser(t *testing.T) {
	old := lookupUserID
	t.Cleanup(func() { lookupUserID = old })
	sys := file(account("sys", "machine@example.org", nil))
	sys.SystemMTA = &config.SystemMTA{DaemonUser: "gsendmail", SubmitSocket: "/run/x/submit.sock"}
	env := &Env{Getenv: func(k string) string {
		return map[string]string{envSubmitSocket: "", envMaildrop: "/tmp/drop"}[k]
	}}
	inv := &cli.Invocation{}

	lookupUserID = func(string) (int, error) { return os.Geteuid() + 1, nil }
	h, ok := systemHandoff(env, inv, sys, nil)
	if !ok || h.Socket != "/run/x/submit.sock" || h.Maildrop != "/tmp/drop" {
		t.Errorf("a user other than the daemon's: handoff %v %+v, want the configured socket and the maildrop override", ok, h)
	}
	lookupUserID = func(string) (int, error) { return os.Geteuid(), nil }
	if _, ok := systemHandoff(env, inv, sys, nil); ok {
		t.Error("the daemon user itself hands off to itself")
	}
	if _, ok := systemHandoff(env, inv, file(account("mine", "me@example.org", nil)), nil); ok {
		t.Error("a configuration without [system] hands off")
	}
}

// TestSystemHandoffForASystemFileThatIsNotOurs: a user hands off when the
// system file cannot be read; root (who reads everything) when it belongs
// to another user (the daemon's). A file of our own with a load error, or
// a file named by -C, reports its error instead.
func TestSystemHandoffForASystemFileThatIsNotOurs(t *testing.T) {
	dir := t.TempDir()
	oldSys := config.SystemPath
	t.Cleanup(func() { config.SystemPath = oldSys })
	config.SystemPath = filepath.Join(dir, "gsendmail.toml")
	if err := os.WriteFile(config.SystemPath, []byte("[system]\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(config.SystemPath, 4242, 4242); err != nil {
			t.Fatal(err)
		}
	}
	drop := filepath.Join(dir, "maildrop")
	env := &Env{Getenv: func(k string) string {
		return map[string]string{"HOME": dir, envMaildrop: drop, envSubmitSocket: filepath.Join(dir, "none.sock")}[k]
	}}
	loadErr := errors.New("permission denied")
	if _, ok := systemHandoff(env, &cli.Invocation{}, nil, loadErr); ok {
		t.Error("no socket and no maildrop (no system MTA installed): handed off instead of reporting the permission error")
	}
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	if h, ok := systemHandoff(env, &cli.Invocation{}, nil, loadErr); !ok || h.Maildrop != drop {
		t.Errorf("unreadable system file: handoff %v %+v", ok, h)
	}
	if _, ok := systemHandoff(env, &cli.Invocation{ConfigFile: config.SystemPath}, nil, loadErr); ok {
		t.Error("-C named file: handed off instead of reporting its error")
	}
	os.Chmod(config.SystemPath, 0o600)
	os.Chown(config.SystemPath, os.Geteuid(), os.Getegid())
	if _, ok := systemHandoff(env, &cli.Invocation{}, nil, loadErr); ok {
		t.Error("a readable file of our own with a load error: handed off instead of reporting it")
	}
}

func TestQualifyLocalGivesBareNamesTheLocalhostDomain(t *testing.T) {
	for in, want := range map[string]string{"root": "root@localhost", "a@b.example": "a@b.example", "": ""} {
		if got := qualifyLocal(in); got != want {
			t.Errorf("qualifyLocal(%q) = %q, want %q", in, got, want)
		}
	}
}
