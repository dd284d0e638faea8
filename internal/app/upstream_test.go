package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// The wiring tests run app.Run as main does, with a private environment
// and a configuration file, against upstream: a go-smtp server on
// loopback that records each transaction and can refuse any step. The
// real Postfix + Dovecot are the e2e suites' (internal/e2e); this fake is
// here for the refusals.

const upUser = "user@example.org"

// upMsg is one transaction the upstream accepted.
type upMsg struct {
	user     string // the authenticated user
	from     string
	mailOpts gosmtp.MailOptions
	to       []string
	notify   [][]gosmtp.DSNNotify // per recipient
	data     string
}

type upstream struct {
	addr string
	// pass is the account's password, new for each upstream: the redaction
	// of secrets is process-wide, so a password seen by an earlier test
	// must not hide a leak in a later one.
	pass string

	mu   sync.Mutex
	msgs []upMsg
	// Refusals: when set, the step answers with it.
	authErr, mailErr, rcptErr, dataErr error
}

// startUpstream runs an upstream server for the test.
func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{pass: "Wiring-s3cret-" + rand.Text()}
	srv := gosmtp.NewServer(u)
	srv.Domain = "upstream.test"
	srv.AllowInsecureAuth = true
	srv.EnableDSN = true
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u
}

func (u *upstream) port() string { _, p, _ := net.SplitHostPort(u.addr); return p }

// set changes a refusal while no session uses it.
func (u *upstream) set(f func(u *upstream)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

func (u *upstream) received() []upMsg {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upMsg(nil), u.msgs...)
}

// only returns the one message the upstream received, failing otherwise.
func (u *upstream) only(t *testing.T) upMsg {
	t.Helper()
	ms := u.received()
	if len(ms) != 1 {
		t.Fatalf("upstream received %d messages, want 1", len(ms))
	}
	return ms[0]
}

func (u *upstream) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &upSession{u: u}, nil
}

type upSession struct {
	u    *upstream
	user string
	cur  upMsg
}

// AuthMechanisms offers PLAIN, and OAUTHBEARER for the OAuth2 accounts'
// wiring (it refuses every token: no test gets that far).
func (s *upSession) AuthMechanisms() []string { return []string{gosasl.Plain, gosasl.OAuthBearer} }

func (s *upSession) Auth(mech string) (gosasl.Server, error) {
	if mech == gosasl.OAuthBearer {
		return gosasl.NewOAuthBearerServer(func(gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
			return &gosasl.OAuthBearerError{Status: "invalid_token"}
		}), nil
	}
	return gosasl.NewPlainServer(func(_, user, pass string) error {
		s.u.mu.Lock()
		defer s.u.mu.Unlock()
		if s.u.authErr != nil {
			return s.u.authErr
		}
		if user != upUser || pass != s.u.pass {
			return gosmtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *upSession) Mail(from string, o *gosmtp.MailOptions) error {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	if s.u.mailErr != nil {
		return s.u.mailErr
	}
	s.cur = upMsg{user: s.user, from: from}
	if o != nil {
		s.cur.mailOpts = *o
	}
	return nil
}

func (s *upSession) Rcpt(to string, o *gosmtp.RcptOptions) error {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if s.u.rcptErr != nil {
		return s.u.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	var n []gosmtp.DSNNotify
	if o != nil {
		n = o.Notify
	}
	s.cur.notify = append(s.cur.notify, n)
	return nil
}

func (s *upSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if s.u.dataErr != nil {
		return s.u.dataErr
	}
	s.cur.data = string(b)
	s.u.msgs = append(s.u.msgs, s.cur)
	s.cur = upMsg{}
	return nil
}

func (s *upSession) Reset()        { s.cur = upMsg{} }
func (s *upSession) Logout() error { return nil }

// refusal is a server reply for a refused step.
func refusal(code int, enhanced gosmtp.EnhancedCode, text string) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

// accountTOML is an account on u (cleartext on loopback, password inline)
// whose from is from, with extra keys appended.
func accountTOML(name string, u *upstream, from, extra string) string {
	return fmt.Sprintf(`[account.%s]
host = "127.0.0.1"
port = %s
tls = "none"
allow_cleartext_auth = true
user = %q
password = %q
from = %q
timeout = "5s"
%s
`, name, u.port(), upUser, u.pass, from, extra)
}

// world is one test's private user: a HOME, a state directory and a
// configuration file, as $GSENDMAIL_CONFIG.
type world struct {
	t     *testing.T
	home  string
	state string
	cfg   string
	env   map[string]string
}

func newWorld(t *testing.T, config string) *world {
	t.Helper()
	w := &world{t: t, home: t.TempDir(), state: t.TempDir()}
	w.cfg = w.file("config.toml", config)
	w.env = map[string]string{
		"HOME":             w.home,
		"XDG_STATE_HOME":   w.state,
		"XDG_CONFIG_HOME":  filepath.Join(w.home, ".config"),
		"GSENDMAIL_CONFIG": w.cfg,
		"PATH":             os.Getenv("PATH"),
	}
	return w
}

// file writes a 0600 file in the world's home and returns its path.
func (w *world) file(name, body string) string {
	w.t.Helper()
	p := filepath.Join(w.home, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// ran is the outcome of one invocation, as the process would end.
type ran struct {
	code           int
	stdout, stderr string
}

func (r ran) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// run is main: argv0 and args, stdin, and the exit code Report chooses.
func (w *world) run(stdin, argv0 string, args ...string) ran {
	w.t.Helper()
	return w.runCtx(w.t.Context(), stdin, argv0, args...)
}

// runCtx is run until ctx ends (SIGTERM, for main).
func (w *world) runCtx(ctx context.Context, stdin, argv0 string, args ...string) ran {
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return w.env[k] }}
	code := Report(&errb, Run(ctx, env, argv0, args))
	return ran{code, out.String(), errb.String()}
}

// sendmail runs the sendmail personality.
func (w *world) sendmail(stdin string, args ...string) ran {
	w.t.Helper()
	return w.run(stdin, "/usr/sbin/sendmail", args...)
}

// oneErrorLine fails unless stderr is exactly one "gsendmail: " line that
// contains every phrase.
func oneErrorLine(t *testing.T, r ran, phrases ...string) {
	t.Helper()
	line, rest, ok := strings.Cut(r.stderr, "\n")
	if !ok || rest != "" || !strings.HasPrefix(line, "gsendmail: ") {
		t.Errorf("stderr is not one \"gsendmail: \" line:\n%s", r)
		return
	}
	for _, p := range phrases {
		if !strings.Contains(line, p) {
			t.Errorf("stderr %q does not say %q", line, p)
		}
	}
}
