package serve

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestDataReplyMapsRelayErrors(t *testing.T) {
	// As submit returns upstream errors: with the account, explained.
	wrap := func(err error) error {
		return outcome.Explain(fmt.Errorf("account \"a\" (h:587): %w", err))
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"upstream end of data 5xx", wrap(&smtp.Error{Command: smtp.CmdEndOfData, Code: 554, EnhancedCode: "5.7.1", Message: "spam"}), "554 5.7.1 upstream: spam"},
		{"upstream rcpt 4xx", wrap(&smtp.Error{Command: "RCPT TO:<x@y>", Code: 450, EnhancedCode: "4.2.1", Message: "try later"}), "450 4.2.1 upstream: try later"},
		{"upstream 421 is not a close", wrap(&smtp.Error{Command: "MAIL FROM:<x@y>", Code: 421, EnhancedCode: "4.7.0", Message: "too many"}), "451 4.7.0 upstream: too many"},
		{"missing enhanced code", wrap(&smtp.Error{Command: "DATA", Code: 554, Message: "no"}), "554 5.0.0 upstream: no"},
		{"wrong-class enhanced code", wrap(&smtp.Error{Command: "DATA", Code: 554, EnhancedCode: "4.1.1", Message: "no"}), "554 5.0.0 upstream: no"},
		{"ehlo refused is ours", wrap(&smtp.Error{Command: "EHLO yoga", Code: 550, EnhancedCode: "5.5.0", Message: "Invalid HeloHost"}), "451 4.3.5 "},
		{"auth refused", wrap(&smtp.AuthError{Reply: &smtp.Error{Command: "AUTH PLAIN", Code: 535, EnhancedCode: "5.7.8", Message: "bad"}, Mechanism: "PLAIN"}), "454 4.7.0 "},
		{"network", sysexits.New(sysexits.TempFail, errors.New("dial tcp: connection refused")), "451 4.4.1 "},
		{"tls", sysexits.New(sysexits.Protocol, errors.New("x509: certificate signed by unknown authority")), "451 4.4.0 "},
		{"invalid_grant", sysexits.New(sysexits.NoPerm, errors.New("run gsendmail auth login a")), "454 4.7.0 "},
		{"config", sysexits.New(sysexits.Config, errors.New("bad key")), "451 4.3.5 "},
		{"message", sysexits.New(sysexits.DataErr, errors.New("header too big")), "554 5.6.0 "},
	} {
		r := DataReply(tc.err)
		got := fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q...", tc.name, got, tc.want)
		}
		if strings.ContainsAny(r.Message, "\r\n") || len(r.Message) > maxReplyText {
			t.Errorf("%s: reply text not one bounded line: %q", tc.name, r.Message)
		}
	}
}

func TestSanitizeKeepsOneBoundedLine(t *testing.T) {
	s := Sanitize("a\r\nb\x00c\t d " + strings.Repeat("é", 400))
	if strings.ContainsAny(s, "\r\n\x00\t") || len(s) > maxReplyText || !strings.HasPrefix(s, "a b c d é") {
		t.Errorf("Sanitize: %q", s)
	}
	if !strings.HasSuffix(s, "é") {
		t.Errorf("cut inside a rune: %q", s[len(s)-4:])
	}
}

func TestBareLocalNamesAreQualifiedOnlyInCommands(t *testing.T) {
	for in, want := range map[string]string{
		"RCPT TO:<root>\r\n":              "RCPT TO:<root" + localMarker + ">\r\n",
		"MAIL FROM:<cron> SIZE=10\r\n":    "MAIL FROM:<cron" + localMarker + "> SIZE=10\r\n",
		"rcpt to: <root>\r\n":             "rcpt to: <root" + localMarker + ">\r\n",
		"RCPT TO:<a@b.example>\r\n":       "RCPT TO:<a@b.example>\r\n",
		"MAIL FROM:<>\r\n":                "MAIL FROM:<>\r\n",
		"RCPT TO:<\"q u\"@b.example>\r\n": "RCPT TO:<\"q u\"@b.example>\r\n",
	} {
		if got := string(qualifyBare([]byte(in))); got != want {
			t.Errorf("qualifyBare(%q) = %q, want %q", in, got, want)
		}
	}
	c := &filterConn{}
	c.feed([]byte("DATA\r\nRCPT TO:<root>\r\n.\r\nBDAT 16\r\nRCPT TO:<root>\r\nRCPT TO:<root>\r\n"))
	got := string(c.in)
	want := "DATA\r\nRCPT TO:<root>\r\n.\r\nBDAT 16\r\nRCPT TO:<root>\r\nRCPT TO:<root" + localMarker + ">\r\n"
	if got != want {
		t.Errorf("message content was rewritten:\n got %q\nwant %q", got, want)
	}
}
