// Package serve drives the built gsendmail binary as `gsendmail serve`, the
// local SMTP submission proxy (issue 12), with real SMTP clients: Python's
// smtplib, Django's SMTP EmailBackend, nodemailer, PHPMailer, curl, swaks,
// git send-email and msmtp, each delivering through the daemon into a
// private Postfix + Dovecot with strict HELO rules (internal/testkit/testenv/
// mailserver), whose capture is checked for envelope, bytes and headers.
// It also pins the reliability contract of the daemon's replies (upstream
// down, 5xx passthrough, token endpoint down, local AUTH, SIZE, slow
// clients), OAuth2 upstream through Dovecot's oauth2 passdb, and that no
// message a client got 250 for is lost under kill -9 or SIGTERM.
//
// It owns only tests. The server is internal/serve's, the relay to the
// smarthost internal/submit's; their unit and fuzz tests live with them.
// One mail server and one authorization server are shared by the tests of
// this package (starting Postfix+Dovecot takes seconds); every test has its
// own config, state directory and daemon, and identifies its messages by
// Subject among the shared server's deliveries.
package serve

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	testUser = "user@gsendmail.test"
	testPass = "s3cret-Pa55word-for-serve-tests"
	rcptAddr = "someone@example.org"
	// clientEHLO is a name Postfix's strict HELO rules refuse (504 at
	// RCPT), as in the helo-rejected-need-fqdn report: a laptop's bare
	// hostname. Clients that let us choose it use it.
	clientEHLO = "yoga"
	// rejectSubject makes the shared Postfix refuse a message at end of
	// data with a 5xx (header_checks), for the passthrough test.
	rejectSubject = "please reject this message"
	rejectText    = "policy says no to this message"
	// deliveryWait bounds how long Postfix may take to hand a message to
	// the capture pipe; a hang guard, not an assertion.
	deliveryWait = 60 * time.Second
)

// shared is the one mail server and authorization server of the package.
// Its Postfix refuses rejectSubject at end of data (header_checks).
var shared = fixture.New(fixture.Options{
	TokenUser: testUser,
	Mail: mailserver.Options{
		Users: map[string]string{testUser: testPass},
		ExtraMain: map[string]string{
			"header_checks": "regexp:{{/^Subject: " + rejectSubject + "/ REJECT " + rejectText + "}}",
		},
	},
})

func TestMain(m *testing.M) { shared.Main(m) }

// servers returns the shared authorization server and mail server,
// starting them on first use.
func servers(t *testing.T) *fixture.Servers { return shared.Get(t) }

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// debianPython is Debian's interpreter, which sees python3-django (a
// python3 earlier in PATH, e.g. pyenv's, would not).
const debianPython = "/usr/bin/python3"

// env is one test's gsendmail world: a config file, private HOME and
// XDG_STATE_HOME (token cache, queue), and the daemons it started.
type env struct {
	t    *testing.T
	fx   *fixture.Servers
	dir  string
	cfg  string
	home string
	log  string // the account's logfile
}

// accountOpts shapes the config's one account "t" and its [serve] table.
type accountOpts struct {
	host, port string // upstream; default the shared Postfix's 587
	tls        string // default "starttls"
	auth       string // "" = password (PLAIN); "none", "oauth2", "xoauth2", "oauthbearer"
	password   string // with auth "": default testPass
	queue      bool
	extra      string // more account keys
	serve      string // body of the [serve] table
	more       string // more TOML after everything (e.g. [serve.user.x])
}

