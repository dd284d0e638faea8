package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// dial connects to the fake server with default fake options.
func dialFake(t *testing.T, f *fakeServer, mod func(*Options)) (*Client, *recConn) {
	t.Helper()
	var rec *recConn
	o := fakeOptions(f.addr, &rec)
	if mod != nil {
		mod(&o)
	}
	c, err := Dial(context.Background(), o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

func TestSendWithoutPipeliningSendsOneCommandPerWrite(t *testing.T) {
	script := concat(ehloScript("SIZE 1000000", "8BITMIME"), []string{
		"C: MAIL FROM:<a@example.org> SIZE=12",
		"S: 250 2.1.0 ok",
		"C: RCPT TO:<b@example.net>",
		"S: 250 2.1.5 ok",
		"C: DATA",
		"S: 354 go ahead",
		"C: Subject: x",
		"C: ",
		"C: hi",
		"C: .",
		"S: 250 2.0.0 queued as ABC",
		"C: QUIT",
		"EOF",
	})
	f := startFake(t, script, nil)
	c, rec := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}, Size: 12}, strings.NewReader("Subject: x\n\nhi"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.LastReply(); got != "2.0.0 queued as ABC" {
		t.Errorf("LastReply = %q", got)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	f.wait(t)
	for _, w := range rec.Writes() {
		if strings.Count(w, "\r\n") > 1 && !strings.HasPrefix(w, "Subject") {
			t.Errorf("without PIPELINING, a write held several commands: %q", w)
		}
	}
}

func TestPipeliningSendsMailRcptAndDataInOneWrite(t *testing.T) {
	script := concat(ehloScript("PIPELINING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: RCPT TO:<c@example.net>",
		"C: DATA",
		"S: 250 ok\r\n250 ok\r\n250 ok\r\n354 go",
		"C: x",
		"C: .",
		"S: 250 queued",
	})
	f := startFake(t, script, nil)
	c, rec := dialFake(t, f, nil)
	if err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net", "c@example.net"}}, strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	want := "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n"
	found := false
	for _, w := range rec.Writes() {
		if w == want {
			found = true
		}
	}
	if !found {
		t.Errorf("MAIL, RCPTs and DATA were not one write; writes: %q", rec.Writes())
	}
}

func TestDataIsDotStuffedWithBareLFConvertedAndNothingElseChanged(t *testing.T) {
	msg := "Subject: dots\n\n.leading dot\r\n..two\nmid.dot\n.\nlast line without newline"
	script := concat(ehloScript(), []string{
		"C: MAIL FROM:<>",
		"S: 250 ok",
		"C: RCPT TO:<b@example.net>",
		"S: 250 ok",
		"C: DATA",
		"S: 354 go",
		"RAW: Subject: dots\r\n\r\n..leading dot\r\n...two\r\nmid.dot\r\n..\r\nlast line without newline\r\n.\r\n",
		"S: 250 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	if err := c.Send(context.Background(), Envelope{From: "", To: []string{"b@example.net"}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestRefusedRecipientSendsNoDataAndNamesTheRecipient(t *testing.T) {
	script := concat(ehloScript("PIPELINING", "ENHANCEDSTATUSCODES"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<good@example.net>",
		"C: RCPT TO:<bad@example.net>",
		"C: DATA",
		"S: 250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 user unknown\r\n554 5.5.1 no valid recipients",
		// No message bytes were sent; an explicit Reset ends the transaction.
		"C: RSET",
		"S: 250 ok",
		"C: QUIT",
		"S: 221 bye",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"good@example.net", "bad@example.net"}}, strings.NewReader("x\n"))
	var se *Error
	if !errors.As(err, &se) || se.Command != "RCPT TO:<bad@example.net>" || se.Code != 550 || se.EnhancedCode != "5.1.1" {
		t.Fatalf("err = %v; want the refusal of bad@example.net", err)
	}
	if !strings.Contains(err.Error(), "server refused RCPT TO:<bad@example.net>: 550 5.1.1 user unknown") {
		t.Errorf("message = %q", err)
	}
	if exitCode(err) != sysexits.Unavailable {
		t.Errorf("exit code %d, want %d", exitCode(err), sysexits.Unavailable)
	}
	// A second Send on the connection first resets the transaction.
	err = c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"x\n@y"}}, strings.NewReader(""))
	if exitCode(err) != sysexits.DataErr {
		t.Fatalf("injection: %v", err)
	}
	if err := c.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit after failure: %v", err)
	}
	f.wait(t)
}

