package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Tests for AuthOptions.Pipeline: AUTH PLAIN with its initial response
// written in front of the mail transaction (RFC 4954 4).

const (
	pipeUser = "user"
	pipePass = "pipelined-secret"
)

var pipeIR = b64("\x00" + pipeUser + "\x00" + pipePass)

// pipeMsg is the message of these tests and its BDAT wire form.
const (
	pipeMsg  = "Subject: t\n\nbody\n"
	pipeWire = "Subject: t\r\n\r\nbody\r\n"
)

// dialPipelined dials the fake server and runs a pipelined AUTH PLAIN,
// which must send nothing yet.
func dialPipelined(t *testing.T, f *fakeServer, tr *bytes.Buffer) (*Client, *recConn) {
	t.Helper()
	c, rec := dialFake(t, f, func(o *Options) {
		o.AllowInsecureAuth = true
		if tr != nil {
			o.Transcript = tr
		}
	})
	before := len(rec.Writes())
	if err := c.Auth(context.Background(), sasl.Plain(pipeUser, pipePass), AuthOptions{Pipeline: true}); err != nil {
		t.Fatalf("pipelined Auth: %v", err)
	}
	if got := rec.Writes()[before:]; len(got) != 0 {
		t.Fatalf("pipelined Auth wrote before the transaction: %q", got)
	}
	return c, rec
}

func pipeEnv(to ...string) Envelope { return Envelope{From: "a@example.org", To: to} }

// hasWrite reports whether want went out as one write.
func hasWrite(rec *recConn, want string) bool {
	for _, w := range rec.Writes() {
		if w == want {
			return true
		}
	}
	return false
}

func TestPipelinedAuthPlainTravelsWithMailRcptAndBDATInOneWrite(t *testing.T) {
	bdat := fmt.Sprintf("BDAT %d LAST", len(pipeWire))
	script := concat(ehloScript("AUTH PLAIN LOGIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: " + bdat,
		"RAW: " + pipeWire,
		"S: 235 2.7.0 ok\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as P1",
		"C: QUIT",
		"EOF",
	})
	f := startFake(t, script, nil)
	var tr bytes.Buffer
	c, rec := dialPipelined(t, f, &tr)
	if err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg)); err != nil {
		t.Fatal(err)
	}
	if got := c.LastReply(); got != "2.0.0 queued as P1" {
		t.Errorf("LastReply = %q", got)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	f.wait(t)
	want := "AUTH PLAIN " + pipeIR + "\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n" + bdat + "\r\n" + pipeWire
	if !hasWrite(rec, want) {
		t.Errorf("AUTH, MAIL, RCPT, BDAT and the message were not one write; writes: %q", rec.Writes())
	}
	out := tr.String()
	if strings.Contains(out, pipeIR) || strings.Contains(out, pipePass) {
		t.Errorf("transcript shows the credentials:\n%s", out)
	}
	if i, j := strings.Index(out, "-> AUTH PLAIN ***\n"), strings.Index(out, "-> MAIL FROM:<a@example.org>\n"); i < 0 || j < i {
		t.Errorf("transcript lacks \"-> AUTH PLAIN ***\" before MAIL:\n%s", out)
	}
}

