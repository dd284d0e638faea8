package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

type delivered struct {
	from string
	to   []string
	data string
}

// recorder is a Deliver callback that keeps what it was given and
// returns the next error from errs (nil when errs is exhausted).
type recorder struct {
	msgs []delivered
	errs []error
	// readErr is what reading the data returned last.
	readErr error
}

func (r *recorder) deliver(_ context.Context, from string, to []string, data io.Reader) error {
	b, err := io.ReadAll(data)
	r.readErr = err
	if err != nil {
		return sysexits.New(sysexits.TempFail, err)
	}
	var e error
	if len(r.errs) > 0 {
		e, r.errs = r.errs[0], r.errs[1:]
	}
	if e == nil {
		r.msgs = append(r.msgs, delivered{from, to, string(b)})
	}
	return e
}

// session runs a whole dialogue from one input and returns the reply
// lines (without CRLF) and Serve's error.
func session(t *testing.T, s *Server, input string) ([]string, error) {
	t.Helper()
	var out strings.Builder
	err := s.Serve(context.Background(), strings.NewReader(input), &out)
	text := out.String()
	if text != "" && !strings.HasSuffix(text, "\r\n") {
		t.Fatalf("output does not end in CRLF: %q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("reply line with a bare CR or LF: %q", l)
		}
	}
	return lines, err
}

// finals drops continuation lines of multiline replies so each command
// has one entry.
func finals(lines []string) []string {
	var out []string
	for _, l := range lines {
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		out = append(out, l)
	}
	return out
}

func codes(lines []string) []string {
	var out []string
	for _, l := range finals(lines) {
		if len(l) >= 3 {
			out = append(out, l[:3])
		} else {
			out = append(out, l)
		}
	}
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, "|") == strings.Join(b, "|")
}

func TestGreetingNamesHostAndProduct(t *testing.T) {
	lines, err := session(t, &Server{Hostname: "box.example.org"}, "QUIT\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if lines[0] != "220 box.example.org gsendmail ESMTP" {
		t.Errorf("greeting = %q", lines[0])
	}
	if lines[1] != "221 2.0.0 box.example.org closing connection" {
		t.Errorf("QUIT reply = %q", lines[1])
	}
}

func TestGreetingDefaultsToLocalhost(t *testing.T) {
	lines, _ := session(t, &Server{}, "")
	if lines[0] != "220 localhost gsendmail ESMTP" {
		t.Errorf("greeting = %q", lines[0])
	}
}

