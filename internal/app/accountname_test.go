package app

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// These tests pin who names the account in an error line: on a send,
// submit's prefix (account "NAME" (host:port): ...); on the auth command,
// its own prefix. The oauth and secret packages name it only inside a
// command the user must type (gsendmail auth login NAME). They run the
// built binary against upstream_test.go's server and oauthtest's token
// endpoint.

// acctName is distinctive so that counting it in a line counts mentions.
const acctName = "acme"

// mentions is how often line names the account outside the commands and
// file names that must carry it.
func mentions(line string) int {
	for _, keep := range []string{
		"gsendmail auth login " + acctName,
		"gsendmail auth import " + acctName,
		"gsendmail password set " + acctName,
		acctName + ".json",
	} {
		line = strings.ReplaceAll(line, keep, "")
	}
	return strings.Count(line, acctName)
}

// binWorld is one account's configuration and state for the binary.
type binWorld struct {
	t    *testing.T
	u    *upstream
	as   *oauthtest.Server
	cfg  string
	home string
	rt   string
}

// acctTOML is account acme on u, OAuth2 against as, its token in a
// file unless extra (more keys) sets token_store.
func acctTOML(u *upstream, as *oauthtest.Server, tokenURL, extra string) string {
	id, secret := as.Client()
	if !strings.Contains(extra, "token_store") {
		extra += "\ntoken_store = \"file\""
	}
	return fmt.Sprintf(`[account.%s]
host = "127.0.0.1"
port = %s
tls = "none"
allow_cleartext_auth = true
user = %q
from = %q
timeout = "5s"
auth = "oauthbearer"
oauth_provider = "generic"
oauth_client_id = %q
oauth_client_secret = %q
oauth_auth_url = %q
oauth_token_url = %q
%s
`, acctName, u.port(), upUser, upUser, id, secret, as.AuthURL(), tokenURL, extra)
}

func newBinWorld(t *testing.T, extra string) *binWorld {
	t.Helper()
	w := &binWorld{t: t, u: startUpstream(t), as: oauthtest.NewServer(t), home: t.TempDir()}
	w.rt = "rt-" + rand.Text()
	w.as.AddRefreshToken(w.rt, upUser)
	w.write(acctTOML(w.u, w.as, w.as.TokenURL(), extra))
	return w
}

