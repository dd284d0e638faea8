// Package security pins the promises of SECURITY.md with the built gsendmail
// binary: no cleartext credentials, verified certificates, no STARTTLS
// response injection, no leaked secrets, private files, no header or
// envelope injection, and bounded memory and time against hostile input and
// hostile servers. It owns these tests only; the code under test lives in
// the other internal packages.
package security

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

const (
	sentUser = "user@gsendmail.test"
	// Sentinel secrets: none of these may ever show up outside the wire.
	sentPass = "Sentinel-Pa55word-7c1e9a"
)

type result struct {
	testbin.Result
	// maxRSSKB is the child's peak RSS (VmHWM of its own address space,
	// sampled from /proc until it exits). rusage's Maxrss is not used: on
	// Linux it inherits the parent's high-water mark through the vfork that
	// os/exec uses, so it reports the test process, not gsendmail.
	maxRSSKB int64
	elapsed  time.Duration
}

type runOpts struct {
	cfg   string
	state string // HOME and XDG_STATE_HOME; a temp dir when empty
	stdin io.Reader
	env   []string
	// during runs while the process is alive (after start).
	during func(p *os.Process)
	kill   time.Duration // hard limit; 90s when zero
}

// run executes the built binary and returns its outputs, exit code and
// peak RSS.
func run(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	state := o.state
	if state == "" {
		state = t.TempDir()
	}
	env := testbin.Environ(nil, "GSENDMAIL_CONFIG="+o.cfg, "HOME="+state, "XDG_STATE_HOME="+state)
	stdin := o.stdin
	if stdin == nil {
		stdin = strings.NewReader("Subject: x\n\nbody\n")
	}
	limit := o.kill
	if limit == 0 {
		limit = 90 * time.Second
	}
	start := time.Now()
	p := testbin.Start(t, testbin.Command(t, append(env, o.env...), args...), stdin)
	var hwm atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		status := fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid)
		for {
			if kb, ok := vmHWM(status); ok && kb > hwm.Load() {
				hwm.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() { close(stop); <-sampled })
	defer stopSampling() // also when Wait fails the test
	if o.during != nil {
		o.during(p.Cmd.Process)
	}
	// The limit counts from the start, as during's time is the run's.
	res := p.Wait(max(limit-time.Since(start), time.Millisecond))
	stopSampling()
	if res.Code == -1 {
		t.Fatalf("a signal ended gsendmail:\n%s", res)
	}
	return result{Result: res, elapsed: time.Since(start), maxRSSKB: hwm.Load()}
}

// vmHWM reads the peak resident set size in KB from a /proc status file.
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil {
				return kb, true
			}
		}
	}
	return 0, false
}

func writeFile(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func oneLine(t *testing.T, r result) {
	t.Helper()
	if n := strings.Count(strings.TrimSuffix(r.Stderr, "\n"), "\n"); n != 0 || r.Stderr == "" {
		t.Errorf("want exactly one stderr line, got %q", r.Stderr)
	}
}

// ---- scripted SMTP server ------------------------------------------------

// fake is a scripted SMTP server on loopback that records every byte it
// receives (after TLS, the decrypted bytes are recorded too).
type fake struct {
	ln    net.Listener
	start sync.Once
	cert  tls.Certificate
	ca    string // PEM file of the self-signed certificate
	mu    sync.Mutex
	rec   bytes.Buffer
	conns int
	// script knobs
	starttls  string   // "": not offered; "ok", "refuse", "inject", "garbage"
	ext       []string // extra EHLO keywords
	greet     func(w io.Writer)
	afterEHLO func(w io.Writer) bool // returns true to stop handling
	discard   bool                   // DATA: discard without storing
	data      bytes.Buffer
	rcpts     int
	// authEcho, when set, makes AUTH a hostile refusal: it gets the
	// base64 payloads the client sent and returns the whole reply.
	authEcho func(payloads []string) string
	echoed   []string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{ln: ln}
	f.cert, f.ca = selfSigned(t)
	t.Cleanup(func() { ln.Close() })
	return f
}

// addr returns the listening address. The first call starts serving, so
// set the script knobs before it (the config is built from addr).
func (f *fake) addr() string {
	f.start.Do(f.acceptLoop)
	return f.ln.Addr().String()
}

func (f *fake) acceptLoop() {
	go func() {
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			go f.serve(c)
		}
	}()
}

// delivered returns the message bytes received in DATA.
func (f *fake) delivered() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data.String()
}

func (f *fake) rcptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rcpts
}

func (f *fake) received() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rec.String()
}

func (f *fake) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

type recorder struct {
	net.Conn
	f *fake
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.f.mu.Lock()
	r.f.rec.Write(p[:n])
	r.f.mu.Unlock()
	return n, err
}

