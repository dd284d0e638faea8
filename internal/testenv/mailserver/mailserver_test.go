package mailserver

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"os"
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

var _ = bufio.NewReader

func TestSubmissionAcceptsAuthPlainAfterSTARTTLSAndCapturesMessage(t *testing.T) {
	s := Start(t, Options{Users: map[string]string{testUser: testPass}})
	c := dial(t, s.SubmissionAddr, false, s.CAFile)
	c.must(250, "EHLO client.gsendmail.test")
	c.starttls(s.CAFile)
	c.must(250, "EHLO client.gsendmail.test")
	if code, msg := c.authPlain(testUser, testPass); code != 235 {
		t.Fatalf("AUTH PLAIN: %d %s", code, msg)
	}
	c.must(250, "MAIL FROM:<%s>", testUser)
	c.must(250, "RCPT TO:<bob@example.org>")
	c.must(250, "RCPT TO:<carol@elsewhere.test>")
	c.must(354, "DATA")
	msg := "Subject: hi\r\nBcc: hidden@example.org\r\n\r\nline one\r\n..dot\r\n"
	if _, err := c.tp.W.WriteString(msg + ".\r\n"); err != nil {
		t.Fatal(err)
	}
	c.tp.W.Flush()
	c.expect(250)
	c.must(221, "QUIT")
	ds := s.WaitDeliveries(t, 1, 20*time.Second)
	d := ds[0]
	t.Logf("%q %q %q", d.Sender, d.Recipients, d.Data)
}