func TestPipelinedAuthRefusedConsumesEveryReplyAndSendsNothing(t *testing.T) {
	bdat := fmt.Sprintf("BDAT %d LAST", len(pipeWire))
	tests := []struct {
		name    string
		to      []string
		lines   []string // client lines after AUTH
		raw     string   // message bytes in the group, if any
		replies string   // the server's replies to AUTH and the lines
		code    int
		authMsg string
	}{
		{
			name:    "535 with BDAT LAST",
			to:      []string{"b@example.net"},
			lines:   []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", bdat},
			raw:     pipeWire,
			replies: "535 5.7.8 Error: authentication failed\r\n530 5.7.0 Authentication required\r\n503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command",
			code:    sysexits.NoPerm,
			authMsg: "535 5.7.8 Error: authentication failed",
		},
		{
			name:    "454 with BDAT LAST",
			to:      []string{"b@example.net"},
			lines:   []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", bdat},
			raw:     pipeWire,
			replies: "454 4.7.0 Temporary authentication failure\r\n530 5.7.0 Authentication required\r\n503 5.5.1 need MAIL\r\n554 5.5.1 no valid recipients",
			code:    sysexits.TempFail,
			authMsg: "454 4.7.0 Temporary authentication failure",
		},
		{
			// A server that does not require AUTH: MAIL and RCPT
			// pass, and no message chunk may follow.
			name:    "535 with several recipients, envelope accepted",
			to:      []string{"b@example.net", "c@example.net"},
			lines:   []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "RCPT TO:<c@example.net>"},
			replies: "535 5.7.8 no\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok",
			code:    sysexits.NoPerm,
			authMsg: "535 5.7.8 no",
		},
		{
			name:    "535 with DATA refused",
			to:      []string{"b@example.net"},
			lines:   []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA"},
			replies: "535 5.7.8 no\r\n530 5.7.0 Authentication required\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT",
			code:    sysexits.NoPerm,
			authMsg: "535 5.7.8 no",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps := []string{"AUTH PLAIN", "PIPELINING", "CHUNKING"}
			if tt.lines[len(tt.lines)-1] == "DATA" {
				caps = caps[:2]
			}
			script := concat(ehloScript(caps...), []string{"C: AUTH PLAIN " + pipeIR})
			for _, l := range tt.lines {
				script = append(script, "C: "+l)
			}
			if tt.raw != "" {
				script = append(script, "RAW: "+tt.raw)
			}
			// The replies, then a QUIT that must get its 221: the
			// conversation is still in step.
			script = append(script, "S: "+tt.replies, "C: QUIT", "S: 221 2.0.0 bye", "EOF")
			f := startFake(t, script, nil)
			c, _ := dialPipelined(t, f, nil)
			err := c.Send(context.Background(), pipeEnv(tt.to...), strings.NewReader(pipeMsg))
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Mechanism != "PLAIN" {
				t.Fatalf("err = %v; want an *AuthError for PLAIN", err)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			if !strings.Contains(err.Error(), "AUTH PLAIN: "+tt.authMsg) {
				t.Errorf("error %q does not carry the AUTH reply %q", err, tt.authMsg)
			}
			if strings.Contains(err.Error(), pipeIR) || strings.Contains(err.Error(), pipePass) {
				t.Errorf("error leaks the credentials: %v", err)
			}
			if c.LastReply() != "" {
				t.Errorf("LastReply = %q after a refusal", c.LastReply())
			}
			if err := c.Quit(); err != nil {
				t.Errorf("Quit after the refused AUTH: %v (conversation out of step?)", err)
			}
			f.wait(t)
		})
	}
}

func TestPipelinedAuthRefusedThenServerHangsUpIsStillTheAuthRefusal(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		fmt.Sprintf("C: BDAT %d LAST", len(pipeWire)),
		"RAW: " + pipeWire,
		"S: 535 5.7.8 bad credentials, goodbye",
		// The script ends: the server closes the connection.
	})
	f := startFake(t, script, nil)
	c, _ := dialPipelined(t, f, nil)
	err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg))
	var ae *AuthError
	if !errors.As(err, &ae) || exitCode(err) != sysexits.NoPerm {
		t.Fatalf("err = %v (exit %d); want the 535 as an *AuthError, exit 77, not a network error", err, exitCode(err))
	}
	f.wait(t)
}

func TestPipelinedAuthRefusedButMessageAcceptedIsSuccess(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		fmt.Sprintf("C: BDAT %d LAST", len(pipeWire)),
		"RAW: " + pipeWire,
		// A server that does not insist on AUTH from this client.
		"S: 535 5.7.8 no\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as ANYWAY",
		"C: QUIT",
		"EOF",
	})
	f := startFake(t, script, nil)
	var tr bytes.Buffer
	c, _ := dialPipelined(t, f, &tr)
	if err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg)); err != nil {
		t.Fatalf("the server accepted the message, yet Send failed: %v", err)
	}
	if got := c.LastReply(); got != "2.0.0 queued as ANYWAY" {
		t.Errorf("LastReply = %q", got)
	}
	if !strings.Contains(tr.String(), "AUTH was refused but the server accepted the message") {
		t.Errorf("transcript does not say the AUTH was refused:\n%s", tr.String())
	}
	c.Quit()
	f.wait(t)
}

