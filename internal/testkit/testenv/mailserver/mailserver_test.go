package mailserver

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testUser = "alice@example.test"
	testPass = "s3cret pass"
)

// conn is a minimal SMTP client on net/textproto for these tests.
type conn struct {
	t  testing.TB
	nc net.Conn
	tp *textproto.Conn
}

func dial(t testing.TB, addr string, implicitTLS bool, caFile string) *conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		nc = tls.Client(nc, tlsConfig(t, caFile))
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &conn{t: t, nc: nc, tp: textproto.NewConn(nc)}
	t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	return c
}

func tlsConfig(t testing.TB, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in CA file")
	}
	return &tls.Config{RootCAs: pool, ServerName: Hostname}
}

// cmd sends a line and returns the reply code and text.
func (c *conn) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

func (c *conn) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatal(err)
	}
	return code, msg
}

func (c *conn) expect(want int) string {
	c.t.Helper()
	code, msg := c.read()
	if code != want {
		c.t.Fatalf("got %d %s, want %d", code, msg, want)
	}
	return msg
}

func (c *conn) must(want int, format string, args ...any) string {
	c.t.Helper()
	code, msg := c.cmd(format, args...)
	if code != want {
		c.t.Fatalf("%s: got %d %s, want %d", strings.Fields(fmt.Sprintf(format, args...))[0], code, msg, want)
	}
	return msg
}

func (c *conn) starttls(caFile string) {
	c.t.Helper()
	c.must(220, "STARTTLS")
	tc := tls.Client(c.nc, tlsConfig(c.t, caFile))
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.nc = tc
	c.tp = textproto.NewConn(tc)
}

func (c *conn) authPlain(user, pass string) (int, string) {
	c.t.Helper()
	return c.cmd("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}

// session is an authenticated submission session on s, ready for MAIL.
func session(t *testing.T, s *Server, helo string) *conn {
	t.Helper()
	c := dial(t, s.SubmissionAddr, false, s.CAFile)
	c.must(250, "EHLO %s", helo)
	c.starttls(s.CAFile)
	c.must(250, "EHLO %s", helo)
	if code, msg := c.authPlain(testUser, testPass); code != 235 {
		t.Fatalf("AUTH PLAIN: %d %s", code, msg)
	}
	return c
}

// data sends DATA, the message (CRLF lines, dot-stuffed by the caller) and
// the terminating dot, and returns the final reply code.
func (c *conn) data(msg string) (int, string) {
	c.t.Helper()
	c.must(354, "DATA")
	if _, err := c.tp.W.WriteString(msg + ".\r\n"); err != nil {
		c.t.Fatal(err)
	}
	if err := c.tp.W.Flush(); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

func users() map[string]string { return map[string]string{testUser: testPass} }

func TestHELONameRulesAreEnforcedAtRCPTAfterAuth(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	for _, tc := range []struct {
		helo     string
		wantRCPT int
		wantText string
	}{
		// reject_non_fqdn_helo_hostname: RFC 5321 4.1.4 wants the FQDN.
		{"localhost", 504, "5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"},
		{"yoga", 504, "5.5.2 <yoga>: Helo command rejected: need fully-qualified hostname"},
		// reject_invalid_helo_hostname.
		{"bad_name!.example", 501, "5.5.2 <bad_name!.example>: Helo command rejected: Invalid name"},
		// RFC 5321 4.1.3 address literal and a dotted name pass.
		{"[127.0.0.1]", 250, "2.1.5 Ok"},
		{"client.gsendmail.test", 250, "2.1.5 Ok"},
	} {
		t.Run(tc.helo, func(t *testing.T) {
			c := session(t, s, tc.helo)
			// smtpd_delay_reject=yes: EHLO and MAIL succeed, RCPT fails.
			c.must(250, "MAIL FROM:<%s>", testUser)
			code, msg := c.cmd("RCPT TO:<bob@example.org>")
			if code != tc.wantRCPT || msg != tc.wantText {
				t.Fatalf("RCPT after EHLO %s: got %d %s, want %d %s", tc.helo, code, msg, tc.wantRCPT, tc.wantText)
			}
		})
	}
	if !strings.Contains(s.Log(), "Helo command rejected: need fully-qualified hostname") {
		t.Errorf("maillog does not record the HELO rejection:\n%s", tail(s.Log(), 20))
	}
}

func TestExtraMainCanLiftTheHELORestrictions(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users(), ExtraMain: map[string]string{"smtpd_helo_restrictions": ""}})
	c := session(t, s, "localhost")
	c.must(250, "MAIL FROM:<%s>", testUser)
	c.must(250, "RCPT TO:<bob@example.org>")
}

func TestAuthPlainSucceedsOverSTARTTLSAndImplicitTLSOnly(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	for _, tc := range []struct {
		name     string
		addr     string
		implicit bool
		pass     string
		want     int
	}{
		{"starttls good password", s.SubmissionAddr, false, testPass, 235},
		{"starttls wrong password", s.SubmissionAddr, false, "wrong", 535},
		{"implicit tls good password", s.SMTPSAddr, true, testPass, 235},
		{"implicit tls wrong password", s.SMTPSAddr, true, "wrong", 535},
		{"user names are case-insensitive", s.SMTPSAddr, true, testPass, 235},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr, tc.implicit, s.CAFile)
			c.must(250, "EHLO client.gsendmail.test")
			if !tc.implicit {
				c.starttls(s.CAFile)
				c.must(250, "EHLO client.gsendmail.test")
			}
			user := testUser
			if strings.Contains(tc.name, "case") {
				user = strings.ToUpper(testUser)
			}
			if code, msg := c.authPlain(user, tc.pass); code != tc.want {
				t.Fatalf("AUTH PLAIN: got %d %s, want %d", code, msg, tc.want)
			}
		})
	}
}

