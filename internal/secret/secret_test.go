package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func cmdSource(command string) PasswordSource {
	return PasswordSource{Account: "work", Command: command}
}

func TestPasswordCommandReturnsFirstLineWithoutLineEnding(t *testing.T) {
	for _, tc := range []struct{ command, want string }{
		{`printf 'hunter2\n'`, "hunter2"},
		{`printf 'hunter2'`, "hunter2"},
		{`printf 'hunter2\r\n'`, "hunter2"},
		{`printf 'hunter2\nsecond line\n'`, "hunter2"},
		{`printf ' spaced pass \n'`, " spaced pass "},
		{`echo "from stderr" >&2; echo hunter2`, "hunter2"},
	} {
		got, err := Password(context.Background(), cmdSource(tc.command), nil)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.command, got, err, tc.want)
		}
	}
}

func TestPasswordCommandStdinIsEmpty(t *testing.T) {
	// A command that reads stdin must see EOF, not the message being sent.
	got, err := Password(context.Background(), cmdSource(`if read x; then echo "got:$x"; else echo eof; fi`), nil)
	if err != nil || got != "eof" {
		t.Errorf("got %q, %v; want \"eof\"", got, err)
	}
}

func TestPasswordCommandFailureQuotesLastStderrLineAndIsAConfigError(t *testing.T) {
	_, err := Password(context.Background(), cmdSource(`echo "gpg: starting" >&2; echo "gpg: decryption failed" >&2; exit 2`), nil)
	if err == nil {
		t.Fatal("no error from a failing command")
	}
	want := `password_command failed (exit status 2): gpg: decryption failed`
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	// Permanent until fixed: 78, so a queued message is not kept for days.
	if sysexits.Code(err) != sysexits.Config {
		t.Errorf("exit code %d, want %d (EX_CONFIG)", sysexits.Code(err), sysexits.Config)
	}
}

func TestPasswordCommandExitingTempFailIsTemporary(t *testing.T) {
	_, err := Password(context.Background(), cmdSource(`echo "agent locked" >&2; exit 75`), nil)
	if sysexits.Code(err) != sysexits.TempFail {
		t.Errorf("err = %v, exit code %d; want %d: the command said try again", err, sysexits.Code(err), sysexits.TempFail)
	}
}

func TestPasswordCommandThatCannotReadItsFileIsAConfigError(t *testing.T) {
	// The case: a world-readable config whose command reads a
	// file the user cannot (here: one that does not exist).
	_, err := Password(context.Background(), cmdSource(`cat /nonexistent/gsendmail-password`), nil)
	if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("err = %v, exit code %d; want 78 quoting cat's error", err, sysexits.Code(err))
	}
}

func TestPasswordCommandFailureWithoutStderrSaysWhatToDo(t *testing.T) {
	_, err := Password(context.Background(), cmdSource(`exit 1`), nil)
	if err == nil || !strings.Contains(err.Error(), "run it in a shell") {
		t.Errorf("err = %v, want advice to run it by hand", err)
	}
}

func TestPasswordCommandStderrLineIsTruncated(t *testing.T) {
	_, err := Password(context.Background(), cmdSource(`printf '%0500d\n' 0 >&2; exit 1`), nil)
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "0"); n > 200 || n < 100 {
		t.Errorf("error quotes %d zeros of a 500-character stderr line, want at most 200: %q", n, err)
	}
}

func TestPasswordCommandErrorsNeverContainTheSecret(t *testing.T) {
	for _, command := range []string{
		`echo hunter2; exit 3`,
		`echo hunter2; echo "bad password hunter2" >&2; exit 3`,
	} {
		_, err := Password(context.Background(), cmdSource(command), nil)
		if err == nil {
			t.Errorf("%s: no error", command)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error reveals the secret: %q", command, err)
		}
	}
}

func TestPasswordCommandTimeoutIsTemporary(t *testing.T) {
	s := cmdSource(`sleep 30`)
	s.Timeout = 100 * time.Millisecond
	_, err := Password(context.Background(), s, nil)
	if err == nil {
		t.Fatal("no error from a command that outlived its timeout")
	}
	if sysexits.Code(err) != sysexits.TempFail {
		t.Errorf("exit code %d, want %d", sysexits.Code(err), sysexits.TempFail)
	}
	if !strings.Contains(err.Error(), "did not finish within 100ms") {
		t.Errorf("error %q does not name the timeout", err)
	}
}

func TestPasswordCommandTimeoutKillsPipelines(t *testing.T) {
	// The pipeline's writer keeps stdout open; without killing the group,
	// Run would wait for it.
	s := cmdSource(`sleep 30 | cat`)
	s.Timeout = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() { _, err := Password(context.Background(), s, nil); done <- err }()
	select {
	case err := <-done:
		if sysexits.Code(err) != sysexits.TempFail {
			t.Errorf("err = %v, want a temporary failure", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Password did not return after the command's timeout")
	}
}

func TestPasswordCommandCancelledContextIsTemporary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Password(ctx, cmdSource(`echo hunter2`), nil)
	if err == nil || sysexits.Code(err) != sysexits.TempFail {
		t.Errorf("err = %v, want a temporary failure", err)
	}
}

func TestPasswordCommandEmptyOutputIsConfigError(t *testing.T) {
	for _, command := range []string{`true`, `echo`, `printf '\r\n'`} {
		_, err := Password(context.Background(), cmdSource(command), nil)
		if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "printed nothing") {
			t.Errorf("%s: err = %v, want a config error saying it printed nothing", command, err)
		}
	}
}