func TestRefusedRecipientAfterPipelined354ClosesWithoutFinalDot(t *testing.T) {
	script := concat(ehloScript("PIPELINING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<bad@example.net>",
		"C: DATA",
		// A broken server that says 354 although no recipient is valid.
		"S: 250 ok\r\n550 no\r\n354 go",
		"EOF",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"bad@example.net"}}, strings.NewReader("secret body\n"))
	if err == nil || !strings.Contains(err.Error(), "bad@example.net") {
		t.Fatalf("err = %v", err)
	}
	f.wait(t)
}

func TestSeveralRefusedRecipientsAreAllNamedAndTemporaryOnlyIfAllAre(t *testing.T) {
	tests := []struct {
		name    string
		replies string
		code    int
	}{
		{"all temporary", "450 busy\r\n451 later", sysexits.TempFail},
		{"one permanent", "450 busy\r\n550 unknown", sysexits.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := concat(ehloScript(), []string{
				"C: MAIL FROM:<a@example.org>", "S: 250 ok",
				"C: RCPT TO:<x@example.net>", "S: " + strings.Split(tt.replies, "\r\n")[0],
				"C: RCPT TO:<y@example.net>", "S: " + strings.Split(tt.replies, "\r\n")[1],
			})
			f := startFake(t, script, nil)
			c, _ := dialFake(t, f, nil)
			err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"x@example.net", "y@example.net"}}, strings.NewReader("x\n"))
			var re *RecipientsError
			if !errors.As(err, &re) || len(re.Refused) != 2 {
				t.Fatalf("err = %v", err)
			}
			for _, who := range []string{"x@example.net", "y@example.net"} {
				if !strings.Contains(err.Error(), who) {
					t.Errorf("%q not named in %q", who, err)
				}
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			f.wait(t)
		})
	}
}

func TestBDATLastIsPipelinedWithMailAndRcptInOneWrite(t *testing.T) {
	body := "Subject: b\n\n.dot not stuffed\n"
	wire := "Subject: b\r\n\r\n.dot not stuffed\r\n"
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: BDAT 32 LAST",
		"RAW: " + wire,
		"S: 250 ok\r\n250 ok\r\n250 queued",
	})
	if len(wire) != 32 {
		t.Fatalf("test setup: wire size %d", len(wire))
	}
	f := startFake(t, script, nil)
	c, rec := dialFake(t, f, nil)
	if err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	want := "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 32 LAST\r\n" + wire
	ws := rec.Writes()
	if ws[len(ws)-1] != want {
		t.Errorf("last write = %q, want the whole transaction %q", ws[len(ws)-1], want)
	}
}

func TestBDATWithSeveralRecipientsChecksThemBeforeSendingChunks(t *testing.T) {
	big := strings.Repeat("0123456789abcde\n", bdatChunk/17+100) // one full chunk on the wire and a bit
	wire := strings.ReplaceAll(big, "\n", "\r\n")
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: RCPT TO:<c@example.net>",
		"S: 250 ok\r\n250 ok\r\n250 ok",
		fmt.Sprintf("C: BDAT %d", bdatChunk),
		"RAW: " + wire[:bdatChunk],
		"S: 250 more",
		fmt.Sprintf("C: BDAT %d LAST", len(wire)-bdatChunk),
		"RAW: " + wire[bdatChunk:],
		"S: 250 queued",
	})
	if len(wire) <= bdatChunk || len(wire) > 2*bdatChunk {
		t.Fatalf("test setup: %d bytes on the wire", len(wire))
	}
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	if err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net", "c@example.net"}}, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

