package smtp

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCheckEnvelopeSendsMailRcptThenRsetAndNoData(t *testing.T) {
	script := concat(ehloScript("PIPELINING", "SIZE 1000"), []string{
		"C: MAIL FROM:<a@example.org>",
		"S: 250 2.1.0 ok",
		"C: RCPT TO:<b@example.net>",
		"S: 250 2.1.5 ok",
		"C: RSET",
		"S: 250 2.0.0 ok",
		"C: QUIT",
		"S: 221 bye",
		"EOF",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	if err := c.CheckEnvelope(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}, Size: 5000}); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	f.wait(t)
}

func TestCheckEnvelopeReportsDelayedHeloRefusalAtRcptAndStillResets(t *testing.T) {
	script := concat(ehloScript(), []string{
		"C: MAIL FROM:<a@example.org>",
		"S: 250 2.1.0 ok",
		"C: RCPT TO:<b@example.net>",
		"S: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
		"C: RSET",
		"S: 250 2.0.0 ok",
		"C: QUIT",
		"S: 221 bye",
		"EOF",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	err := c.CheckEnvelope(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}})
	var se *Error
	if !errors.As(err, &se) || se.Code != 504 || !strings.Contains(se.Command, "RCPT") {
		t.Fatalf("err = %v, want the 504 to RCPT", err)
	}
	c.Quit()
	f.wait(t)
}