func TestPasswordInline(t *testing.T) {
	got, err := Password(context.Background(), PasswordSource{Account: "a", Inline: "pw"}, nil)
	if err != nil || got != "pw" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestPasswordNeedsExactlyOneSource(t *testing.T) {
	for _, s := range []PasswordSource{
		{Account: "a"},
		{Account: "a", Inline: "x", Command: "echo y"},
		{Account: "a", File: "/x", Keyring: true},
	} {
		_, err := Password(context.Background(), s, nil)
		if sysexits.Code(err) != sysexits.Config {
			t.Errorf("%+v: err = %v, want a config error", s, err)
		}
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content  string
		mode     os.FileMode
		want     string
		wantCode int
		wantText string
	}{
		{content: "hunter2\n", mode: 0o600, want: "hunter2"},
		{content: "hunter2\r\nignored\n", mode: 0o400, want: "hunter2"},
		{content: "hunter2", mode: 0o644, wantCode: sysexits.Config, wantText: "run chmod 600"},
		{content: "hunter2", mode: 0o660, wantCode: sysexits.Config, wantText: "run chmod 600"},
		{content: "\nhunter2\n", mode: 0o600, wantCode: sysexits.Config, wantText: "is empty"},
	} {
		path := filepath.Join(dir, "pw")
		os.Remove(path)
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tc.mode)
		got, err := Password(context.Background(), PasswordSource{Account: "work", File: path}, nil)
		if tc.wantCode == 0 {
			if err != nil || got != tc.want {
				t.Errorf("%q mode %04o: got %q, %v; want %q", tc.content, tc.mode, got, err, tc.want)
			}
			continue
		}
		if sysexits.Code(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%q mode %04o: err = %v, want code %d containing %q", tc.content, tc.mode, err, tc.wantCode, tc.wantText)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the secret: %q", err)
		}
	}
}

func TestPasswordFileMissingIsConfigError(t *testing.T) {
	_, err := Password(context.Background(), PasswordSource{Account: "work", File: filepath.Join(t.TempDir(), "nope")}, nil)
	if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("err = %v, want a config error naming password_file", err)
	}
}

// mapKeyring is an in-memory Keyring.
type mapKeyring map[string]string

func (m mapKeyring) Get(service, user string) (string, error) {
	if s, ok := m[service+"/"+user]; ok {
		return s, nil
	}
	return "", ErrNotFound
}
func (m mapKeyring) Set(service, user, secret string) error { m[service+"/"+user] = secret; return nil }
func (m mapKeyring) Delete(service, user string) error      { delete(m, service+"/"+user); return nil }

func TestPasswordFromKeyringUsesServiceAndAccount(t *testing.T) {
	kr := mapKeyring{"gsendmail/work": "hunter2"}
	got, err := Password(context.Background(), PasswordSource{Account: "work", Keyring: true}, kr)
	if err != nil || got != "hunter2" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestPasswordMissingFromKeyringSaysHowToStoreIt(t *testing.T) {
	_, err := Password(context.Background(), PasswordSource{Account: "work", Keyring: true}, mapKeyring{})
	want := `no password in the keyring: run "gsendmail password set work"`
	if err == nil || err.Error() != want || sysexits.Code(err) != sysexits.Config {
		t.Errorf("err = %v (code %d), want %q (78)", err, sysexits.Code(err), want)
	}
}

func TestPasswordKeyringErrorKeepsItsCode(t *testing.T) {
	kr := &osKeyring{timeout: time.Second, backend: failingBackend{errors.New("dbus: connection reset")}, env: fakeEnv{bus: "unix:path=/x"}}
	_, err := Password(context.Background(), PasswordSource{Account: "work", Keyring: true}, kr)
	if sysexits.Code(err) != sysexits.TempFail {
		t.Errorf("err = %v (code %d), want a temporary failure", err, sysexits.Code(err))
	}
}

// The caller names the account (submit's account "NAME" (host:port)
// prefix on a send): an error here names it only inside the command the
// user must type, so a send's one line names it once.
func TestPasswordErrorsNameTheAccountOnlyInTheCommandToRun(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const acct = "acme-mail"
	for _, tc := range []struct {
		name string
		src  PasswordSource
		code int
		says string
	}{
		{"no source", PasswordSource{}, sysexits.Config, "no password configured"},
		{"two sources", PasswordSource{Inline: "x", Keyring: true}, sysexits.Config, "more than one password source"},
		{"not in the keyring", PasswordSource{Keyring: true}, sysexits.Config, `run "gsendmail password set ` + acct + `"`},
		{"a failing command", PasswordSource{Command: "echo nope >&2; exit 3"}, sysexits.Config, "password_command failed (exit status 3): nope"},
		{"a silent command", PasswordSource{Command: "true"}, sysexits.Config, "password_command printed nothing"},
		{"a command timing out", PasswordSource{Command: "sleep 5", Timeout: 50 * time.Millisecond}, sysexits.TempFail, "password_command did not finish"},
		{"a missing file", PasswordSource{File: filepath.Join(dir, "missing")}, sysexits.Config, "password_file"},
		{"an empty file", PasswordSource{File: empty}, sysexits.Config, "is empty"},
		{"a failing command of another key", PasswordSource{Command: "exit 1", CommandKey: "oauth_client_secret_command"}, sysexits.Config, "oauth_client_secret_command failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.Account = acct
			_, err := Password(context.Background(), tc.src, mapKeyring{})
			if sysexits.Code(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.says) {
				t.Fatalf("err = %v (code %d), want %d saying %q", err, sysexits.Code(err), tc.code, tc.says)
			}
			if rest := strings.ReplaceAll(err.Error(), "gsendmail password set "+acct, ""); strings.Contains(rest, acct) {
				t.Errorf("error %q names the account outside the command to run", err)
			}
		})
	}
}
