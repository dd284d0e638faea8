package security

import (
	"fmt"
	"strings"
	"testing"
)

// Promise 6 (SMTP smuggling, RFC 5321 2.3.8): a bare CR or a NUL in a
// header field, or a NUL in the body, is refused with 65 and one line
// naming the header or line, through the sendmail pipe and through -bs;
// the server gets no transaction. A bare CR in the body goes out as CRLF,
// so "x<CR>.<CR><LF>" can never end DATA early.
func TestBareCRAndNULAreRefusedThroughThePipeAndBS(t *testing.T) {
	cases := []struct{ name, msg, want string }{
		{"subject-bare-cr", "Subject: a\rX-Injected: yes\n\nbody\n", `"Subject"`},
		{"subject-nul", "Subject: a\x00b\n\nbody\n", `"Subject"`},
		{"body-nul", "Subject: s\n\nline one\nline\x00two\n", "line 4"},
	}
	for _, tc := range cases {
		t.Run("pipe/"+tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			cfg := writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)
			r := run(t, runOpts{cfg: cfg, stdin: strings.NewReader(tc.msg)}, "-i", "someone@example.org")
			if r.Code != 65 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want exit 65 naming %s:\n%s", tc.want, r)
			}
			oneLine(t, r)
			if got := f.received(); strings.Contains(got, "MAIL FROM") {
				t.Fatalf("server received a transaction:\n%q", got)
			}
		})
		t.Run("bs/"+tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			cfg := writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)
			// The client side of -bs dot-stuffs and ends lines with CRLF;
			// the hostile bytes stay inside the lines.
			body := strings.ReplaceAll(strings.TrimSuffix(tc.msg, "\n"), "\n", "\r\n")
			session := fmt.Sprintf("EHLO client.example.org\r\nMAIL FROM:<%s>\r\nRCPT TO:<someone@example.org>\r\nDATA\r\n%s\r\n.\r\nQUIT\r\n", sentUser, body)
			r := run(t, runOpts{cfg: cfg, stdin: strings.NewReader(session)}, "-bs")
			reply := dataReply(r.Stdout)
			if !strings.HasPrefix(reply, "5") || !strings.Contains(reply, tc.want) {
				t.Fatalf("want a 5xx end-of-data reply naming %s, got %q:\n%s", tc.want, reply, r)
			}
			if got := f.received(); strings.Contains(got, "MAIL FROM") {
				t.Fatalf("server received a transaction:\n%q", got)
			}
		})
	}
}

// dataReply is the -bs server's reply after the message (the one after
// its 354).
func dataReply(out string) string {
	lines := strings.Split(out, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "354") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	return ""
}

// The smuggling payload in the body is delivered as harmless lines: the
// bare CR becomes CRLF and the dot that followed it is stuffed, so the
// server sees one message, with no end of data and no MAIL command
// inside it.
func TestBareCRDotInBodyCannotEndDATA(t *testing.T) {
	for _, path := range []string{"pipe", "bs"} {
		t.Run(path, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			cfg := writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)
			var r result
			if path == "pipe" {
				r = run(t, runOpts{cfg: cfg, stdin: strings.NewReader("Subject: s\n\nx\r.\r\nMAIL FROM:<e@x.org>\r\nend\n")}, "-i", "someone@example.org")
			} else {
				session := fmt.Sprintf("EHLO client.example.org\r\nMAIL FROM:<%s>\r\nRCPT TO:<someone@example.org>\r\nDATA\r\nSubject: s\r\n\r\nx\r.\r\nMAIL FROM:<e@x.org>\r\nend\r\n.\r\nQUIT\r\n", sentUser)
				r = run(t, runOpts{cfg: cfg, stdin: strings.NewReader(session)}, "-bs")
				if reply := dataReply(r.Stdout); !strings.HasPrefix(reply, "250") {
					t.Fatalf("want 250 after the message, got %q:\n%s", reply, r)
				}
			}
			if r.Code != 0 {
				t.Fatalf("want exit 0:\n%s", r)
			}
			got := f.received()
			if n := f.rcptCount(); n != 1 {
				t.Errorf("server saw %d RCPT commands, want 1", n)
			}
			if d := f.delivered(); strings.Contains(d, "\r.") || strings.Contains(d, "x\r.") {
				t.Errorf("bare CR before a dot reached the server:\n%q", got)
			}
			if d := f.delivered(); !strings.Contains(d, "x\r\n..\r\nMAIL FROM:<e@x.org>\r\nend\r\n") {
				t.Errorf("message body on the wire = %q, want the bare CR as CRLF and the dot stuffed", d)
			}
		})
	}
}
