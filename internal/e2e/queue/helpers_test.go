// Package queue_test drives the built gsendmail binary through the queue's
// user-visible promises (issue 5, "never lose mail"): a fault matrix over
// every SMTP step, kill -9 during enqueue and flush, a full disk, a 1,000
// message flush into the real test Postfix, flush-after-success, expiry
// notices, and mailq/queue list/drop.
//
// It owns no production code. The scripted server here (faultServer) is a
// loopback SMTP listener that fails exactly one chosen step; the counting
// proxy (proxy) sits in front of the real Postfix to count connections and
// to play "server down".
package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

const (
	testUser  = "user@gsendmail.test"
	testPass  = "s3cret-Pa55word-for-tests"
	rcptAddr  = "someone@example.org"
	markerHdr = "X-Test-Marker: "
)

// home is one simulated user: a config file and private HOME and
// XDG_STATE_HOME, so each test has its own queue.
type home struct {
	cfg   string
	home  string
	state string
}

func newHome(t *testing.T, cfg string) *home {
	t.Helper()
	h := &home{home: t.TempDir(), state: t.TempDir()}
	h.cfg = filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *home) queueDir() string { return filepath.Join(h.state, "gsendmail", "queue") }

func (h *home) env() []string {
	return append(os.Environ(), "GSENDMAIL_CONFIG="+h.cfg, "HOME="+h.home, "XDG_STATE_HOME="+h.state)
}

type result = testbin.Result

// run executes the binary and waits.
func (h *home) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return testbin.Exec(t, testbin.Command(t, h.env(), args...), strings.NewReader(stdin))
}

// runAs runs bin (a link to the binary whose name picks a personality,
// such as mailq) and waits.
func (h *home) runAs(t *testing.T, bin, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = h.env()
	return testbin.Exec(t, cmd, strings.NewReader(stdin))
}

// queued returns the IDs of the entries in the queue directory (an .env
// with its .msg), read from disk rather than through the binary.
func (h *home) queued(t *testing.T) []string {
	t.Helper()
	return envIDs(t, h.queueDir())
}

func envIDs(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".env"); ok && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

// message is a small message carrying a unique marker header.
func message(marker string) string {
	return "From: Queue Test <" + testUser + ">\n" +
		"To: " + rcptAddr + "\n" +
		"Subject: queue test " + marker + "\n" +
		"Message-ID: <" + marker + "@gsendmail.test>\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\n" +
		markerHdr + marker + "\n" +
		"\n" +
		"body of " + marker + "\n.leading dot\n"
}

// markerOf finds the marker in a received message, "" if none.
func markerOf(data []byte) string {
	i := bytes.Index(data, []byte(markerHdr))
	if i < 0 {
		return ""
	}
	rest := data[i+len(markerHdr):]
	if j := bytes.IndexAny(rest, "\r\n"); j >= 0 {
		rest = rest[:j]
	}
	return string(rest)
}

// plainConfig is an account on a loopback scripted server without TLS.
func plainConfig(port int, extra string) string {
	return plainConfigTimeout(port, "5s", extra)
}

func plainConfigTimeout(port int, timeout, extra string) string {
	return fmt.Sprintf(`default_account = "t"
[account.t]
host = "127.0.0.1"
port = %d
tls = "none"
allow_cleartext_auth = true
user = %q
password = %q
from = %q
timeout = %q
deadline = "20s"
%s
`, port, testUser, testPass, testUser, timeout, extra)
}

// tlsConfig is an account using STARTTLS or implicit TLS with a trust file.
func tlsConfig(port int, mode, trust, extra string) string {
	return fmt.Sprintf(`default_account = "t"
[account.t]
host = "127.0.0.1"
port = %d
tls = %q
tls_trust_file = %q
user = %q
password = %q
from = %q
timeout = "5s"
deadline = "20s"
%s
`, port, mode, trust, testUser, testPass, testUser, extra)
}

// ---- the scripted fault server ----