func (f *fake) serve(raw net.Conn) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(60 * time.Second))
	var c net.Conn = recorder{raw, f}
	br := bufio.NewReader(c)
	w := io.Writer(c)
	if f.greet != nil {
		f.greet(w)
	} else {
		io.WriteString(w, "220 fake.gsendmail.test ESMTP\r\n")
	}
	tlsOn := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if f.afterEHLO != nil && f.afterEHLO(w) {
				io.Copy(io.Discard, br)
				return
			}
			ext := []string{"250-fake.gsendmail.test", "250-PIPELINING", "250-8BITMIME"}
			if f.starttls != "" && !tlsOn {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER")
			for _, e := range f.ext {
				ext = append(ext, "250-"+e)
			}
			ext = append(ext, "250 ENHANCEDSTATUSCODES")
			io.WriteString(w, strings.Join(ext, "\r\n")+"\r\n")
		case cmd == "STARTTLS":
			switch f.starttls {
			case "refuse":
				io.WriteString(w, "454 4.7.0 TLS not available\r\n")
				continue
			case "refuse5":
				io.WriteString(w, "502 5.5.1 STARTTLS not implemented here\r\n")
				continue
			case "garbage":
				io.WriteString(w, "220 2.0.0 go ahead\r\n")
				br.ReadByte()
				io.WriteString(w, "this is not a TLS server hello\r\n")
				return
			case "inject":
				// CVE-2011-0411: the injected reply arrives in the same
				// write as the 220; a vulnerable client reads it after TLS.
				io.WriteString(w, "220 ready\r\n250 injected\r\n")
			default:
				io.WriteString(w, "220 2.0.0 go ahead\r\n")
			}
			tc := tls.Server(&bufConn{raw, br}, &tls.Config{Certificates: []tls.Certificate{f.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c = recorder{tc, f}
			br = bufio.NewReader(c)
			w = c
			tlsOn = true
		case strings.HasPrefix(cmd, "AUTH") && f.authEcho != nil:
			// A hostile server: collect what the client sent and echo
			// it back in the refusal.
			fields := strings.Fields(strings.TrimRight(line, "\r\n"))
			var got []string
			if len(fields) > 2 {
				got = append(got, fields[2])
			}
			switch {
			case strings.EqualFold(fields[1], "LOGIN"):
				if len(got) == 0 {
					io.WriteString(w, "334 VXNlcm5hbWU6\r\n")
					l, _ := br.ReadString('\n')
					got = append(got, strings.TrimRight(l, "\r\n"))
				}
				io.WriteString(w, "334 UGFzc3dvcmQ6\r\n")
				l, _ := br.ReadString('\n')
				got = append(got, strings.TrimRight(l, "\r\n"))
			case len(got) == 0:
				io.WriteString(w, "334 \r\n")
				l, _ := br.ReadString('\n')
				got = append(got, strings.TrimRight(l, "\r\n"))
			}
			f.mu.Lock()
			f.echoed = append(f.echoed, got...)
			f.mu.Unlock()
			io.WriteString(w, f.authEcho(got))
		case strings.HasPrefix(cmd, "AUTH"):
			if strings.TrimSpace(cmd) == "AUTH PLAIN" {
				io.WriteString(w, "334 \r\n")
				br.ReadString('\n')
			}
			io.WriteString(w, "235 2.7.0 ok\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			io.WriteString(w, "250 2.1.0 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			f.mu.Lock()
			f.rcpts++
			f.mu.Unlock()
			io.WriteString(w, "250 2.1.5 ok\r\n")
		case cmd == "DATA":
			io.WriteString(w, "354 go\r\n")
			for {
				l, err := br.ReadSlice('\n')
				if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
				if !f.discard {
					f.mu.Lock()
					f.data.Write(l)
					f.mu.Unlock()
				}
			}
			io.WriteString(w, "250 2.0.0 queued\r\n")
		case cmd == "QUIT":
			io.WriteString(w, "221 bye\r\n")
			return
		case cmd == "RSET" || cmd == "NOOP":
			io.WriteString(w, "250 ok\r\n")
		default:
			io.WriteString(w, "502 5.5.2 unknown\r\n")
		}
	}
}

// bufConn lets the TLS server read bytes the bufio.Reader already holds.
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.br.Read(p) }

// selfSigned makes a certificate for localhost/127.0.0.1 and writes it as
// a PEM trust file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pemCert, 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
}

// fakeConfig is a password account on the fake server.
func fakeConfig(f *fake, tls, extra string) string {
	return fmt.Sprintf(`default_account = "t"
[account.t]
host = "127.0.0.1"
port = %s
tls = %q
tls_trust_file = %q
user = %q
password = %q
from = %q
timeout = "5s"
%s
`, port(f.addr()), tls, f.ca, sentUser, sentPass, sentUser, extra)
}

// oauthOnFake is the setup of the OAuth2 file tests: a fake authorization
// server whose user is sentUser and a scripted SMTP server that offers
// STARTTLS and accepts any AUTH.
func oauthOnFake(t *testing.T) (*oauthtest.Server, *fake) {
	t.Helper()
	as := oauthtest.NewServer(t)
	as.SetUser(sentUser)
	f := newFake(t)
	f.starttls = "ok"
	return as, f
}

// fakeOAuthAccount is the table of account name: OAuth2 at as, sending to
// f, the refresh token kept in tokenFile, then the extra keys.
func fakeOAuthAccount(f *fake, as *oauthtest.Server, name, tokenFile, extra string) string {
	id, secret := as.Client()
	return fmt.Sprintf(`[account.%s]
host = "127.0.0.1"
port = %s
tls = "starttls"
tls_trust_file = %q
user = %q
from = %q
auth = "oauth2"
oauth_provider = "generic"
oauth_client_id = %q
oauth_client_secret = %q
oauth_auth_url = %q
oauth_token_url = %q
oauth_scopes = ["mail"]
token_store = "file"
token_file = %q
%s`, name, port(f.addr()), f.ca, sentUser, sentUser, id, secret, as.AuthURL(), as.TokenURL(), tokenFile, extra)
}

// downSmarthost is a server that answers every connection with 421 and
// hangs up, like a smarthost that is down for now; it returns the port.
func downSmarthost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("421 4.3.2 try again later\r\n"))
			c.Close()
		}
	}()
	return port(ln.Addr().String())
}