func TestEHLOAdvertisesOnlyHandledExtensions(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int64
		size string
	}{
		{"no limit", 0, "SIZE"},
		{"limit", 1000, "SIZE 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, _ := session(t, &Server{Hostname: "h.example", MaxMessageSize: tc.max}, "EHLO client.example\r\nQUIT\r\n")
			want := []string{
				"220 h.example gsendmail ESMTP",
				"250-h.example greets client.example",
				"250-PIPELINING",
				"250-" + tc.size,
				"250-8BITMIME",
				"250-SMTPUTF8",
				"250-ENHANCEDSTATUSCODES",
				"250 HELP",
				"221 2.0.0 h.example closing connection",
			}
			if !equal(lines, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestMessageIsDeliveredWithEnvelopeAndUnstuffedData(t *testing.T) {
	rec := &recorder{}
	in := "EHLO c.example\r\n" +
		"MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=100\r\n" +
		"RCPT TO:<b@example.org>\r\n" +
		"RCPT TO:<root>\r\n" +
		"DATA\r\n" +
		"Subject: x\r\n\r\n" +
		"..leading dot\r\n" +
		".\tnot the end\r\n" +
		"...\r\n" +
		"..\r\n" +
		"last\r\n" +
		".\r\n" +
		"QUIT\r\n"
	lines, err := session(t, &Server{Deliver: rec.deliver}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(lines); !equal(got, []string{"220", "250", "250", "250", "250", "354", "250", "221"}) {
		t.Fatalf("reply codes %v\n%s", got, strings.Join(lines, "\n"))
	}
	if lines[len(lines)-2] != "250 2.0.0 Ok" {
		t.Errorf("accepted reply = %q, want 250 2.0.0 Ok", lines[len(lines)-2])
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(rec.msgs))
	}
	m := rec.msgs[0]
	if m.from != "a@example.org" || !equal(m.to, []string{"b@example.org", "root"}) {
		t.Errorf("envelope = %q %q", m.from, m.to)
	}
	want := "Subject: x\r\n\r\n.leading dot\r\n\tnot the end\r\n..\r\n.\r\nlast\r\n"
	if m.data != want {
		t.Errorf("data = %q\nwant   %q", m.data, want)
	}
}

func TestDataAcceptsBareLFLineEndings(t *testing.T) {
	rec := &recorder{}
	in := "HELO c.example\nMAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\nDATA\nSubject: y\n\n..dot\nbody\n.\nQUIT\n"
	lines, err := session(t, &Server{Deliver: rec.deliver}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(lines); !equal(got, []string{"220", "250", "250", "250", "354", "250", "221"}) {
		t.Fatalf("reply codes %v", got)
	}
	if len(rec.msgs) != 1 || rec.msgs[0].data != "Subject: y\n\n.dot\nbody\n" {
		t.Errorf("delivered %+v", rec.msgs)
	}
}

func TestLongDataLinesStreamUnchanged(t *testing.T) {
	rec := &recorder{}
	long := strings.Repeat("x", 3*MaxCommandLine+17)
	dotted := "." + strings.Repeat("y", 2*MaxCommandLine)
	in := "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" + long + "\r\n." + dotted + "\r\n.\r\nQUIT\r\n"
	_, err := session(t, &Server{Deliver: rec.deliver}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 1 || rec.msgs[0].data != long+"\r\n"+dotted+"\r\n" {
		t.Errorf("long lines were changed")
	}
}

func TestEmptyMessageIsDelivered(t *testing.T) {
	rec := &recorder{}
	_, err := session(t, &Server{Deliver: rec.deliver}, "MAIL FROM:<>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n.\r\nQUIT\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 1 || rec.msgs[0].data != "" || rec.msgs[0].from != "" {
		t.Errorf("delivered %+v, want one empty message from the null sender", rec.msgs)
	}
}

func TestTwoMessagesInOneSessionHaveSeparateEnvelopes(t *testing.T) {
	rec := &recorder{}
	in := "EHLO c\r\n" +
		"MAIL FROM:<one@x.example>\r\nRCPT TO:<a@y.example>\r\nDATA\r\nfirst\r\n.\r\n" +
		"MAIL FROM:<two@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\nsecond\r\n.\r\n" +
		"QUIT\r\n"
	_, err := session(t, &Server{Deliver: rec.deliver}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 2 {
		t.Fatalf("%d messages", len(rec.msgs))
	}
	if m := rec.msgs[0]; m.from != "one@x.example" || !equal(m.to, []string{"a@y.example"}) || m.data != "first\r\n" {
		t.Errorf("first = %+v", m)
	}
	if m := rec.msgs[1]; m.from != "two@x.example" || !equal(m.to, []string{"b@y.example", "c@y.example"}) || m.data != "second\r\n" {
		t.Errorf("second = %+v", m)
	}
}

func TestMailFromAndRcptToAreCaseInsensitiveAndTolerateSpace(t *testing.T) {
	rec := &recorder{}
	in := "ehlo c\r\nmail from: <a@b.example>\r\nrcpt to: d@e.example\r\ndata\r\nx\r\n.\r\nquit\r\n"
	lines, err := session(t, &Server{Deliver: rec.deliver}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(lines); !equal(got, []string{"220", "250", "250", "250", "354", "250", "221"}) {
		t.Fatalf("reply codes %v", got)
	}
	if rec.msgs[0].from != "a@b.example" || rec.msgs[0].to[0] != "d@e.example" {
		t.Errorf("envelope %+v", rec.msgs[0])
	}
}

func TestSequenceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"RCPT before MAIL", "RCPT TO:<a@b.c>\r\n", []string{"220", "503"}},
		{"DATA before MAIL", "DATA\r\n", []string{"220", "503"}},
		{"DATA without recipients", "MAIL FROM:<a@b.c>\r\nDATA\r\n", []string{"220", "250", "554"}},
		{"nested MAIL", "MAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n", []string{"220", "250", "503"}},
		{"RSET clears the transaction", "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRSET\r\nDATA\r\n", []string{"220", "250", "250", "250", "503"}},
		{"EHLO clears the transaction", "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nEHLO x\r\nDATA\r\n", []string{"220", "250", "250", "250", "503"}},
		{"MAIL works without HELO", "MAIL FROM:<a@b.c>\r\n", []string{"220", "250"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			lines, err := session(t, &Server{Deliver: rec.deliver}, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(lines); !equal(got, tc.want) {
				t.Errorf("codes %v, want %v\n%s", got, tc.want, strings.Join(lines, "\n"))
			}
			if len(rec.msgs) != 0 {
				t.Errorf("a message was delivered")
			}
		})
	}
}

func TestCommandReplies(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"NOOP", "250 2.0.0 Ok"},
		{"NOOP anything", "250 2.0.0 Ok"},
		{"RSET", "250 2.0.0 Ok"},
		{"RSET x", "501 5.5.4 RSET takes no argument"},
		{"VRFY root", "252 2.5.0 cannot VRFY the user, but will accept the message and attempt delivery"},
		{"VRFY", "501 5.5.4 VRFY needs an argument"},
		{"EXPN list", "502 5.5.1 EXPN is not implemented"},
		{"STARTTLS", "502 5.5.1 STARTTLS is not implemented"},
		{"AUTH PLAIN", "502 5.5.1 AUTH is not implemented"},
		{"BDAT 10 LAST", "502 5.5.1 BDAT is not implemented"},
		{"FOO bar", "500 5.5.2 command not recognized: FOO"},
		{"", "500 5.5.2 empty command"},
		{"EHLO", "501 5.5.4 EHLO needs a domain or address literal"},
		{"HELO", "501 5.5.4 HELO needs a domain"},
		{"HELO c.example", "250 localhost"},
		{"HELP", "214 2.0.0 end of HELP"},
		{"DATA x", "501 5.5.4 DATA takes no argument"},
		{"MAIL TO:<a@b.c>", "501 5.5.4 syntax: MAIL FROM:<address>"},
		{"MAIL FROM:<a@b.c> SIZE=x", "501 5.5.4 bad SIZE parameter"},
		{"MAIL FROM:<a@b.c> BODY=BINARYMIME", "501 5.5.4 BODY must be 7BIT or 8BITMIME"},
		{"MAIL FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4 SMTPUTF8 takes no value"},
		{"MAIL FROM:<a@b.c> RET=HDRS", "555 5.5.4 MAIL parameter not supported: RET"},
		{"MAIL FROM:<a@b.c> AUTH=<>", "555 5.5.4 MAIL parameter not supported: AUTH"},
		{"MAIL FROM:<a@b.c> SIZE=10 BODY=7BIT SMTPUTF8", "250 2.1.0 Ok"},
		{"MAIL FROM:<jö@b.c>", "553 5.6.7 non-ASCII sender address needs the SMTPUTF8 parameter"},
		{"MAIL FROM:<jö@b.c> SMTPUTF8", "250 2.1.0 Ok"},
		{"MAIL FROM:<a@b.c", "501 5.1.7 bad sender address syntax: missing '>'"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			lines, _ := session(t, &Server{}, tc.in+"\r\n")
			got := finals(lines)
			if len(got) != 2 || got[1] != tc.want {
				t.Errorf("reply to %q = %q, want %q", tc.in, got[1:], tc.want)
			}
		})
	}
}

func TestRcptReplies(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"RCPT TO:<a@b.c>", "250 2.1.5 Ok"},
		{"RCPT TO:<postmaster>", "250 2.1.5 Ok"},
		{"RCPT TO:<>", "501 5.1.3 the null address <> is not a recipient"},
		{"RCPT TO:<a@b.c> NOTIFY=NEVER", "555 5.5.4 RCPT parameter not supported: NOTIFY"},
		{"RCPT FROM:<a@b.c>", "501 5.5.4 syntax: RCPT TO:<address>"},
		{"RCPT TO:<a b@c.d>", "501 5.1.3 bad recipient address syntax: unexpected ' ' in address"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			lines, _ := session(t, &Server{}, "MAIL FROM:<x@y.z>\r\n"+tc.in+"\r\n")
			got := finals(lines)
			if len(got) != 3 || got[2] != tc.want {
				t.Errorf("reply to %q = %q, want %q", tc.in, got[2:], tc.want)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in     string
		addr   string
		params []string
		err    bool
	}{
		{in: "<a@b.example>", addr: "a@b.example"},
		{in: " <a@b.example>", addr: "a@b.example"},
		{in: "a@b.example", addr: "a@b.example"},
		{in: "a@b.example SIZE=1", addr: "a@b.example", params: []string{"SIZE=1"}},
		{in: "<>", addr: ""},
		{in: "<> BODY=8BITMIME", addr: "", params: []string{"BODY=8BITMIME"}},
		{in: "<root>", addr: "root"},
		{in: "<@r1.example,@r2.example:u@d.example>", addr: "u@d.example"},
		{in: `<"a b"@d.example>`, addr: `"a b"@d.example`},
		{in: `<"a>b"@d.example>`, addr: `"a>b"@d.example`},
		{in: "<u@[127.0.0.1]>", addr: "u@[127.0.0.1]"},
		{in: "<u@[IPv6:::1]>", addr: "u@[IPv6:::1]"},
		{in: "", err: true},
		{in: "<a@b", err: true},
		{in: "<a@b>x", err: true},
		{in: "<a b@c>", err: true},
		{in: "<@r1.example>", err: true},
		{in: "<@r1.example:>", err: true},
		{in: "<@b.example>", err: true},
		{in: "<a@>", err: true},
		{in: "<a\x01@b>", err: true},
		{in: `<"a@b>`, err: true},
		{in: "<a(b)@c>", err: true},
		{in: "<" + strings.Repeat("a", 250) + "@b.cd>", err: true},
		{in: "<a@b\xff>", err: true},
	} {
		addr, params, err := parsePath(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("parsePath(%q) = %q, %q; want an error", tc.in, addr, params)
			}
			continue
		}
		if err != nil || addr != tc.addr || !equal(params, tc.params) {
			t.Errorf("parsePath(%q) = %q, %q, %v; want %q, %q", tc.in, addr, params, err, tc.addr, tc.params)
		}
	}
}

func TestDeliveryErrorExitCodesBecomeReplies(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{sysexits.TempFail, "451 4.3.0 "},
		{sysexits.DataErr, "554 5.6.0 "},
		{sysexits.NoUser, "550 5.1.1 "},
		{sysexits.Unavailable, "554 5.0.0 "},
		{sysexits.NoPerm, "554 5.7.0 "},
		{sysexits.Config, "451 4.3.5 "},
		{sysexits.Protocol, "451 4.3.0 "},
		{sysexits.Software, "451 4.3.0 "},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			msg := fmt.Sprintf("failure with exit code %d: do something", tc.code)
			rec := &recorder{errs: []error{sysexits.New(tc.code, errors.New(msg))}}
			in := "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n"
			lines, err := session(t, &Server{Deliver: rec.deliver}, in)
			if err != nil {
				t.Fatal(err)
			}
			got := finals(lines)
			if len(got) != 6 || got[4] != tc.want+msg || got[5] != "250 2.0.0 Ok" {
				t.Errorf("replies %q, want %q then the session going on", got, tc.want+msg)
			}
		})
	}
}