// The chunks are pipelined one deep, so the chunk after a refused one is
// already sent; its reply must be read too, so that the connection is in
// step for the RSET that starts the next transaction.
func TestBDATChunkRefusedMidMessageReportsItAndKeepsTheConnectionInStep(t *testing.T) {
	msg := strings.Repeat("z", 3*bdatChunk)
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"S: 250 ok\r\n250 ok",
		fmt.Sprintf("C: BDAT %d", bdatChunk),
		"RAW: " + msg[:bdatChunk],
		fmt.Sprintf("C: BDAT %d", bdatChunk),
		"RAW: " + msg[bdatChunk:2*bdatChunk],
		"S: 452 4.3.1 out of queue space\r\n503 5.5.1 no transaction",
		"C: RSET",
		"S: 250 reset",
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: BDAT 3 LAST",
		"RAW: x\r\n",
		"S: 250 ok\r\n250 ok\r\n250 queued",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	env := Envelope{From: "a@example.org", To: []string{"b@example.net"}}
	err := c.Send(context.Background(), env, strings.NewReader(msg))
	var se *Error
	if !errors.As(err, &se) || se.Code != 452 || se.Command != fmt.Sprintf("BDAT %d", bdatChunk) {
		t.Fatalf("err = %#v, want the 452 to the first BDAT", err)
	}
	if err := c.Send(context.Background(), env, strings.NewReader("x")); err != nil {
		t.Fatalf("next Send on the same connection: %v", err)
	}
	f.wait(t)
}

func TestBDATRefusedSingleRecipientReportsTheRecipient(t *testing.T) {
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"C: BDAT 3 LAST",
		"RAW: x\r\n",
		"S: 250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}}, strings.NewReader("x"))
	var se *Error
	if !errors.As(err, &se) || se.Command != "RCPT TO:<b@example.net>" {
		t.Fatalf("err = %v", err)
	}
	f.wait(t)
}

func TestBDATLargeSingleRecipientMessageIsChunkedAfterEnvelope(t *testing.T) {
	msg := strings.Repeat("y", smallMessage+10)
	// chunksScript (sized_test.go): the chunks are pipelined one deep,
	// the reply to a chunk comes after the next chunk was sent.
	f := startFake(t, chunksScript(msg+"\r\n"), nil)
	c, _ := dialFake(t, f, nil)
	if err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestDisableChunkingUsesDATA(t *testing.T) {
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>", "C: RCPT TO:<b@example.net>", "C: DATA",
		"S: 250 ok\r\n250 ok\r\n354 go",
		"C: x", "C: .", "S: 250 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.DisableChunking = true })
	if err := c.Send(context.Background(), Envelope{From: "a@example.org", To: []string{"b@example.net"}}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestMailAndRcptParametersFollowAdvertisedExtensions(t *testing.T) {
	tests := []struct {
		name       string
		caps       []string
		env        Envelope
		mail, rcpt string
	}{
		{
			name: "nothing advertised sends no parameters",
			env:  Envelope{From: "a@x.org", To: []string{"b@y.org"}, Size: 10, EightBit: true, DSNNotify: "NEVER", DSNReturn: "HDRS", EnvID: "id"},
			mail: "MAIL FROM:<a@x.org>", rcpt: "RCPT TO:<b@y.org>",
		},
		{
			name: "size, 8bitmime and dsn",
			caps: []string{"SIZE 1000", "8BITMIME", "DSN"},
			env:  Envelope{From: "a@x.org", To: []string{"b@y.org"}, Size: 10, EightBit: true, DSNNotify: "delay,failure", DSNReturn: "hdrs", EnvID: "a+b=c d"},
			mail: "MAIL FROM:<a@x.org> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=a+2Bb+3Dc+20d", rcpt: "RCPT TO:<b@y.org> NOTIFY=FAILURE,DELAY",
		},
		{
			name: "size zero is left out",
			caps: []string{"SIZE"},
			env:  Envelope{From: "a@x.org", To: []string{"b@y.org"}},
			mail: "MAIL FROM:<a@x.org>", rcpt: "RCPT TO:<b@y.org>",
		},
		{
			name: "smtputf8 for a non-ascii address",
			caps: []string{"SMTPUTF8"},
			env:  Envelope{From: "a@x.org", To: []string{"jöran@y.org"}},
			mail: "MAIL FROM:<a@x.org> SMTPUTF8", rcpt: "RCPT TO:<jöran@y.org>",
		},
		{
			name: "null sender",
			env:  Envelope{From: "", To: []string{"b@y.org"}},
			mail: "MAIL FROM:<>", rcpt: "RCPT TO:<b@y.org>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := concat(ehloScript(tt.caps...), []string{
				"C: " + tt.mail, "S: 250 ok", "C: " + tt.rcpt, "S: 250 ok", "C: DATA", "S: 354 go", "C: x", "C: .", "S: 250 ok",
			})
			f := startFake(t, script, nil)
			c, _ := dialFake(t, f, nil)
			if err := c.Send(context.Background(), tt.env, strings.NewReader("x\n")); err != nil {
				t.Fatal(err)
			}
			f.wait(t)
		})
	}
}