func TestPipelinedAuthWithDATAGoesInOneWriteAndThenSendsTheMessage(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: DATA",
		"S: 235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n354 go ahead",
		"RAW: " + pipeWire + ".\r\n",
		"S: 250 2.0.0 queued as D1",
	})
	f := startFake(t, script, nil)
	c, rec := dialPipelined(t, f, nil)
	if err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	want := "AUTH PLAIN " + pipeIR + "\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
	if !hasWrite(rec, want) {
		t.Errorf("AUTH, MAIL, RCPT and DATA were not one write; writes: %q", rec.Writes())
	}
}

func TestPipelinedAuthRefusedWith354ClosesWithoutSendingTheMessage(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: DATA",
		// Ready for the message although AUTH failed.
		"S: 535 5.7.8 no\r\n250 ok\r\n250 ok\r\n354 go ahead",
		"EOF", // not one byte of the message, and no final dot
	})
	f := startFake(t, script, nil)
	c, _ := dialPipelined(t, f, nil)
	err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg))
	var ae *AuthError
	if !errors.As(err, &ae) || exitCode(err) != sysexits.NoPerm {
		t.Fatalf("err = %v; want the AUTH refusal, exit 77", err)
	}
	f.wait(t)
}

func TestAuthWaitsForItsReplyWhenItMayNotBePipelined(t *testing.T) {
	long := strings.Repeat("p", 400) // PLAIN initial response beyond 512 octets
	tests := []struct {
		name   string
		caps   []string
		mech   sasl.Client
		opts   AuthOptions
		script []string
	}{
		{"no PIPELINING", []string{"AUTH PLAIN", "CHUNKING"}, sasl.Plain(pipeUser, pipePass), AuthOptions{Pipeline: true},
			[]string{"C: AUTH PLAIN " + pipeIR}},
		{"LOGIN", []string{"AUTH LOGIN", "PIPELINING", "CHUNKING"}, sasl.Login(pipeUser, pipePass), AuthOptions{Pipeline: true},
			[]string{"C: AUTH LOGIN " + b64(pipeUser)}},
		{"XOAUTH2", []string{"AUTH XOAUTH2", "PIPELINING", "CHUNKING"}, sasl.XOAUTH2("u@x", "tok"), AuthOptions{Pipeline: true},
			[]string{"C: AUTH XOAUTH2 " + b64("user=u@x\x01auth=Bearer tok\x01\x01")}},
		{"OAUTHBEARER", []string{"AUTH OAUTHBEARER", "PIPELINING"}, sasl.OAuthBearer("u@x", "tok", "", 0), AuthOptions{Pipeline: true},
			[]string{"C: AUTH OAUTHBEARER " + b64("n,a=u@x,\x01auth=Bearer tok\x01\x01")}},
		{"PLAIN two-step", []string{"AUTH PLAIN", "PIPELINING"}, sasl.Plain(pipeUser, pipePass), AuthOptions{Pipeline: true, TwoStep: true},
			[]string{"C: AUTH PLAIN", "S: 334 ", "C: " + pipeIR}},
		{"PLAIN too long for the line", []string{"AUTH PLAIN", "PIPELINING"}, sasl.Plain(pipeUser, long), AuthOptions{Pipeline: true},
			[]string{"C: AUTH PLAIN", "S: 334 ", "C: " + b64("\x00"+pipeUser+"\x00"+long)}},
		{"Pipeline not asked for", []string{"AUTH PLAIN", "PIPELINING", "CHUNKING"}, sasl.Plain(pipeUser, pipePass), AuthOptions{},
			[]string{"C: AUTH PLAIN " + pipeIR}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The refusal arrives before any MAIL is written, and Auth
			// itself reports it.
			script := concat(ehloScript(tt.caps...), tt.script, []string{"S: 535 5.7.8 no", "EOF"})
			f := startFake(t, script, nil)
			c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
			err := c.Auth(context.Background(), tt.mech, tt.opts)
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reply.Code != 535 {
				t.Fatalf("Auth = %v; want it to wait for and return the 535", err)
			}
			c.Close()
			f.wait(t)
		})
	}
}