// Points where faultServer can fail.
const (
	ptNone        = ""
	ptAcceptClose = "accept-close" // accept, then close before the greeting
	ptGreeting    = "greeting"
	ptGreetHang   = "greeting-hang" // accept and never say anything
	ptEHLO        = "EHLO"          // the first EHLO
	ptSTARTTLS    = "STARTTLS"
	ptEHLO2       = "EHLO-after-TLS"
	ptAUTH        = "AUTH"
	ptMAIL        = "MAIL"
	ptRCPT        = "RCPT"
	ptDATA        = "DATA"
	ptBDAT        = "BDAT"
	ptDot         = "final-dot"
	ptQUIT        = "QUIT" // after the message was accepted
)

// fault is what happens at the point: "drop" closes the connection without
// a reply; otherwise it is a reply code.
type fault struct {
	point string
	reply string // "drop", "421", "451", "452", "554"
}

// faultServer is a loopback SMTP submission server that follows RFC 5321
// closely enough for gsendmail and fails at one point. It records every
// message it accepted (the final 250 was written).
type faultServer struct {
	ln       net.Listener
	tlsConf  *tls.Config // non-nil: offer STARTTLS
	chunking bool        // offer PIPELINING and CHUNKING
	// perConn, when > 0, limits messages per connection the way large
	// providers do: the next MAIL gets 421 and the connection closes.
	perConn   int
	fault     atomic.Pointer[fault]
	conns     atomic.Int64
	mu        sync.Mutex
	accepted  []string // markers, in acceptance order
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func startFaultServer(t *testing.T, tlsConf *tls.Config, chunking bool, f fault) *faultServer {
	t.Helper()
	return startFaultServerOn(t, 0, tlsConf, chunking, f)
}

// startFaultServerOn listens on a given loopback port (0: any).
func startFaultServerOn(t *testing.T, port int, tlsConf *tls.Config, chunking bool, f fault) *faultServer {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	s := &faultServer{ln: ln, tlsConf: tlsConf, chunking: chunking}
	s.setFault(f)
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *faultServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *faultServer) setFault(f fault) { s.fault.Store(&f) }

func (s *faultServer) close() {
	s.closeOnce.Do(func() {
		s.ln.Close()
		s.wg.Wait()
	})
}

func (s *faultServer) markers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// count returns how many times marker was accepted.
func (s *faultServer) count(marker string) int {
	n := 0
	for _, m := range s.markers() {
		if m == marker {
			n++
		}
	}
	return n
}

func (s *faultServer) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			s.session(c)
		}()
	}
}