func (w *binWorld) write(body string) {
	w.t.Helper()
	w.cfg = filepath.Join(w.home, "config.toml")
	if err := os.WriteFile(w.cfg, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// run runs gsendmail with args and stdin. There is no D-Bus session, so
// a keyring is unavailable.
func (w *binWorld) run(stdin string, args ...string) testbin.Result {
	w.t.Helper()
	env := testbin.Environ([]string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR="},
		"GSENDMAIL_CONFIG="+w.cfg, "HOME="+w.home, "XDG_STATE_HOME="+w.home, "XDG_RUNTIME_DIR="+w.t.TempDir(), "NO_COLOR=")
	return testbin.Exec(w.t, testbin.Command(w.t, env, args...), strings.NewReader(stdin))
}

func (w *binWorld) send() testbin.Result {
	w.t.Helper()
	return w.run(plainMsg, "rcpt@example.net")
}

// imported stores the world's refresh token with the real CLI.
func (w *binWorld) imported() {
	w.t.Helper()
	if r := w.run(w.rt+"\n", "auth", "import", acctName); r.Code != 0 {
		w.t.Fatalf("auth import:\n%s", r)
	}
}

func noDBus(t *testing.T) {
	if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
		t.Skip("a systemd user bus exists here; the keyring cannot be made unavailable")
	}
}

func TestAccountIsNamedOnceInEachErrorLine(t *testing.T) {
	cases := []struct {
		name   string
		extra  string                           // account keys
		setup  func(w *binWorld)                // before the command
		run    func(w *binWorld) testbin.Result // the command; nil: a send
		code   int
		out    bool     // the line is on stdout (auth status), not stderr
		prefix string   // what the line must start with after "gsendmail: "
		says   []string // phrases the line must hold
	}{
		{name: "send without a stored token", code: sysexits.NoPerm,
			prefix: `account "acme" (127.0.0.1:`, says: []string{"no OAuth2 token", `"gsendmail auth login acme"`}},
		{name: "auth status without a stored token",
			run: func(w *binWorld) testbin.Result { return w.run("", "auth", "status", acctName) },
			out: true, prefix: "acme: ", says: []string{"no refresh token", `"gsendmail auth login acme"`}},
		{name: "send with a revoked refresh token", code: sysexits.NoPerm,
			setup:  func(w *binWorld) { w.imported(); w.as.Revoke(w.rt) },
			prefix: `account "acme" (127.0.0.1:`, says: []string{"invalid_grant", `"gsendmail auth login acme"`}},
		{name: "auth import of a revoked refresh token", code: sysexits.NoPerm,
			setup:  func(w *binWorld) { w.as.Revoke(w.rt) },
			run:    func(w *binWorld) testbin.Result { return w.run(w.rt+"\n", "auth", "import", acctName) },
			prefix: `account "acme": `, says: []string{"invalid_grant", `"gsendmail auth login acme"`}},
		{name: "send when the token endpoint is unreachable", code: sysexits.TempFail,
			setup: func(w *binWorld) {
				w.imported()
				w.write(acctTOML(w.u, w.as, "http://127.0.0.1:"+closedPort(w.t)+"/token", ""))
			},
			prefix: `account "acme" (127.0.0.1:`, says: []string{"could not reach token endpoint", "try again later"}},
		{name: "send when the token endpoint refuses the client", code: sysexits.Config,
			setup: func(w *binWorld) {
				w.imported()
				w.as.SetError("/token", 401, "invalid_client", "")
			},
			prefix: `account "acme" (127.0.0.1:`, says: []string{"refused the client (invalid_client)", "oauth_client_secret"}},
		{name: "queue flush of a message whose refresh token was revoked", extra: "queue = true", code: sysexits.NoPerm,
			setup: func(w *binWorld) {
				w.imported()
				w.as.SetFail("/token", 503)
				if r := w.send(); r.Code != 0 {
					w.t.Fatalf("the send was not queued:\n%s", r)
				}
				w.as.SetFail("/token", 0)
				w.as.Revoke(w.rt)
			},
			run:    func(w *binWorld) testbin.Result { return w.run("", "queue", "flush") },
			prefix: `account "acme" (127.0.0.1:`, says: []string{"invalid_grant", `"gsendmail auth login acme"`}},
		{name: "send with token_store keyring and no keyring", extra: `token_store = "keyring"`, code: sysexits.Config,
			setup:  func(w *binWorld) { noDBus(w.t) },
			prefix: `account "acme" (127.0.0.1:`, says: []string{"no D-Bus session", `token_store = "file"`}},
		{name: "auth status with token_store keyring and no keyring", extra: `token_store = "keyring"`,
			setup: func(w *binWorld) { noDBus(w.t) },
			run:   func(w *binWorld) testbin.Result { return w.run("", "auth", "status", acctName) },
			out:   true, prefix: "acme: ", says: []string{"no D-Bus session", `token_store = "file"`}},
		{name: "auth import with token_store keyring and no keyring", extra: `token_store = "keyring"`, code: sysexits.Config,
			setup:  func(w *binWorld) { noDBus(w.t) },
			run:    func(w *binWorld) testbin.Result { return w.run(w.rt+"\n", "auth", "import", acctName) },
			prefix: `account "acme": `, says: []string{"no D-Bus session", `token_store = "file"`}},
		{name: "send whose password_command fails", code: sysexits.Config,
			setup: func(w *binWorld) {
				w.write(strings.Replace(accountTOML(acctName, w.u, upUser, `password_command = "echo 'gpg: decryption failed' >&2; exit 2"`),
					fmt.Sprintf("password = %q\n", w.u.pass), "", 1))
			},
			prefix: `account "acme" (127.0.0.1:`, says: []string{"password_command failed", "gpg: decryption failed"}},
		{name: "send whose oauth_client_secret_command fails", code: sysexits.Config,
			extra:  `oauth_client_secret_command = "echo 'vault: sealed' >&2; exit 1"`,
			setup:  func(w *binWorld) { w.write(strings.Replace(readFile(w.t, w.cfg), "oauth_client_secret = ", "# ", 1)) },
			prefix: `account "acme" (127.0.0.1:`, says: []string{"oauth_client_secret_command failed", "vault: sealed"}},
		{name: "auth status whose oauth_client_secret_command fails", code: sysexits.Config,
			extra:  `oauth_client_secret_command = "echo 'vault: sealed' >&2; exit 1"`,
			setup:  func(w *binWorld) { w.write(strings.Replace(readFile(w.t, w.cfg), "oauth_client_secret = ", "# ", 1)) },
			run:    func(w *binWorld) testbin.Result { return w.run("", "auth", "status", acctName) },
			prefix: `account "acme": `, says: []string{"oauth_client_secret_command failed", "vault: sealed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newBinWorld(t, c.extra)
			if c.setup != nil {
				c.setup(w)
			}
			run := c.run
			if run == nil {
				run = (*binWorld).send
			}
			r := run(w)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, c.code, r)
			}
			text, want := r.Stderr, "gsendmail: "+c.prefix
			if c.out {
				text, want = r.Stdout, c.prefix
			}
			line, rest, ok := strings.Cut(text, "\n")
			if !ok || rest != "" {
				t.Fatalf("not one line:\n%s", r)
			}
			if !strings.HasPrefix(line, want) {
				t.Errorf("line %q does not start with %q", line, want)
			}
			for _, p := range c.says {
				if !strings.Contains(line, p) {
					t.Errorf("line %q does not say %q", line, p)
				}
			}
			if n := mentions(line); n != 1 {
				t.Errorf("line names the account %d times, want once: %q", n, line)
			}
			if strings.Contains(r.Stdout+r.Stderr, w.rt) {
				t.Error("the output holds the refresh token")
			}
			if n := len(w.u.received()); n != 0 {
				t.Errorf("upstream received %d messages, want none", n)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The binary repairs a missing HOME from the password database, so the
// no-HOME case runs in process (as main does: Run, then Report).
func TestAccountIsNamedOnceWhenHOMEIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		args         []string
	}{
		{"send", `gsendmail: account "acme" (127.0.0.1:`, []string{"rcpt@example.net"}},
		{"auth status", `gsendmail: account "acme": `, []string{"auth", "status", acctName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, strings.Replace(oauthTOML(u), "[account.o]", "[account."+acctName+"]", 1))
			delete(w.env, "HOME")
			delete(w.env, "XDG_STATE_HOME")
			argv0 := "/usr/sbin/sendmail"
			if tc.args[0] == "auth" {
				argv0 = "gsendmail"
			}
			r := w.run(plainMsg, argv0, tc.args...)
			if r.code != sysexits.Config {
				t.Fatalf("exit %d, want %d\n%s", r.code, sysexits.Config, r)
			}
			oneErrorLine(t, r, "HOME is not set", "XDG_STATE_HOME")
			if !strings.HasPrefix(r.stderr, tc.prefix) {
				t.Errorf("stderr %q does not start with %q", r.stderr, tc.prefix)
			}
			if n := mentions(r.stderr); n != 1 {
				t.Errorf("stderr names the account %d times, want once: %q", n, r.stderr)
			}
		})
	}
}