func TestPendingAuthIsAnsweredBeforeResetCheckAndQuit(t *testing.T) {
	tests := []struct {
		name   string
		script []string
		run    func(*Client) error
		want   int // exit code of run's error; 0 for none
	}{
		{"Reset", []string{"C: AUTH PLAIN " + pipeIR, "S: 235 ok", "C: RSET", "S: 250 ok"},
			func(c *Client) error { return c.Reset(context.Background()) }, 0},
		{"Reset after refusal sends no RSET", []string{"C: AUTH PLAIN " + pipeIR, "S: 535 5.7.8 no"},
			func(c *Client) error { return c.Reset(context.Background()) }, sysexits.NoPerm},
		{"CheckEnvelope", []string{"C: AUTH PLAIN " + pipeIR, "S: 235 ok", "C: MAIL FROM:<a@example.org>", "S: 250 ok", "C: RCPT TO:<b@example.net>", "S: 250 ok", "C: RSET", "S: 250 ok"},
			func(c *Client) error { return c.CheckEnvelope(context.Background(), pipeEnv("b@example.net")) }, 0},
		{"Quit with AUTH in the same write", []string{"C: AUTH PLAIN " + pipeIR, "C: QUIT", "S: 535 5.7.8 no\r\n221 bye"},
			func(c *Client) error { return c.Quit() }, sysexits.NoPerm},
		{"Quit", []string{"C: AUTH PLAIN " + pipeIR, "C: QUIT", "S: 235 ok\r\n221 bye"},
			func(c *Client) error { return c.Quit() }, 0},
		{"Close sends nothing", nil,
			func(c *Client) error { return c.Close() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), tt.script, []string{"EOF"})
			f := startFake(t, script, nil)
			c, _ := dialPipelined(t, f, nil)
			err := tt.run(c)
			if got := exitCode(err); (tt.want == 0 && err != nil) || (tt.want != 0 && got != tt.want) {
				t.Errorf("err = %v (exit %d), want exit %d", err, got, tt.want)
			}
			c.Close()
			f.wait(t)
		})
	}
}

func TestPendingAuthSurvivesAnEnvelopeRefusedBeforeSending(t *testing.T) {
	bdat := fmt.Sprintf("BDAT %d LAST", len(pipeWire))
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: " + bdat,
		"RAW: " + pipeWire,
		"S: 235 ok\r\n250 ok\r\n250 ok\r\n250 queued",
	})
	f := startFake(t, script, nil)
	c, _ := dialPipelined(t, f, nil)
	if err := c.Send(context.Background(), pipeEnv("bad\r\nRCPT TO:<x@y>"), strings.NewReader(pipeMsg)); exitCode(err) != sysexits.DataErr {
		t.Fatalf("injected recipient: err = %v", err)
	}
	if err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestPipelinedAuthAnswered334IsAProtocolErrorAndClosesTheConnection(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		fmt.Sprintf("C: BDAT %d LAST", len(pipeWire)),
		"RAW: " + pipeWire,
		"S: 334 ",
		"EOF",
	})
	f := startFake(t, script, nil)
	c, _ := dialPipelined(t, f, nil)
	err := c.Send(context.Background(), pipeEnv("b@example.net"), strings.NewReader(pipeMsg))
	if exitCode(err) != sysexits.Protocol || !strings.Contains(err.Error(), "334") {
		t.Fatalf("err = %v (exit %d); want a protocol error naming the 334", err, exitCode(err))
	}
	f.wait(t)
}

func TestPipelinedAuthWithSeveralRecipientsGoesWithMailAndRcpt(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN", "PIPELINING", "CHUNKING"), []string{
		"C: AUTH PLAIN " + pipeIR,
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: RCPT TO:<c@example.net>",
		"S: 235 ok\r\n250 ok\r\n250 ok\r\n250 ok",
		fmt.Sprintf("C: BDAT %d LAST", len(pipeWire)),
		"RAW: " + pipeWire,
		"S: 250 queued",
	})
	f := startFake(t, script, nil)
	c, rec := dialPipelined(t, f, nil)
	if err := c.Send(context.Background(), pipeEnv("b@example.net", "c@example.net"), strings.NewReader(pipeMsg)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	want := "AUTH PLAIN " + pipeIR + "\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
	if !hasWrite(rec, want) {
		t.Errorf("AUTH, MAIL and the RCPTs were not one write; writes: %q", rec.Writes())
	}
}