func TestAuthLoginSucceedsThroughDovecot(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	c := dial(t, s.SMTPSAddr, true, s.CAFile)
	c.must(250, "EHLO client.gsendmail.test")
	b64 := base64.StdEncoding.EncodeToString
	c.must(334, "AUTH LOGIN")
	c.must(334, "%s", b64([]byte(testUser)))
	c.must(235, "%s", b64([]byte(testPass)))
}

func TestSubmissionRefusesAuthAndMailBeforeSTARTTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	c := dial(t, s.SubmissionAddr, false, s.CAFile)
	ehlo := c.must(250, "EHLO client.gsendmail.test")
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH advertised before STARTTLS:\n%s", ehlo)
	}
	if !strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS not advertised:\n%s", ehlo)
	}
	if code, msg := c.authPlain(testUser, testPass); code/100 != 5 {
		t.Fatalf("AUTH before STARTTLS: got %d %s, want a 5xx refusal", code, msg)
	}
	// smtpd_tls_security_level=encrypt: RFC 3207 4 "530 Must issue a
	// STARTTLS command first".
	if code, msg := c.cmd("MAIL FROM:<%s>", testUser); code != 530 {
		t.Fatalf("MAIL before STARTTLS: got %d %s, want 530", code, msg)
	}
}

func TestUnauthenticatedRelayAndBareAddressesAreRefused(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	t.Run("no auth", func(t *testing.T) {
		c := dial(t, s.SMTPSAddr, true, s.CAFile)
		c.must(250, "EHLO client.gsendmail.test")
		c.must(250, "MAIL FROM:<%s>", testUser)
		if code, msg := c.cmd("RCPT TO:<bob@example.org>"); code != 554 || !strings.Contains(msg, "Relay access denied") {
			t.Fatalf("RCPT without AUTH: got %d %s, want 554 Relay access denied", code, msg)
		}
	})
	t.Run("bare recipient", func(t *testing.T) {
		c := session(t, s, "client.gsendmail.test")
		c.must(250, "MAIL FROM:<%s>", testUser)
		if code, msg := c.cmd("RCPT TO:<root>"); code != 504 || !strings.Contains(msg, "need fully-qualified address") {
			t.Fatalf("RCPT TO:<root>: got %d %s, want 504 need fully-qualified address", code, msg)
		}
	})
	t.Run("bare sender", func(t *testing.T) {
		c := session(t, s, "client.gsendmail.test")
		c.must(250, "MAIL FROM:<root>")
		if code, msg := c.cmd("RCPT TO:<bob@example.org>"); code != 504 || !strings.Contains(msg, "Sender address rejected: need fully-qualified address") {
			t.Fatalf("RCPT after MAIL FROM:<root>: got %d %s, want 504 sender rejected", code, msg)
		}
	})
}