func TestInvalidEnvelopeIsRefusedBeforeAnythingIsSent(t *testing.T) {
	tests := []struct {
		name string
		caps []string
		env  Envelope
		code int
	}{
		{"CR in sender", nil, Envelope{From: "a@x\r\nRCPT TO:<evil@x>", To: []string{"b@y"}}, sysexits.DataErr},
		{"LF in recipient", nil, Envelope{From: "a@x", To: []string{"b@y>\nDATA"}}, sysexits.DataErr},
		{"NUL in recipient", nil, Envelope{From: "a@x", To: []string{"b\x00@y"}}, sysexits.DataErr},
		{"LF in envid", []string{"DSN"}, Envelope{From: "a@x", To: []string{"b@y"}, EnvID: "x\ny"}, sysexits.DataErr},
		{"no recipients", nil, Envelope{From: "a@x"}, sysexits.DataErr},
		{"utf8 address without SMTPUTF8", nil, Envelope{From: "a@x", To: []string{"jöran@y"}}, sysexits.DataErr},
		{"utf8 asked without SMTPUTF8", nil, Envelope{From: "a@x", To: []string{"b@y"}, UTF8: true}, sysexits.DataErr},
		{"message larger than SIZE", []string{"SIZE 100"}, Envelope{From: "a@x", To: []string{"b@y"}, Size: 101}, sysexits.Unavailable},
		{"bad notify", []string{"DSN"}, Envelope{From: "a@x", To: []string{"b@y"}, DSNNotify: "NEVER,SUCCESS"}, sysexits.Usage},
		{"bad ret", []string{"DSN"}, Envelope{From: "a@x", To: []string{"b@y"}, DSNReturn: "ALL"}, sysexits.Usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The script ends after EHLO: any command would fail it.
			f := startFake(t, append(ehloScript(tt.caps...), "EOF"), nil)
			c, _ := dialFake(t, f, nil)
			err := c.Send(context.Background(), tt.env, strings.NewReader("x\n"))
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d (%v), want %d", got, err, tt.code)
			}
			c.Close()
			f.wait(t)
		})
	}
}

func TestSMTPUTF8ErrorSaysWhatIsMissing(t *testing.T) {
	f := startFake(t, append(ehloScript(), "EOF"), nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"jöran@y"}}, strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), "server does not support SMTPUTF8 (needed for non-ASCII address)") {
		t.Errorf("err = %v", err)
	}
	c.Close()
	f.wait(t)
}

func TestEHLOUsesTheNameFromHelloNameWithTheLocalAddress(t *testing.T) {
	f := startFake(t, []string{"S: 220 hi", "C: EHLO [127.0.0.1]", "S: 250 ok"}, nil)
	var got net.Addr
	c, _ := dialFake(t, f, func(o *Options) {
		o.HelloName = func(a net.Addr) (string, error) { got = a; return addressLiteral(a), nil }
	})
	if got == nil || got.String() != c.LocalAddr().String() {
		t.Errorf("HelloName got %v, local address is %v", got, c.LocalAddr())
	}
	if c.HelloName() != "[127.0.0.1]" || c.Greeting() != "hi" {
		t.Errorf("HelloName %q Greeting %q", c.HelloName(), c.Greeting())
	}
	f.wait(t)
}