func newEnv(t *testing.T, o accountOpts) *env {
	t.Helper()
	f := servers(t)
	dir := t.TempDir()
	e := &env{t: t, fx: f, dir: dir, cfg: filepath.Join(dir, "config.toml"), home: filepath.Join(dir, "home"), log: filepath.Join(dir, "gsendmail.log")}
	if err := os.Mkdir(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(o)
	return e
}

func (e *env) writeConfig(o accountOpts) {
	e.t.Helper()
	f := e.fx
	if o.host == "" {
		o.host = "localhost"
	}
	if o.port == "" {
		o.port = port(f.Mail.SubmissionAddr)
	}
	if o.tls == "" {
		o.tls = "starttls"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "default_account = \"t\"\n\n[account.t]\nhost = %q\nport = %s\ntls = %q\n", o.host, o.port, o.tls)
	if o.tls != "none" {
		fmt.Fprintf(&b, "tls_trust_file = %q\n", f.Mail.CAFile)
	}
	fmt.Fprintf(&b, "user = %q\nfrom = %q\nlogfile = %q\n", testUser, testUser, e.log)
	switch o.auth {
	case "":
		pw := o.password
		if pw == "" {
			pw = testPass
		}
		fmt.Fprintf(&b, "password = %q\n", pw)
	case "none":
		b.WriteString("auth = \"none\"\n")
	default:
		id, secret := f.Auth.Client()
		fmt.Fprintf(&b, "auth = %q\noauth_provider = \"generic\"\noauth_client_id = %q\noauth_client_secret = %q\noauth_auth_url = %q\noauth_token_url = %q\ntoken_store = \"file\"\n",
			o.auth, id, secret, f.Auth.AuthURL(), f.Auth.TokenURL())
	}
	if o.queue {
		b.WriteString("queue = true\n")
	}
	b.WriteString(o.extra)
	if o.serve != "" {
		fmt.Fprintf(&b, "\n[serve]\n%s\n", o.serve)
	}
	b.WriteString(o.more)
	if err := os.WriteFile(e.cfg, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// environ is the daemon's and the CLI's environment: no D-Bus session
// (like a service), private HOME and state directory.
func (e *env) environ() []string {
	return testbin.Environ([]string{"DBUS_SESSION_BUS_ADDRESS="}, "GSENDMAIL_CONFIG="+e.cfg, "HOME="+e.home, "XDG_STATE_HOME="+e.home, "NO_COLOR=")
}

// run runs the gsendmail CLI (not the daemon) in this env and waits.
func (e *env) run(stdin string, args ...string) testbin.Result {
	e.t.Helper()
	return testbin.Exec(e.t, testbin.Command(e.t, e.environ(), args...), strings.NewReader(stdin))
}

func (e *env) queueDir() string { return filepath.Join(e.home, "gsendmail", "queue") }

// queued counts the queue's entries (envelope files).
func (e *env) queued() int {
	ents, _ := os.ReadDir(e.queueDir())
	n := 0
	for _, x := range ents {
		if strings.HasSuffix(x.Name(), ".env") {
			n++
		}
	}
	return n
}

// daemon is one running `gsendmail serve`.
type daemon struct {
	t    *testing.T
	p    *testbin.Proc
	Addr string // "127.0.0.1:port"
}

// stderr is what the daemon logged so far.
func (d *daemon) stderr() string { return d.p.Stderr() }

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startServe starts `gsendmail serve --listen 127.0.0.1:PORT` and waits
// until the port accepts connections (the contract's "ready"). It is
// stopped with SIGTERM at the end of the test unless the test stopped it.
func (e *env) startServe(args ...string) *daemon {
	e.t.Helper()
	addr := "127.0.0.1:" + freePort(e.t)
	d := e.spawnServe(append([]string{"serve", "--listen", addr}, args...)...)
	d.Addr = addr
	d.waitReady(addr, 20*time.Second)
	return d
}

// startServeAt is startServe on a given address (a restart on the same
// port).
func (e *env) startServeAt(addr string) *daemon {
	e.t.Helper()
	d := e.spawnServe("serve", "--listen", addr)
	d.Addr = addr
	d.waitReady(addr, 20*time.Second)
	return d
}

// spawnServe starts the binary with args and returns at once.
func (e *env) spawnServe(args ...string) *daemon {
	e.t.Helper()
	d := &daemon{t: e.t, p: testbin.Start(e.t, testbin.Command(e.t, e.environ(), args...), nil)}
	e.t.Cleanup(func() {
		select {
		case <-d.p.Done():
		default:
			_ = d.p.Cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.p.Done():
			case <-time.After(40 * time.Second):
				_ = d.p.Cmd.Process.Kill()
				<-d.p.Done()
			}
		}
		if e.t.Failed() {
			e.t.Logf("gsendmail serve stderr:\n%s", tailLines(d.stderr(), 40))
		}
	})
	return d
}

func (d *daemon) waitReady(addr string, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-d.p.Done():
			d.t.Fatalf("gsendmail serve exited before it listened:\n%s", d.p.Wait(0))
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("gsendmail serve did not listen on %s within %v:\n%s", addr, timeout, d.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) Port() string { return port(d.Addr) }

// exitCode waits for the process to end (up to timeout) and returns its
// exit code; -1 for a signal.
func (d *daemon) exitCode(timeout time.Duration) int {
	d.t.Helper()
	return d.p.Wait(timeout).Code
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop() int {
	d.t.Helper()
	_ = d.p.Cmd.Process.Signal(syscall.SIGTERM)
	return d.exitCode(40 * time.Second)
}

// kill sends SIGKILL and waits.
func (d *daemon) kill() {
	_ = d.p.Cmd.Process.Kill()
	<-d.p.Done()
}

// withSubject returns the shared server's deliveries whose header
// section has "Subject: subject".
func withSubject(f *fixture.Servers, subject string) []mailserver.Delivery {
	var out []mailserver.Delivery
	for _, d := range f.Mail.Deliveries() {
		if v, ok := header(d.Data, "Subject"); ok && v == subject {
			out = append(out, d)
		}
	}
	return out
}

// waitSubject waits until n messages with subject arrived and returns them.
func waitSubject(t *testing.T, f *fixture.Servers, subject string, n int) []mailserver.Delivery {
	t.Helper()
	deadline := time.Now().Add(deliveryWait)
	for {
		ds := withSubject(f, subject)
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages %q arrived; maillog tail:\n%s", len(ds), n, subject, tailLines(f.Mail.Log(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noneWithSubject checks, after Postfix had time to deliver anything it
// accepted, that no message with subject arrived.
func noneWithSubject(t *testing.T, f *fixture.Servers, subject string) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond) // Postfix's queue_run_delay is 1 s
	if n := len(withSubject(f, subject)); n != 0 {
		t.Fatalf("%d messages %q arrived; want none", n, subject)
	}
}

// upstreamHELO is the HELO/EHLO name the sending client gave Postfix, from
// the Received: header Postfix prepended ("Received: from NAME (host [ip])").
func upstreamHELO(d mailserver.Delivery) string {
	line, _, _ := bytes.Cut(d.Data, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("Received: from "))
	if !ok {
		return ""
	}
	name, _, _ := bytes.Cut(rest, []byte(" "))
	return string(name)
}

// checkSaneHELO fails unless the message reached Postfix under a name its
// strict HELO rules accept, which is not the client's own (gsendmail's,
// not the application's).
func checkSaneHELO(t *testing.T, d mailserver.Delivery, clientName string) {
	t.Helper()
	h := upstreamHELO(d)
	if h == "" {
		t.Fatalf("no Received: from … header in the delivery:\n%s", head(d.Data))
	}
	if clientName != "" && strings.EqualFold(h, clientName) {
		t.Errorf("upstream saw the client's EHLO name %q; want gsendmail's own", h)
	}
	if !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) && !strings.Contains(h, ".") {
		t.Errorf("upstream HELO %q is neither an FQDN nor an address literal", h)
	}
}

// header returns the value of the first header field name in the header
// section of msg (unfolded), and whether it exists.
func header(msg []byte, name string) (string, bool) {
	hdr, _, _ := bytes.Cut(mailserver.LF(msg), []byte("\n\n"))
	var val string
	found := false
	for _, l := range strings.Split(string(hdr), "\n") {
		if found {
			if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
				val += " " + strings.TrimSpace(l)
				continue
			}
			return val, true
		}
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(k, name) {
			found, val = true, strings.TrimSpace(v)
		}
	}
	return val, found
}

func body(msg []byte) []byte {
	_, b, _ := bytes.Cut(mailserver.LF(msg), []byte("\n\n"))
	return b
}

func head(b []byte) string {
	if len(b) > 600 {
		b = b[:600]
	}
	return string(b)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkEnvelope fails unless d has the sender and exactly the recipients.
func checkEnvelope(t *testing.T, d mailserver.Delivery, sender string, rcpts ...string) {
	t.Helper()
	if d.Sender != sender {
		t.Errorf("envelope sender %q, want %q", d.Sender, sender)
	}
	if strings.Join(d.Recipients, ",") != strings.Join(sortedCopy(rcpts), ",") {
		t.Errorf("envelope recipients %v, want %v", d.Recipients, rcpts)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// checkExact fails unless what Postfix delivered (without its Received:
// header) is sent, byte for byte after CRLF → LF.
func checkExact(t *testing.T, d mailserver.Delivery, sent []byte) {
	t.Helper()
	got, want := d.Original(), mailserver.LF(sent)
	if !bytes.Equal(got, want) {
		t.Errorf("delivered message differs from what the client sent\n--- sent:\n%q\n--- delivered:\n%q", want, got)
	}
}

// smtpConn is a minimal line-level SMTP client for replies the libraries
// hide: it sends raw lines and reads whole (multi-line) replies.
type smtpConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t testing.TB, addr string) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	s := &smtpConn{c: c, r: bufio.NewReader(c)}
	return s
}

// reply reads one reply: its code and its text lines joined by "\n".
func (s *smtpConn) reply(timeout time.Duration) (int, string, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(timeout))
	var lines []string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return 0, strings.Join(lines, "\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 3 {
			return 0, l, fmt.Errorf("short reply line %q", l)
		}
		lines = append(lines, l)
		if len(l) == 3 || l[3] == ' ' {
			code, err := strconv.Atoi(l[:3])
			return code, strings.Join(lines, "\n"), err
		}
	}
}

func (s *smtpConn) send(line string) error {
	_ = s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := s.c.Write([]byte(line + "\r\n"))
	return err
}

// cmd sends line and reads its reply; it fails the test on I/O errors.
func (s *smtpConn) cmd(t testing.TB, line string) (int, string) {
	t.Helper()
	if err := s.send(line); err != nil {
		t.Fatalf("sending %q: %v", line, err)
	}
	code, text, err := s.reply(30 * time.Second)
	if err != nil {
		t.Fatalf("reply to %q: %v (%q)", line, err, text)
	}
	return code, text
}

// expect reads a reply and fails unless its code is want.
func (s *smtpConn) expect(t testing.TB, line string, want int) string {
	t.Helper()
	code, text := s.cmd(t, line)
	if code != want {
		t.Fatalf("%q: reply %q, want %d", line, text, want)
	}
	return text
}

// greet reads the banner and sends EHLO.
func (s *smtpConn) greet(t testing.TB) string {
	t.Helper()
	code, text, err := s.reply(30 * time.Second)
	if err != nil || code != 220 {
		t.Fatalf("greeting: %d %q %v", code, text, err)
	}
	return s.expect(t, "EHLO "+clientEHLO, 250)
}

// data sends a DATA transaction body (LF → CRLF, dot-stuffed) after 354
// and returns the final reply.
func (s *smtpConn) data(t testing.TB, msg string) (int, string) {
	t.Helper()
	s.expect(t, "DATA", 354)
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.ReplaceAll(msg, "\r\n", "\n"), "\n") {
		if l == "" {
			continue
		}
		l = strings.TrimSuffix(l, "\n")
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		b.WriteString(l + "\r\n")
	}
	b.WriteString(".")
	return s.cmd(t, b.String())
}