// session runs one SMTP conversation; it returns when the connection is to
// be closed.
func (s *faultServer) session(c net.Conn) {
	f := *s.fault.Load()
	// fail reports whether the step at point ends the session: a "drop"
	// closes, a 4xx/5xx reply is written (421 also closes, RFC 5321
	// 3.8). ok=false means the step proceeds normally.
	var w *bufio.Writer
	fail := func(point string) (handled, closeConn bool) {
		if f.point != point {
			return false, false
		}
		if f.reply == "drop" {
			return true, true
		}
		fmt.Fprintf(w, "%s %s.3.0 scripted failure at %s\r\n", f.reply, f.reply[:1], point)
		w.Flush()
		return true, f.reply == "421"
	}
	r := bufio.NewReader(c)
	w = bufio.NewWriter(c)
	reply := func(line string) {
		w.WriteString(line + "\r\n")
		w.Flush()
	}
	switch f.point {
	case ptAcceptClose:
		return
	case ptGreetHang:
		io.Copy(io.Discard, r) // until the client gives up
		return
	}
	if h, cl := fail(ptGreeting); h {
		if cl {
			return
		}
		// A 554 greeting: RFC 5321 3.1, the server then waits for QUIT.
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
				reply("221 2.0.0 bye")
				return
			}
			reply("503 5.5.1 no service")
		}
	}
	reply("220 fault.gsendmail.test ESMTP scripted")
	tlsOn, authed, haveMail := false, false, false
	rcpts, sent := 0, 0
	var bdat bytes.Buffer
	accept := func(data []byte) {
		if h, cl := fail(ptDot); h {
			if !cl {
				haveMail, rcpts = false, 0
			}
			if cl {
				c.Close()
			}
			return
		}
		s.mu.Lock()
		s.accepted = append(s.accepted, markerOf(data))
		s.mu.Unlock()
		sent++
		reply("250 2.0.0 Ok: queued")
		haveMail, rcpts = false, 0
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		step := verb
		switch {
		case verb == "EHLO" && tlsOn:
			step = ptEHLO2
		case verb == "HELO":
			step = ptEHLO
		}
		if verb != "BDAT" { // BDAT fails after its chunk was read
			if h, cl := fail(step); h {
				if cl {
					return
				}
				continue
			}
		}
		switch verb {
		case "EHLO", "HELO":
			if !strings.Contains(arg, ".") && !strings.HasPrefix(arg, "[") {
				reply("504 5.5.2 need fully-qualified hostname")
				continue
			}
			lines := []string{"fault.gsendmail.test", "8BITMIME", "SIZE 10240000", "ENHANCEDSTATUSCODES"}
			if s.tlsConf != nil && !tlsOn {
				lines = append(lines, "STARTTLS")
			} else {
				lines = append(lines, "AUTH PLAIN LOGIN")
			}
			if s.chunking {
				lines = append(lines, "PIPELINING", "CHUNKING")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				w.WriteString("250" + sep + l + "\r\n")
			}
			w.Flush()
		case "STARTTLS":
			if s.tlsConf == nil || tlsOn {
				reply("503 5.5.1 no STARTTLS here")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tlsOn = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 only PLAIN")
				continue
			}
			if ir == "" {
				reply("334 ")
				if ir, err = r.ReadString('\n'); err != nil {
					return
				}
			}
			// RFC 4616: authzid NUL authcid NUL passwd, base64.
			if strings.TrimSpace(ir) != plainIR(testUser, testPass) {
				reply("535 5.7.8 bad credentials")
				continue
			}
			authed = true
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if !authed {
				reply("530 5.7.0 authentication required")
				continue
			}
			if s.perConn > 0 && sent >= s.perConn {
				reply("421 4.7.0 too many messages in this connection, closing")
				return
			}
			haveMail, rcpts = true, 0
			reply("250 2.1.0 Ok")
		case "RCPT":
			if !haveMail {
				reply("503 5.5.1 need MAIL")
				continue
			}
			rcpts++
			reply("250 2.1.5 Ok")
		case "DATA":
			if rcpts == 0 {
				reply("503 5.5.1 need RCPT")
				continue
			}
			reply("354 end with <CRLF>.<CRLF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			accept(data.Bytes())
		case "BDAT":
			// RFC 3030 2: "BDAT size [LAST]", then exactly size octets.
			n, last, err := parseBDAT(arg)
			if err != nil {
				reply("501 5.5.4 bad BDAT")
				return
			}
			chunk := make([]byte, n)
			if _, err := io.ReadFull(r, chunk); err != nil {
				return
			}
			if h, cl := fail(ptBDAT); h {
				bdat.Reset()
				haveMail, rcpts = false, 0
				if cl {
					return
				}
				continue
			}
			if rcpts == 0 {
				bdat.Reset()
				reply("503 5.5.1 need RCPT")
				continue
			}
			bdat.Write(chunk)
			if !last {
				reply(fmt.Sprintf("250 2.0.0 %d octets received", n))
				continue
			}
			data := append([]byte(nil), bdat.Bytes()...)
			bdat.Reset()
			accept(data)
		case "RSET":
			haveMail, rcpts = false, 0
			bdat.Reset()
			reply("250 2.0.0 Ok")
		case "NOOP":
			reply("250 2.0.0 Ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

func parseBDAT(arg string) (int, bool, error) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		return 0, false, errors.New("bad BDAT")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 || n > 64<<20 {
		return 0, false, errors.New("bad size")
	}
	last := len(f) == 2 && strings.EqualFold(f[1], "LAST")
	return n, last, nil
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// ---- TLS material for the STARTTLS variant ----

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns the
// server config and the PEM file the client should trust.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "fault.gsendmail.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              []string{"fault.gsendmail.test", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, p
}

// ---- a counting proxy in front of a real server ----

// proxy forwards loopback TCP connections to target, counting them; while
// down it accepts and closes at once (the server is "unreachable" in the
// way a dead smarthost behind a load balancer is).
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	conns  atomic.Int64
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var d net.Dialer
			u, err := d.DialContext(ctx, "tcp", p.target)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func (h *home) binPath(t *testing.T) string { return testbin.Path(t) }
