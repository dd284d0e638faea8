package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/gsendmail/gsendmail/internal/app"
)

// --- the fake upstream (fault injection only; the real-server test uses Postfix) ---

type upMsg struct {
	From   string
	To     []string
	Data   string
	Helo   string
	Ret    string
	EnvID  string
	UTF8   bool
	Notify []string
}

// upstream is a go-smtp server standing in for the smarthost. Its error
// fields inject refusals; hold blocks Data until closed.
type upstream struct {
	t    *testing.T
	addr string
	srv  *gosmtp.Server
	ln   net.Listener

	mu        sync.Mutex
	msgs      []upMsg
	conns     int // connections accepted
	active    int // connections open now
	peak      int // most connections open at once
	resets    int // RSET commands
	password  string
	maxSize   int64 // SIZE offered (set before restart)
	oauthOnly bool  // offer AUTH XOAUTH2 (never completed: for token-endpoint faults)
	mailErr   error
	rcptErr   error
	dataErr   error
	hold      chan struct{}
	inData    chan struct{} // receives when a Data call starts (if set)
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.serveOn(ln)
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) serveOn(ln net.Listener) {
	u.ln = ln
	s := gosmtp.NewServer(u)
	s.Domain = "upstream.test"
	s.AllowInsecureAuth = true
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = nopLog{}
	s.EnableDSN = true
	s.EnableSMTPUTF8 = true
	s.MaxMessageBytes = u.maxSize
	u.srv = s
	go s.Serve(countListener{ln, u})
}

func (u *upstream) stop() { u.ln.Close(); u.srv.Close() }

// restart listens again on the same address (after stop).
func (u *upstream) restart(t *testing.T) {
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	u.serveOn(ln)
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

type countListener struct {
	net.Listener
	u *upstream
}

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.u.mu.Lock()
	l.u.conns++
	l.u.active++
	l.u.peak = max(l.u.peak, l.u.active)
	l.u.mu.Unlock()
	return &countConn{Conn: c, u: l.u}, nil
}

type countConn struct {
	net.Conn
	u    *upstream
	once sync.Once
}

func (c *countConn) Close() error {
	c.once.Do(func() {
		c.u.mu.Lock()
		c.u.active--
		c.u.mu.Unlock()
	})
	return c.Conn.Close()
}

func (u *upstream) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	return &upSession{u: u, helo: c.Hostname()}, nil
}

type upSession struct {
	u      *upstream
	helo   string
	authed bool
	m      upMsg
}

func (s *upSession) AuthMechanisms() []string {
	if s.u.oauthOnly {
		return []string{"XOAUTH2"}
	}
	if s.u.password == "" {
		return nil
	}
	return []string{"PLAIN"}
}

func (s *upSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != s.u.password {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *upSession) Mail(from string, o *gosmtp.MailOptions) error {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if s.u.password != "" && !s.authed {
		return gosmtp.ErrAuthRequired
	}
	s.m = upMsg{From: from, Helo: s.helo, Ret: string(o.Return), EnvID: o.EnvelopeID, UTF8: o.UTF8}
	return s.u.mailErr
}

func (s *upSession) Rcpt(to string, o *gosmtp.RcptOptions) error {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	s.m.To = append(s.m.To, to)
	for _, n := range o.Notify {
		s.m.Notify = append(s.m.Notify, string(n))
	}
	return s.u.rcptErr
}

func (s *upSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.u.mu.Lock()
	hold, inData := s.u.hold, s.u.inData
	s.u.mu.Unlock()
	if inData != nil {
		inData <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	if s.u.dataErr != nil {
		return s.u.dataErr
	}
	s.m.Data = string(b)
	s.u.msgs = append(s.u.msgs, s.m)
	return nil
}

func (s *upSession) Reset() {
	s.u.mu.Lock()
	s.u.resets++
	s.u.mu.Unlock()
	s.m = upMsg{}
}

func (s *upSession) Logout() error { return nil }

func (u *upstream) messages() []upMsg {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upMsg(nil), u.msgs...)
}

func (u *upstream) stats() (conns, peak, resets int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns, u.peak, u.resets
}

func (u *upstream) set(f func(u *upstream)) {
	u.mu.Lock()
	f(u)
	u.mu.Unlock()
}

// waitMessages waits until the upstream holds n messages.
func (u *upstream) waitMessages(t *testing.T, n int, d time.Duration) []upMsg {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := u.messages()
		if len(m) >= n || time.Now().After(deadline) {
			if len(m) < n {
				t.Fatalf("upstream got %d messages, want %d", len(m), n)
			}
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- the daemon, in process ---

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type daemon struct {
	addr   string
	dir    string
	stderr *syncBuf
	stop   context.CancelFunc
	done   chan error
}

// account returns an account section for u; extra lines are appended.
func account(u *upstream, extra string) string {
	host, port, _ := net.SplitHostPort(u.addr)
	return fmt.Sprintf("default_account = \"up\"\n[account.up]\nhost = %q\nport = %s\ntls = \"none\"\nauth = \"none\"\nfrom = \"*@example.org\"\nehlo_name = \"relay.example.org\"\ntimeout = \"5s\"\n%s", host, port, extra)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// startDaemon runs "gsendmail -C cfg serve --listen ADDR" in process and
// waits until it accepts connections.
func startDaemon(t *testing.T, cfg string, args ...string) *daemon {
	t.Helper()
	d := &daemon{dir: t.TempDir(), stderr: &syncBuf{}, done: make(chan error, 1)}
	cfg = strings.ReplaceAll(cfg, "@DIR@", d.dir)
	path := filepath.Join(d.dir, "gsendmail.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		d.addr = freeAddr(t)
		args = []string{"--listen", d.addr}
	}
	env := &app.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: d.stderr, Getenv: func(k string) string {
		switch k {
		case "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR":
			return d.dir
		}
		return ""
	}}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go func() { d.done <- app.Run(ctx, env, "gsendmail", append([]string{"-C", path, "serve"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(40 * time.Second):
			t.Errorf("daemon did not stop")
		}
	})
	if d.addr == "" {
		return d
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", d.addr)
		if err == nil {
			c.Close()
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("daemon exited: %v\n%s", err, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not listening on %s: %v\n%s", d.addr, err, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- a scripted client ---

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	cl.expect("220")
	return cl
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (c *client) reply() (string, error) {
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var last string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return last, err
		}
		last = strings.TrimRight(l, "\r\n")
		if len(last) < 4 || last[3] != '-' {
			return last, nil
		}
	}
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	l, err := c.reply()
	if err != nil {
		c.t.Fatalf("reading reply (want %s): %v", prefix, err)
	}
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("reply %q, want %s...", l, prefix)
	}
	return l
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and checks the reply prefix.
func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(prefix)
}

// mail runs one transaction up to the end of data and returns the final reply.
func (c *client) mail(from string, to []string, body string) string {
	c.t.Helper()
	c.cmd("MAIL FROM:<"+from+">", "250")
	for _, r := range to {
		c.cmd("RCPT TO:<"+r+">", "250")
	}
	c.cmd("DATA", "354")
	io.WriteString(c.c, strings.ReplaceAll(body, "\n", "\r\n")+".\r\n")
	l, err := c.reply()
	if err != nil {
		c.t.Fatalf("end of data: %v", err)
	}
	return l
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