// message is a complete small message (Date and Message-ID present, so
// nothing is added) identified by subject, with LF endings.
func message(subject string) string {
	return "From: " + testUser + "\nTo: " + rcptAddr + "\nSubject: " + subject +
		"\nDate: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <" + strings.NewReplacer(" ", "-", "/", "-").Replace(subject) + "@gsendmail.test>\n\nbody of " + subject + "\n"
}

// sendOne runs one whole transaction with the raw client and returns the
// final reply.
func sendOne(t testing.TB, addr, subject string) (int, string) {
	t.Helper()
	s := dialSMTP(t, addr)
	s.greet(t)
	s.expect(t, "MAIL FROM:<"+testUser+">", 250)
	s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
	code, text := s.data(t, message(subject))
	s.send("QUIT")
	return code, text
}

// dialRaw is dialSMTP for goroutines: errors are returned, not fatal.
func dialRaw(addr string) (*smtpConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &smtpConn{c: c, r: bufio.NewReader(c)}, nil
}

// Phases of a transaction, for what a client saw when the server went
// away.
const (
	phaseGreeting = "greeting"
	phaseEnvelope = "envelope" // EHLO, MAIL, RCPT
	phaseData     = "data"     // DATA accepted, message sent, no final reply yet
	phaseDone     = "done"     // final reply read
)