func TestEHLOFallsBackToHELOWhenServerDoesNotKnowEHLO(t *testing.T) {
	f := startFake(t, []string{
		"S: 220 old server",
		"C: EHLO client.example.org", "S: 502 command not implemented",
		"C: HELO client.example.org", "S: 250 old server",
	}, nil)
	c, _ := dialFake(t, f, nil)
	if len(c.Extensions()) != 0 {
		t.Errorf("extensions after HELO: %v", c.Extensions())
	}
	f.wait(t)
}

func TestEHLONameRefusedIsAConfigErrorNamingTheName(t *testing.T) {
	tests := []struct {
		name   string
		script []string
	}{
		{"501 on EHLO", []string{"S: 220 hi", "C: EHLO client.example.org", "S: 501 5.5.2 invalid hostname"}},
		{"504 helo rejected", []string{"S: 220 hi", "C: EHLO client.example.org", "S: 504 5.5.2 <client.example.org>: Helo command rejected: need fully-qualified hostname"}},
		{"HELO refused after fallback", []string{"S: 220 hi", "C: EHLO client.example.org", "S: 500 unknown", "C: HELO client.example.org", "S: 550 go away"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.script, nil)
			o := fakeOptions(f.addr, nil)
			_, err := Dial(context.Background(), o)
			if got := exitCode(err); got != sysexits.Config {
				t.Errorf("exit code %d (%v), want %d", got, err, sysexits.Config)
			}
			if l := line(err); !strings.Contains(l, `"client.example.org"`) || !strings.Contains(l, "ehlo_name") {
				t.Errorf("error does not name the EHLO name and the fix: %v", l)
			}
			f.wait(t)
		})
	}
}

