// Package callers_test runs the real programs that call /usr/sbin/sendmail
// (git send-email, cron's argv, PHP mail(), bsd-mailx, s-nail, mutt, an
// SMTP dialogue for -bs, and the sendmail/mailq/newaliases names) against
// the built gsendmail binary and a private Postfix + Dovecot, and checks
// what arrives: envelope and bytes. Nothing is installed system-wide; each
// program is pointed at the binary with its own option or through PATH.
//
// The programs come from Debian packages (see fixture.RequireProgram). Without
// them, or without the real servers, the tests skip; with
// GSENDMAIL_REQUIRE_REAL_SERVERS=1 they fail instead.
package callers_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	user     = "user@gsendmail.test"
	password = "pw"
	// deliveryWait bounds how long Postfix may take to hand a message
	// to the capture pipe; it is a hang guard, not an assertion.
	deliveryWait = 60 * time.Second
)

// world is one test's mail server, gsendmail binary, configuration and
// private home directory.
type world struct {
	t    *testing.T
	bin  string
	srv  *mailserver.Server
	dir  string
	home string
	cfg  string
}

// newWorld starts a server and writes a config for account "t" with
// accountExtra appended to the account table (aliases, local_domain...).
func newWorld(t *testing.T, accountExtra string) *world {
	t.Helper()
	mailserver.Require(t)
	bin := testbin.Path(t)
	srv := mailserver.Start(t, mailserver.Options{Users: map[string]string{user: password}})
	dir := t.TempDir()
	w := &world{t: t, bin: bin, srv: srv, dir: dir, home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(w.home, 0o700); err != nil {
		t.Fatal(err)
	}
	w.cfg = w.writeConfig("config.toml", accountExtra)
	return w
}

// with returns the world for a subtest: failures are reported on t.
func (w *world) with(t *testing.T) *world {
	c := *w
	c.t = t
	return &c
}

func (w *world) writeConfig(name, accountExtra string) string {
	w.t.Helper()
	_, port, ok := strings.Cut(w.srv.SubmissionAddr, ":")
	if !ok {
		w.t.Fatalf("submission address %q has no port", w.srv.SubmissionAddr)
	}
	cfg := fmt.Sprintf(`default_account = "t"

[account.t]
host = "localhost"
port = %s
tls = "starttls"
tls_trust_file = %q
user = %q
password_command = "printf %%s %s"
from = %q
logfile = %q
%s
`, port, w.srv.CAFile, user, password, user, filepath.Join(w.dir, "gsendmail.log"), accountExtra)
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// file writes a file in the test directory and returns its path.
func (w *world) file(name, content string, mode os.FileMode) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// environ is the environment for a caller program: a private HOME (no
// user's .gitconfig, .mailrc or .muttrc), GSENDMAIL_CONFIG pointing at
// the test config, and extra variables last (they win).
func (w *world) environ(extra ...string) []string {
	drop := []string{"HOME=", "XDG_", "GSENDMAIL_CONFIG=", "MAILRC=", "GIT_", "MAIL=", "MAILTO=", "EMAIL=", "NAME=", "REPLYTO="}
	env := testbin.Environ(drop,
		"HOME="+w.home,
		"XDG_CONFIG_HOME="+filepath.Join(w.home, ".config"),
		"XDG_STATE_HOME="+filepath.Join(w.home, ".local", "state"),
		"XDG_CACHE_HOME="+filepath.Join(w.home, ".cache"),
		"GSENDMAIL_CONFIG="+w.cfg,
		"GIT_CONFIG_NOSYSTEM=1",
		"LC_ALL=C.UTF-8",
	)
	return append(env, extra...)
}

type result = testbin.Result

// run runs a program with stdin and the world's environment.
func (w *world) run(stdin string, env []string, dir string, name string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = dir
	return testbin.Exec(w.t, cmd, strings.NewReader(stdin))
}

// mustSucceed fails the test with everything the program said when it
// did not exit 0.
func (w *world) mustSucceed(r result, what string) {
	w.t.Helper()
	if r.Code != 0 {
		w.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s\ngsendmail log: %s", what, r.Code, r.Stdout, r.Stderr, w.log())
	}
}

func (w *world) log() string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "gsendmail.log"))
	return string(b)
}

// wait returns exactly n deliveries, failing when more arrived.
func (w *world) wait(n int) []mailserver.Delivery {
	w.t.Helper()
	ds := w.srv.WaitDeliveries(w.t, n, deliveryWait)
	if len(ds) != n {
		w.t.Fatalf("%d deliveries, want %d", len(ds), n)
	}
	return ds
}

// split returns the header section and the body of a delivered message
// (LF line endings).
func split(t *testing.T, msg []byte) (header, body []byte) {
	t.Helper()
	h, b, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		t.Fatalf("message without a header/body separator:\n%s", msg)
	}
	return append(h, '\n'), b
}

// headerValues returns the unfolded values of every field named name.
func headerValues(header []byte, name string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(header))
	sc.Buffer(nil, 1<<20)
	cur := -1
	for sc.Scan() {
		l := sc.Text()
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && cur >= 0 {
			out[cur] += " " + strings.TrimSpace(l)
			continue
		}
		cur = -1
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
			cur = len(out) - 1
		}
	}
	return out
}

func header1(t *testing.T, header []byte, name string) string {
	t.Helper()
	v := headerValues(header, name)
	if len(v) != 1 {
		t.Fatalf("%d %s: fields, want 1, in\n%s", len(v), name, header)
	}
	return v[0]
}

// decodeBody undoes a quoted-printable Content-Transfer-Encoding.
func decodeBody(t *testing.T, header, body []byte) []byte {
	t.Helper()
	cte := headerValues(header, "Content-Transfer-Encoding")
	if len(cte) == 0 || !strings.EqualFold(cte[0], "quoted-printable") {
		return body
	}
	b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("decoding quoted-printable body: %v", err)
	}
	return b
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// oneLine checks that a program's error output is one line (what cron
// would mail) and returns it.
func oneLine(t *testing.T, s string) string {
	t.Helper()
	s = strings.TrimSuffix(s, "\n")
	if s == "" || strings.Contains(s, "\n") {
		t.Fatalf("error output is not exactly one line: %q", s)
	}
	return s
}