// transact runs greeting, EHLO, MAIL, RCPT, DATA and the message on a
// connection, returning the last reply read, the phase reached and the
// I/O error that ended it early (nil when the final reply was read). A
// non-2xx reply before DATA ends the transaction with that reply.
func (s *smtpConn) transact(from, to, msg string, greeted bool) (code int, text, phase string, err error) {
	step := func(line string) (int, string, error) {
		if err := s.send(line); err != nil {
			return 0, "", err
		}
		return s.reply(60 * time.Second)
	}
	phase = phaseGreeting
	if !greeted {
		if code, text, err = s.reply(30 * time.Second); err != nil || code != 220 {
			return code, text, phase, err
		}
		phase = phaseEnvelope
		if code, text, err = step("EHLO " + clientEHLO); err != nil || code != 250 {
			return code, text, phase, err
		}
	}
	phase = phaseEnvelope
	for _, l := range []string{"MAIL FROM:<" + from + ">", "RCPT TO:<" + to + ">"} {
		if code, text, err = step(l); err != nil || code != 250 {
			return code, text, phase, err
		}
	}
	if code, text, err = step("DATA"); err != nil || code != 354 {
		return code, text, phase, err
	}
	phase = phaseData
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(strings.ReplaceAll(msg, "\r\n", "\n"), "\n"), "\n") {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		b.WriteString(l + "\r\n")
	}
	b.WriteString(".")
	if code, text, err = step(b.String()); err != nil {
		return code, text, phase, err
	}
	return code, text, phaseDone, nil
}

// transaction is transact on a fresh connection's first message: the
// final code and text (0 and the error on I/O trouble).
func (s *smtpConn) transaction(from, to, msg string) (int, string) {
	code, text, _, err := s.transact(from, to, msg, false)
	if err != nil {
		return 0, err.Error() + " " + text
	}
	return code, text
}