func TestHeloRejectedAtRcptIsAConfigError(t *testing.T) {
	// Postfix with smtpd_delay_reject refuses a bad EHLO name at RCPT.
	script := concat(ehloScript(), []string{
		"C: MAIL FROM:<a@x>", "S: 250 ok",
		"C: RCPT TO:<b@y>", "S: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"b@y"}}, strings.NewReader("x"))
	if exitCode(err) != sysexits.Config || !strings.Contains(line(err), "ehlo_name") {
		t.Errorf("err = %v (code %d)", line(err), exitCode(err))
	}
	f.wait(t)
}

func TestGreetingRefusalExitCodes(t *testing.T) {
	tests := []struct {
		greeting string
		code     int
	}{
		{"421 4.3.2 too busy", sysexits.TempFail},
		{"554 5.7.1 no SMTP service for you", sysexits.Unavailable},
		{"250 wrong", sysexits.Protocol},
		{"hello", sysexits.Protocol},
	}
	for _, tt := range tests {
		t.Run(tt.greeting, func(t *testing.T) {
			f := startFake(t, []string{"S: " + tt.greeting}, nil)
			_, err := Dial(context.Background(), fakeOptions(f.addr, nil))
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d (%v), want %d", got, err, tt.code)
			}
			f.wait(t)
		})
	}
}

func TestAuthPlainSendsInitialResponseOnTheAuthLine(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN LOGIN"), []string{
		"C: AUTH PLAIN " + b64("\x00user\x00pass"),
		"S: 235 2.7.0 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	if err := c.Auth(context.Background(), sasl.Plain("user", "pass"), AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestAuthTwoStepSendsPayloadAfter334(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN XOAUTH2"), []string{
		"C: AUTH XOAUTH2",
		"S: 334 ",
		"C: " + b64("user=u@x\x01auth=Bearer tok\x01\x01"),
		"S: 235 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	if err := c.Auth(context.Background(), sasl.XOAUTH2("u@x", "tok"), AuthOptions{TwoStep: true}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestAuthInitialResponseTooLongForTheLineGoesTwoStep(t *testing.T) {
	token := strings.Repeat("t", 600)
	script := concat(ehloScript("AUTH XOAUTH2"), []string{
		"C: AUTH XOAUTH2",
		"S: 334 ",
		"C: " + b64("user=u@x\x01auth=Bearer "+token+"\x01\x01"),
		"S: 235 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	if err := c.Auth(context.Background(), sasl.XOAUTH2("u@x", token), AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestAuthLoginAnswersPasswordChallenge(t *testing.T) {
	script := concat(ehloScript("AUTH LOGIN"), []string{
		"C: AUTH LOGIN " + b64("user"),
		"S: 334 " + b64("Password:"),
		"C: " + b64("pass"),
		"S: 535 5.7.8 bad credentials",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	err := c.Auth(context.Background(), sasl.Login("user", "pass"), AuthOptions{})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Reply.Code != 535 || ae.OAuthStatus != "" || exitCode(err) != sysexits.NoPerm {
		t.Fatalf("err = %v", err)
	}
	f.wait(t)
}

func TestXOAUTH2ErrorChallengeIsAnsweredWithEmptyLineAndReportsOAuthStatus(t *testing.T) {
	challenge := `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`
	script := concat(ehloScript("AUTH XOAUTH2"), []string{
		"C: AUTH XOAUTH2 " + b64("user=u@x\x01auth=Bearer old\x01\x01"),
		"S: 334 " + b64(challenge),
		"C: ",
		"S: 535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	err := c.Auth(context.Background(), sasl.XOAUTH2("u@x", "old"), AuthOptions{})
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *AuthError", err)
	}
	if ae.OAuthStatus != "401" || ae.Reply.Code != 535 || ae.Reply.EnhancedCode != "5.7.8" || ae.Mechanism != "XOAUTH2" {
		t.Errorf("AuthError = %+v / %+v", ae, ae.Reply)
	}
	if exitCode(err) != sysexits.NoPerm {
		t.Errorf("exit code %d, want NoPerm", exitCode(err))
	}
	if strings.Contains(err.Error(), "old") || strings.Contains(err.Error(), b64("user=u@x")) {
		t.Errorf("error leaks the token: %v", err)
	}
	f.wait(t)
}

func TestOAuthBearerErrorChallengeIsAnsweredWithAQ(t *testing.T) {
	clients := map[string]func() sasl.Client{
		"internal/sasl": func() sasl.Client { return sasl.OAuthBearer("u@x", "tok", "", 0) },
		"go-sasl": func() sasl.Client {
			return gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: "u@x", Token: "tok"})
		},
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) {
			script := concat(ehloScript("AUTH OAUTHBEARER"), []string{
				"C: AUTH OAUTHBEARER " + b64("n,a=u@x,\x01auth=Bearer tok\x01\x01"),
				"S: 334 " + b64(`{"status":"invalid_token","schemes":"bearer"}`),
				"C: AQ==",
				"S: 454 4.7.0 temporary auth failure",
			})
			f := startFake(t, script, nil)
			c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
			err := c.Auth(context.Background(), mk(), AuthOptions{})
			var ae *AuthError
			if !errors.As(err, &ae) || ae.OAuthStatus != "invalid_token" {
				t.Fatalf("err = %v", err)
			}
			if exitCode(err) != sysexits.TempFail {
				t.Errorf("454: exit code %d, want TempFail", exitCode(err))
			}
			f.wait(t)
		})
	}
}

// failingMech errors on its first challenge.
type failingMech struct{}

func (failingMech) Start() (string, []byte, error) { return "LOGIN", nil, nil }
func (failingMech) Next([]byte) ([]byte, error)    { return nil, errors.New("confused") }
func (nilMech) Start() (string, []byte, error)     { return "LOGIN", nil, nil }
func (nilMech) Next(c []byte) ([]byte, error)      { return nil, nil }

type nilMech struct{}

func TestAuthMechanismErrorCancelsWithStar(t *testing.T) {
	script := concat(ehloScript("AUTH LOGIN"), []string{
		"C: AUTH LOGIN",
		"S: 334 " + b64("Username:"),
		"C: *",
		"S: 501 5.0.0 cancelled",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	err := c.Auth(context.Background(), failingMech{}, AuthOptions{})
	if exitCode(err) != sysexits.Protocol || !strings.Contains(err.Error(), "confused") {
		t.Fatalf("err = %v (code %d)", err, exitCode(err))
	}
	f.wait(t)
}

func TestAuthNilResponseIsSentAsEmptyLine(t *testing.T) {
	script := concat(ehloScript("AUTH LOGIN"), []string{
		"C: AUTH LOGIN",
		"S: 334 " + b64("Username:"),
		"C: ",
		"S: 235 ok",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	if err := c.Auth(context.Background(), nilMech{}, AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestAuthIsRefusedWithoutTLSBeforeAnythingIsSent(t *testing.T) {
	f := startFake(t, append(ehloScript("AUTH PLAIN"), "EOF"), nil)
	c, _ := dialFake(t, f, nil)
	err := c.Auth(context.Background(), sasl.Plain("u", "p"), AuthOptions{})
	if exitCode(err) != sysexits.Protocol {
		t.Errorf("err = %v (code %d), want Protocol", err, exitCode(err))
	}
	c.Close()
	f.wait(t)
}

func TestAuthMechanismNotOfferedIsRefusedBeforeSending(t *testing.T) {
	f := startFake(t, append(ehloScript("AUTH PLAIN LOGIN"), "EOF"), nil)
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true })
	err := c.Auth(context.Background(), sasl.XOAUTH2("u", "t"), AuthOptions{})
	if err == nil || !strings.Contains(err.Error(), "PLAIN LOGIN") {
		t.Errorf("err = %v; want the offered mechanisms named", err)
	}
	c.Close()
	f.wait(t)
}

func TestTranscriptRedactsAuthPayloadsAndMessageContent(t *testing.T) {
	const pass = "hunter2-secret"
	ir := b64("\x00user\x00" + pass)
	script := concat(ehloScript("AUTH PLAIN LOGIN", "PIPELINING"), []string{
		"C: AUTH PLAIN " + ir, "S: 235 ok",
		"C: AUTH LOGIN", "S: 334 " + b64("Username:"), "C: " + b64("user"), "S: 334 " + b64("Password:"), "C: " + b64(pass), "S: 235 ok",
		"C: MAIL FROM:<a@x>", "C: RCPT TO:<b@y>", "C: DATA", "S: 250 ok\r\n250 ok\r\n354 go",
		"C: body-content-line", "C: .", "S: 250 ok",
	})
	f := startFake(t, script, nil)
	var tr bytes.Buffer
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true; o.Transcript = &tr })
	if err := c.Auth(context.Background(), sasl.Plain("user", pass), AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(context.Background(), sasl.Login("user", pass), AuthOptions{TwoStep: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"b@y"}}, strings.NewReader("body-content-line\n")); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	out := tr.String()
	for _, secret := range []string{pass, ir, b64(pass), b64("user"), "body-content-line"} {
		if strings.Contains(out, secret) {
			t.Errorf("transcript contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"-> AUTH PLAIN ***\n", "-> ***\n", "-> AUTH LOGIN\n", "<- 235 ok\n", "-> MAIL FROM:<a@x>\n", "-> [message: 19 bytes]\n", "<- 220 fake.example ESMTP\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

func TestStartTLSSaysEHLOAgainWithTheSameName(t *testing.T) {
	cert, pool := selfSigned(t, farFuture())
	script := []string{
		"S: 220 hi",
		"C: EHLO client.example.org", "S: 250-hi\r\n250-STARTTLS\r\n250 AUTH PLAIN",
		"C: STARTTLS", "S: 220 go ahead",
		"TLS",
		"C: EHLO client.example.org", "S: 250-hi again\r\n250 AUTH XOAUTH2",
		"C: AUTH XOAUTH2 " + b64("user=u\x01auth=Bearer t\x01\x01"), "S: 235 ok",
	}
	f := startFake(t, script, &cert)
	calls := 0
	c, _ := dialFake(t, f, func(o *Options) {
		o.TLS = StartTLS
		o.TLSConfig = &tls.Config{RootCAs: pool}
		o.HelloName = func(net.Addr) (string, error) { calls++; return "client.example.org", nil }
	})
	if calls != 1 {
		t.Errorf("HelloName called %d times, want 1", calls)
	}
	if _, ok := c.TLSState(); !ok {
		t.Error("no TLS state after STARTTLS")
	}
	if _, ok := c.Extension("starttls"); ok {
		t.Error("pre-TLS capabilities kept after STARTTLS")
	}
	if v, _ := c.Extension("auth"); v != "XOAUTH2" {
		t.Errorf("AUTH after TLS = %q", v)
	}
	if got := c.EHLOReply(); len(got) != 2 || got[0] != "hi again" {
		t.Errorf("EHLOReply = %q", got)
	}
	if err := c.Auth(context.Background(), sasl.XOAUTH2("u", "t"), AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
}

func TestStartTLSAbortsWhenBytesAreInjectedAfter220(t *testing.T) {
	cert, pool := selfSigned(t, farFuture())
	script := []string{
		"S: 220 hi",
		"C: EHLO client.example.org", "S: 250-hi\r\n250 STARTTLS",
		"C: STARTTLS", "S: 220 go ahead\r\n250-injected\r\n250 AUTH PLAIN",
		"EOF",
	}
	f := startFake(t, script, &cert)
	o := fakeOptions(f.addr, nil)
	o.TLS = StartTLS
	o.TLSConfig = &tls.Config{RootCAs: pool}
	_, err := Dial(context.Background(), o)
	if exitCode(err) != sysexits.Protocol || !strings.Contains(err.Error(), "injection") {
		t.Errorf("err = %v (code %d)", err, exitCode(err))
	}
	f.wait(t)
}

func TestStartTLSNotOfferedFailsWithoutSendingAuthOrMail(t *testing.T) {
	f := startFake(t, append(ehloScript("AUTH PLAIN"), "EOF"), nil)
	o := fakeOptions(f.addr, nil)
	o.TLS = StartTLS
	_, err := Dial(context.Background(), o)
	if exitCode(err) != sysexits.Protocol || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("err = %v (code %d)", err, exitCode(err))
	}
	f.wait(t)
}

// RFC 3207 4: 454 is "TLS not available due to temporary reason" (retry
// later, 75); a 5xx refusal of STARTTLS is a protocol failure (76).
func TestStartTLSRefusalIsTemporaryOn4xxAndProtocolErrorOn5xx(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  int
	}{
		{"454 4.7.0 TLS not available", sysexits.TempFail},
		{"421 4.3.2 shutting down", sysexits.TempFail},
		{"502 5.5.1 not implemented", sysexits.Protocol},
	} {
		f := startFake(t, []string{"S: 220 hi", "C: EHLO client.example.org", "S: 250-hi\r\n250 STARTTLS", "C: STARTTLS", "S: " + tc.reply, "EOF"}, nil)
		o := fakeOptions(f.addr, nil)
		o.TLS = StartTLS
		_, err := Dial(context.Background(), o)
		if exitCode(err) != tc.want || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("%s: err = %v (code %d), want code %d", tc.reply, err, exitCode(err), tc.want)
		}
		f.wait(t)
	}
}

func TestQuitDoesNotWaitAfterSuccessfulSend(t *testing.T) {
	// The server never answers QUIT; Quit returns anyway, having sent it.
	script := concat(ehloScript(), []string{
		"C: MAIL FROM:<a@x>", "S: 250 ok", "C: RCPT TO:<b@y>", "S: 250 ok", "C: DATA", "S: 354 go", "C: x", "C: .", "S: 250 ok",
		"C: QUIT", "EOF",
	})
	f := startFake(t, script, nil)
	c, _ := dialFake(t, f, func(o *Options) { o.CommandTimeout = 30 * 1e9 })
	if err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"b@y"}}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	f.wait(t)
}