func TestMessageIsCapturedByteExactWithEnvelope(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	c := session(t, s, "client.gsendmail.test")
	// No From, Date or Message-ID; a Bcc; a line that needs dot-stuffing;
	// UTF-8; trailing white space; a folded header. Postfix must pass all
	// of it through unchanged (only prepending its Received:).
	sent := "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n" +
		"To: bob@example.org,\r\n carol@elsewhere.test\r\n" +
		"Bcc: hidden@example.org\r\n" +
		"X-Trailing: space \r\n" +
		"\r\n" +
		"line one\r\n" +
		".leading dot\r\n" +
		"Grüße, ünïcödé\r\n" +
		strings.Repeat("long line ", 500) + "\r\n" + // > line_length_limit (2048)
		"\r\n" +
		"last line\r\n"
	stuffed := strings.ReplaceAll(sent, "\r\n.", "\r\n..")
	c.must(250, "MAIL FROM:<%s>", testUser)
	c.must(250, "RCPT TO:<bob@example.org>")
	c.must(250, "RCPT TO:<carol@elsewhere.test>")
	if code, msg := c.data(stuffed); code != 250 {
		t.Fatalf("end of DATA: %d %s", code, msg)
	}
	c.must(221, "QUIT")

	ds := s.WaitDeliveries(t, 1, 30*time.Second)
	if len(ds) != 1 {
		t.Fatalf("got %d deliveries, want exactly 1 carrying both recipients", len(ds))
	}
	d := ds[0]
	if d.Sender != testUser {
		t.Errorf("sender %q, want %q", d.Sender, testUser)
	}
	if want := []string{"bob@example.org", "carol@elsewhere.test"}; strings.Join(d.Recipients, " ") != strings.Join(want, " ") {
		t.Errorf("recipients %q, want %q", d.Recipients, want)
	}
	if !bytes.HasPrefix(d.Data, []byte("Received: from client.gsendmail.test")) {
		t.Errorf("Data does not start with Postfix's Received: header:\n%s", d.Data)
	}
	if got, want := string(d.Original()), string(LF([]byte(sent))); got != want {
		t.Errorf("Original():\n%q\nwant\n%q", got, want)
	}
}

func TestSMTPUTF8AddressesAreAcceptedAndCaptured(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	c := session(t, s, "client.gsendmail.test")
	ehlo := c.must(250, "EHLO client.gsendmail.test")
	if !containsWord(ehlo, "SMTPUTF8") {
		t.Fatalf("EHLO does not offer SMTPUTF8 (RFC 6531):\n%s", ehlo)
	}
	// RFC 6531 3.4: the SMTPUTF8 parameter on MAIL.
	c.must(250, "MAIL FROM:<%s> SMTPUTF8", testUser)
	c.must(250, "RCPT TO:<jürgen@bücher.example>")
	if code, msg := c.data("Subject: utf8\r\nTo: jürgen@bücher.example\r\n\r\nbody\r\n"); code != 250 {
		t.Fatalf("end of DATA: %d %s", code, msg)
	}
	d := s.WaitDeliveries(t, 1, 30*time.Second)[0]
	if len(d.Recipients) != 1 || d.Recipients[0] != "jürgen@bücher.example" {
		t.Errorf("recipients %q, want [jürgen@bücher.example]", d.Recipients)
	}
}

func TestNullSenderIsCapturedAsEmpty(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users()})
	c := session(t, s, "client.gsendmail.test")
	c.must(250, "MAIL FROM:<>")
	c.must(250, "RCPT TO:<bob@example.org>")
	if code, msg := c.data("Subject: bounce\r\n\r\nbody\r\n"); code != 250 {
		t.Fatalf("end of DATA: %d %s", code, msg)
	}
	d := s.WaitDeliveries(t, 1, 30*time.Second)[0]
	if d.Sender != "" {
		t.Errorf("sender %q, want empty for <>", d.Sender)
	}
}

func TestPlainServiceAllowsAuthWithoutTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Users: users(), Plain: true})
	if s.PlainAddr == "" {
		t.Fatal("PlainAddr empty with Options.Plain")
	}
	c := dial(t, s.PlainAddr, false, s.CAFile)
	ehlo := c.must(250, "EHLO client.gsendmail.test")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH") {
		t.Errorf("plain service EHLO should offer AUTH and no STARTTLS:\n%s", ehlo)
	}
	if code, msg := c.authPlain(testUser, testPass); code != 235 {
		t.Fatalf("AUTH PLAIN without TLS: %d %s", code, msg)
	}
	c.must(250, "MAIL FROM:<%s>", testUser)
	c.must(250, "RCPT TO:<bob@example.org>")
	if code, msg := c.data("Subject: plain\r\n\r\nbody\r\n"); code != 250 {
		t.Fatalf("end of DATA: %d %s", code, msg)
	}
	s.WaitDeliveries(t, 1, 30*time.Second)
}

func TestNoPlainServiceUnlessAsked(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if s.PlainAddr != "" {
		t.Fatalf("PlainAddr %q without Options.Plain", s.PlainAddr)
	}
}

func TestEHLOAdvertisesMessageSizeLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit int64
		want  string
	}{
		{0, fmt.Sprintf("SIZE %d", DefaultMessageSizeLimit)},
		{12345, "SIZE 12345"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{MessageSizeLimit: tc.limit})
			c := dial(t, s.SMTPSAddr, true, s.CAFile)
			ehlo := c.must(250, "EHLO client.gsendmail.test")
			if !strings.Contains(ehlo, tc.want+"\n") && !strings.HasSuffix(ehlo, tc.want) {
				t.Errorf("EHLO does not advertise %q:\n%s", tc.want, ehlo)
			}
		})
	}
}

func TestCertificateKindsVerifyOrFailAsNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    string
		wantErr string // substring of the Go verification error; "" = verifies
	}{
		{CertGood, ""},
		{"", ""},
		{CertExpired, "expired"},
		{CertWrongName, "not " + Hostname},
		{CertSelfSigned, "unknown authority"},
	} {
		t.Run("kind="+tc.kind, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{CertKind: tc.kind})
			nc, err := net.Dial("tcp", s.SMTPSAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			cfg := tlsConfig(t, s.CAFile)
			var peer []byte
			cfg.VerifyConnection = nil
			cfg.InsecureSkipVerify = true // verify by hand to see the error
			tc2 := tls.Client(nc, cfg)
			if err := tc2.Handshake(); err != nil {
				t.Fatal(err)
			}
			certs := tc2.ConnectionState().PeerCertificates
			peer = certs[0].Raw
			sum := sha256.Sum256(peer)
			if got := hex.EncodeToString(sum[:]); got != s.Fingerprint {
				t.Errorf("Fingerprint %s, server presents %s", s.Fingerprint, got)
			}
			roots := tlsConfig(t, s.CAFile).RootCAs
			_, err = certs[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: Hostname})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("good certificate does not verify: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("verification error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.wantErr == "" {
				for _, name := range []string{"localhost", "127.0.0.1"} {
					if err := certs[0].VerifyHostname(name); err != nil {
						t.Errorf("good certificate not valid for %s: %v", name, err)
					}
				}
			}
		})
	}
}

func TestUnknownCertKindIsRefused(t *testing.T) {
	Require(t)
	if _, err := StartProcess(Options{CertKind: "bogus"}); err == nil || !strings.Contains(err.Error(), "CertKind") {
		t.Fatalf("StartProcess with CertKind bogus: %v, want an error naming CertKind", err)
	}
}

func TestTwoInstancesRunAtOnceAndCaptureSeparately(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{Users: users()})
	b := Start(t, Options{Users: users()})
	if a.SubmissionAddr == b.SubmissionAddr || a.Dir == b.Dir || a.CaptureDir == b.CaptureDir {
		t.Fatalf("instances share ports or directories: %+v %+v", a, b)
	}
	for i, s := range []*Server{a, b} {
		c := session(t, s, "client.gsendmail.test")
		c.must(250, "MAIL FROM:<%s>", testUser)
		c.must(250, "RCPT TO:<to%d@example.org>", i)
		if code, msg := c.data(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)); code != 250 {
			t.Fatalf("end of DATA: %d %s", code, msg)
		}
	}
	for i, s := range []*Server{a, b} {
		ds := s.WaitDeliveries(t, 1, 30*time.Second)
		if len(ds) != 1 || ds[0].Recipients[0] != fmt.Sprintf("to%d@example.org", i) {
			t.Errorf("instance %d captured %+v", i, ds)
		}
	}
}

func TestStopEndsDaemonsAndRemovesTheDirectory(t *testing.T) {
	Require(t)
	s, err := StartProcess(Options{Users: users()})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.masterPID()
	if pid == 0 || !alive(pid) {
		t.Fatalf("postfix master not running after start (pid %d)", pid)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("postfix master %d still alive after Stop", pid)
	}
	if ps := findProcs("dovecot-" + filepath.Base(s.Dir) + "/"); len(ps) != 0 {
		t.Errorf("dovecot processes %v still alive after Stop", ps)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("instance directory %s still exists after Stop: %v", s.Dir, err)
	}
	if _, err := net.DialTimeout("tcp", s.SubmissionAddr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after Stop", s.SubmissionAddr)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func containsWord(text, word string) bool {
	for _, f := range strings.Fields(text) {
		if f == word {
			return true
		}
	}
	return false
}

func TestOrphanedInstanceIsStoppedAndRemovedByTheNextStart(t *testing.T) {
	Require(t)
	s, err := StartProcess(Options{Users: users()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	pid := s.masterPID()
	if pid == 0 {
		t.Fatal("no master pid")
	}
	// Pretend the owning test binary was killed: no process has pid 0x7fffffff.
	if err := os.WriteFile(filepath.Join(s.Dir, ownerFile), []byte("2147483647 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	live := Start(t, Options{}) // an instance with a live owner must survive
	reapOrphans(filepath.Dir(s.Dir))
	if alive(pid) {
		t.Errorf("orphan's postfix master %d still alive", pid)
	}
	if ps := findProcsWithArg(s.l.dovecotCfg); len(ps) != 0 {
		t.Errorf("orphan's dovecot %v still alive", ps)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("orphan directory %s still exists: %v", s.Dir, err)
	}
	if p := live.masterPID(); p == 0 || !alive(p) {
		t.Errorf("instance with a live owner was reaped")
	}
}
