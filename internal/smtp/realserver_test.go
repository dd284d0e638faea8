package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// TestPipelinedAuthPlainWithRealPostfixThatForbidsUnauthPipelining runs
// the pipelined AUTH PLAIN against real Postfix + Dovecot with
// smtpd_forbid_unauth_pipelining = yes (the default from Postfix 3.9),
// which disconnects clients that pipeline where RFC 2920 / RFC 4954 do
// not allow it: the message must arrive, and a wrong password must be a
// 535 *AuthError with the conversation still in step.
func TestPipelinedAuthPlainWithRealPostfixThatForbidsUnauthPipelining(t *testing.T) {
	mailserver.Require(t)
	const user, pass = "pipe@gsendmail.test", "pipelined-Pa55"
	s := mailserver.Start(t, mailserver.Options{
		Users:     map[string]string{user: pass},
		ExtraMain: map[string]string{"smtpd_forbid_unauth_pipelining": "yes"},
	})
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	msg := "From: " + user + "\nTo: " + user + "\nSubject: pipelined auth\n\nbody\n"

	dial := func(t *testing.T, addr string, mode TLSMode, tr *bytes.Buffer) *Client {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := Dial(ctx, Options{
			Addr:           addr,
			TLS:            mode,
			TLSConfig:      &tls.Config{ServerName: "localhost", RootCAs: pool},
			HelloName:      func(net.Addr) (string, error) { return "client.gsendmail.test", nil },
			CommandTimeout: 20 * time.Second,
			Transcript:     tr,
		})
		if err != nil {
			t.Fatalf("Dial: %v\n%s", err, s.Log())
		}
		t.Cleanup(func() { c.Close() })
		if _, ok := c.Extension("PIPELINING"); !ok {
			t.Fatal("Postfix does not offer PIPELINING; the test would not test anything")
		}
		return c
	}

	for _, tc := range []struct {
		name string
		addr string
		mode TLSMode
	}{{"starttls", s.SubmissionAddr, StartTLS}, {"implicit", s.SMTPSAddr, Implicit}} {
		t.Run(tc.name+"/accepted", func(t *testing.T) {
			var tr bytes.Buffer
			c := dial(t, tc.addr, tc.mode, &tr)
			ctx := context.Background()
			if err := c.Auth(ctx, sasl.Plain(user, pass), AuthOptions{Pipeline: true}); err != nil {
				t.Fatal(err)
			}
			subject := "pipelined auth " + tc.name
			body := strings.Replace(msg, "pipelined auth", subject, 1)
			if err := c.Send(ctx, Envelope{From: user, To: []string{user}}, strings.NewReader(body)); err != nil {
				t.Fatalf("Send: %v\n%s\n%s", err, tr.String(), s.Log())
			}
			c.Quit()
			out := tr.String()
			if !strings.Contains(out, "-> AUTH PLAIN ***\n-> MAIL FROM:<"+user+">") {
				t.Errorf("AUTH was not pipelined with MAIL:\n%s", out)
			}
			if strings.Contains(out, pass) || strings.Contains(out, b64("\x00"+user+"\x00"+pass)) {
				t.Errorf("transcript shows the password:\n%s", out)
			}
			if !waitSubject(s, subject) {
				t.Errorf("message %q was not delivered", subject)
			}
		})
		t.Run(tc.name+"/wrong password", func(t *testing.T) {
			var tr bytes.Buffer
			c := dial(t, tc.addr, tc.mode, &tr)
			ctx := context.Background()
			if err := c.Auth(ctx, sasl.Plain(user, "wrong"), AuthOptions{Pipeline: true}); err != nil {
				t.Fatal(err)
			}
			err := c.Send(ctx, Envelope{From: user, To: []string{user}}, strings.NewReader(msg))
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reply.Code != 535 || exitCode(err) != sysexits.NoPerm {
				t.Fatalf("err = %v (exit %d); want the 535 as an *AuthError, exit 77\n%s", err, exitCode(err), tr.String())
			}
			if err := c.Quit(); err != nil {
				t.Errorf("Quit after the refused pipelined AUTH: %v\n%s", err, tr.String())
			}
			if strings.Contains(s.Log(), "improper command pipelining") {
				t.Errorf("Postfix saw improper pipelining:\n%s", s.Log())
			}
		})
	}
}

// waitSubject waits for a delivery carrying subject among all so far.
func waitSubject(s *mailserver.Server, subject string) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range s.Deliveries() {
			if bytes.Contains(d.Data, []byte("Subject: "+subject)) {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