func TestPlainErrorWithoutExitCodeIsTemporary(t *testing.T) {
	rec := &recorder{errs: []error{errors.New("something broke")}}
	lines, _ := session(t, &Server{Deliver: rec.deliver}, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n")
	if got := lines[len(lines)-1]; !strings.HasPrefix(got, "451 4.3.0 something broke") {
		t.Errorf("reply %q, want a 451", got)
	}
}

func TestMultiLineErrorBecomesOneReplyLine(t *testing.T) {
	rec := &recorder{errs: []error{sysexits.New(sysexits.TempFail, errors.New("first\nsecond\r\nthird\x00"))}}
	lines, _ := session(t, &Server{Deliver: rec.deliver}, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n")
	if got := lines[len(lines)-1]; got != "451 4.3.0 first second  third?" {
		t.Errorf("reply %q", got)
	}
}

func TestLongErrorIsSplitAcrossReplyLinesWithoutLoss(t *testing.T) {
	words := strings.Repeat("word ", 200) + "end: run gsendmail doctor"
	rec := &recorder{errs: []error{sysexits.New(sysexits.Config, errors.New(words))}}
	lines, _ := session(t, &Server{Deliver: rec.deliver}, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n")
	var parts []string
	for _, l := range lines[4:] {
		if len(l) > 512-2 {
			t.Errorf("reply line of %d octets exceeds RFC 5321's 512", len(l))
		}
		if !strings.HasPrefix(l, "451-4.3.5 ") && !strings.HasPrefix(l, "451 4.3.5 ") {
			t.Errorf("line %q is not part of a 451 4.3.5 reply", l)
		}
		parts = append(parts, l[len("451 4.3.5 "):])
	}
	if len(parts) < 2 {
		t.Fatalf("expected a multiline reply, got %q", lines[4:])
	}
	if !strings.HasPrefix(lines[len(lines)-1], "451 ") {
		t.Errorf("last line %q must end the reply", lines[len(lines)-1])
	}
	if got := strings.Join(parts, " "); got != strings.TrimSpace(words) {
		t.Errorf("reassembled text differs:\n%q\n%q", got, words)
	}
}

func TestRefusedRecipientIsRefusedAloneAndOthersAreDelivered(t *testing.T) {
	rec := &recorder{}
	s := &Server{
		Deliver: rec.deliver,
		Recipient: func(_ context.Context, from, to string) error {
			if from != "a@b.c" {
				t.Errorf("Recipient got from %q", from)
			}
			if to == "nobody" {
				return sysexits.New(sysexits.NoUser, errors.New(`"nobody" is not an address: add an alias`))
			}
			return nil
		},
	}
	in := "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<nobody>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
	lines, err := session(t, s, in)
	if err != nil {
		t.Fatal(err)
	}
	f := finals(lines)
	if f[3] != `550 5.1.1 "nobody" is not an address: add an alias` {
		t.Errorf("RCPT reply %q", f[3])
	}
	if f[4] != "250 2.1.5 Ok" || f[6] != "250 2.0.0 Ok" {
		t.Errorf("replies %q", f)
	}
	if len(rec.msgs) != 1 || !equal(rec.msgs[0].to, []string{"d@e.f"}) {
		t.Errorf("delivered %+v, want only d@e.f", rec.msgs)
	}
}

func TestRecipientCheckExitCodesBecomeRcptReplies(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{sysexits.NoUser, "550 5.1.1"},
		{sysexits.DataErr, "553 5.1.3"},
		{sysexits.Unavailable, "550 5.0.0"},
		{sysexits.NoPerm, "550 5.7.0"},
		{sysexits.Config, "451 4.3.5"},
		{sysexits.TempFail, "451 4.3.0"},
	} {
		s := &Server{Recipient: func(context.Context, string, string) error {
			return sysexits.New(tc.code, errors.New("no"))
		}}
		lines, _ := session(t, s, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
		if got := lines[len(lines)-1]; got != tc.want+" no" {
			t.Errorf("exit %d: RCPT reply %q, want %q", tc.code, got, tc.want+" no")
		}
	}
}

func TestTooManyRecipientsIsTemporaryAndKeepsTheAcceptedOnes(t *testing.T) {
	rec := &recorder{}
	in := "MAIL FROM:<a@b.c>\r\nRCPT TO:<1@e.f>\r\nRCPT TO:<2@e.f>\r\nRCPT TO:<3@e.f>\r\nDATA\r\nx\r\n.\r\n"
	lines, _ := session(t, &Server{Deliver: rec.deliver, MaxRecipients: 2}, in)
	if got := codes(lines); !equal(got, []string{"220", "250", "250", "250", "452", "354", "250"}) {
		t.Errorf("codes %v", got)
	}
	if len(rec.msgs) != 1 || !equal(rec.msgs[0].to, []string{"1@e.f", "2@e.f"}) {
		t.Errorf("delivered %+v", rec.msgs)
	}
}

func TestOverLongCommandLineIsRefusedAndSessionGoesOn(t *testing.T) {
	in := "NOOP " + strings.Repeat("x", 2*MaxCommandLine) + "\r\nNOOP\r\n"
	lines, err := session(t, &Server{}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(lines); !equal(got, []string{"220", "500", "250"}) {
		t.Errorf("codes %v", got)
	}
}

func TestCommandLineJustUnderLimitIsAccepted(t *testing.T) {
	line := "NOOP " + strings.Repeat("x", MaxCommandLine-len("NOOP ")-2)
	lines, _ := session(t, &Server{}, line+"\r\n")
	if got := codes(lines); !equal(got, []string{"220", "250"}) {
		t.Errorf("codes %v", got)
	}
}

func TestMessageOverSizeLimitIsRefusedAndNotDelivered(t *testing.T) {
	rec := &recorder{}
	in := "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" + strings.Repeat("0123456789\r\n", 20) + ".\r\n" +
		"MAIL FROM:<a@b.c> SIZE=1000\r\nNOOP\r\n"
	lines, err := session(t, &Server{Deliver: rec.deliver, MaxMessageSize: 100}, in)
	if err != nil {
		t.Fatal(err)
	}
	f := finals(lines)
	if len(f) != 7 || !strings.HasPrefix(f[4], "552 5.3.4 ") || !strings.HasPrefix(f[5], "552 5.3.4 ") || f[6] != "250 2.0.0 Ok" {
		t.Errorf("replies %q", f)
	}
	if len(rec.msgs) != 0 || !errors.Is(rec.readErr, errTooBig) {
		t.Errorf("delivered %d, read error %v; want none and errTooBig", len(rec.msgs), rec.readErr)
	}
}

func TestDeliverThatStopsReadingEarlyKeepsSessionInSync(t *testing.T) {
	s := &Server{Deliver: func(_ context.Context, _ string, _ []string, data io.Reader) error {
		var b [3]byte
		data.Read(b[:])
		return sysexits.New(sysexits.Config, errors.New("no config"))
	}}
	in := "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nline one\r\nNOOP\r\nline three\r\n.\r\nNOOP\r\n"
	lines, err := session(t, s, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(lines); !equal(got, []string{"220", "250", "250", "354", "451", "250"}) {
		t.Errorf("codes %v: the data was read as commands", got)
	}
}

func TestInputEndingInsideDataIsNeverReportedAsSent(t *testing.T) {
	for _, tail := range []string{"", "partial", "line\r\n", "line\r\n.", "line\r\n.\r", "..\r\n"} {
		rec := &recorder{}
		in := "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" + tail
		lines, err := session(t, &Server{Deliver: rec.deliver}, in)
		if !errors.Is(err, ErrDataTruncated) {
			t.Errorf("tail %q: Serve error %v, want ErrDataTruncated", tail, err)
		}
		if len(rec.msgs) != 0 {
			t.Errorf("tail %q: message delivered", tail)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "250 2.0.0") {
				t.Errorf("tail %q: success reply %q", tail, l)
			}
		}
	}
}

func TestEndOfInputWithoutQuitEndsCleanly(t *testing.T) {
	rec := &recorder{}
	lines, err := session(t, &Server{Deliver: rec.deliver}, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n")
	if err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if len(rec.msgs) != 1 || lines[len(lines)-1] != "250 2.0.0 Ok" {
		t.Errorf("message not delivered and acknowledged: %q", lines)
	}
}

func TestLastCommandWithoutLineEndingIsAnswered(t *testing.T) {
	lines, _ := session(t, &Server{}, "NOOP\r\nQUIT")
	if got := codes(lines); !equal(got, []string{"220", "250", "221"}) {
		t.Errorf("codes %v", got)
	}
}

func TestNothingAfterQuitIsProcessed(t *testing.T) {
	rec := &recorder{}
	lines, _ := session(t, &Server{Deliver: rec.deliver}, "QUIT\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n")
	if len(lines) != 2 || len(rec.msgs) != 0 {
		t.Errorf("session went on after QUIT: %q", lines)
	}
}

func TestTooManyErrorsEndTheSessionWithAHint(t *testing.T) {
	in := strings.Repeat("Subject: not smtp\r\n", maxErrors+10)
	lines, err := session(t, &Server{}, in)
	if err != nil {
		t.Fatal(err)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "421 4.7.0 ") || !strings.Contains(last, "-bs") {
		t.Errorf("last reply %q", last)
	}
	if len(lines) != 1+maxErrors+1 {
		t.Errorf("%d replies, want greeting, %d errors and 421", len(lines), maxErrors)
	}
}

func TestCancelledContextEndsSessionWith421(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	err := (&Server{}).Serve(ctx, strings.NewReader("NOOP\r\n"), &out)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v", err)
	}
	if !strings.Contains(out.String(), "\r\n421 4.3.2 ") {
		t.Errorf("output %q has no 421", out.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteErrorEndsSession(t *testing.T) {
	err := (&Server{}).Serve(context.Background(), strings.NewReader("NOOP\r\nNOOP\r\n"), failWriter{})
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("Serve = %v, want the write error", err)
	}
}

// TestRepliesAreFlushedBeforeWaitingForInput drives the server in lock
// step over a synchronous pipe: each command is sent only after the
// previous reply arrived, so a reply held back in a buffer would stall
// the dialogue (the pipe deadline turns a stall into a failure).
func TestRepliesAreFlushedBeforeWaitingForInput(t *testing.T) {
	client, server := net.Pipe()
	deadline := time.Now().Add(30 * time.Second)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	rec := &recorder{}
	done := make(chan error, 1)
	go func() {
		done <- (&Server{Deliver: rec.deliver}).Serve(context.Background(), server, server)
		server.Close()
	}()
	br := bufio.NewReader(client)
	expect := func(code string) {
		t.Helper()
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %s: %v", code, err)
			}
			if !strings.HasPrefix(l, code) {
				t.Fatalf("got %q, want %s", l, code)
			}
			if len(l) > 3 && l[3] == ' ' {
				return
			}
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(client, s); err != nil {
			t.Fatal(err)
		}
	}
	expect("220")
	send("EHLO c\r\n")
	expect("250")
	// A pipelined group (RFC 2920): all replies must come without
	// further input.
	send("MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
	expect("250")
	expect("250")
	expect("354")
	send("hello\r\n.\r\n")
	expect("250")
	send("QUIT\r\n")
	expect("221")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 1 || rec.msgs[0].data != "hello\r\n" {
		t.Errorf("delivered %+v", rec.msgs)
	}
}

// oneByteReader hands out input one byte per Read, so every buffer edge
// case in command and DATA parsing is hit.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestInputArrivingByteByByteGivesTheSameResult(t *testing.T) {
	in := "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n..x\r\n.\r\r\n.\n.\r\nQUIT\r\n"
	var outs [2]string
	var msgs [2][]delivered
	for i, r := range []io.Reader{strings.NewReader(in), oneByteReader{strings.NewReader(in)}} {
		rec := &recorder{}
		var out strings.Builder
		if err := (&Server{Deliver: rec.deliver}).Serve(context.Background(), r, &out); err != nil {
			t.Fatal(err)
		}
		outs[i], msgs[i] = out.String(), rec.msgs
	}
	if outs[0] != outs[1] {
		t.Errorf("replies differ:\n%q\n%q", outs[0], outs[1])
	}
	if len(msgs[1]) != 1 || msgs[1][0].data != ".x\r\n\r\r\n" {
		t.Errorf("byte-by-byte delivery %+v", msgs[1])
	}
	if fmt.Sprint(msgs[0]) != fmt.Sprint(msgs[1]) {
		t.Errorf("deliveries differ")
	}
}
