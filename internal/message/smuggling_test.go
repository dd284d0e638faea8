package message

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// RFC 5321 2.3.8 / SMTP smuggling: bare CR and NUL in a header field and
// NUL in the body are refused with 65 and a line naming the place.
func TestBareCRAndNULAreRefusedNamingTheHeaderOrLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare CR in Subject", "From: a@x\nSubject: a\rX-Injected: yes\n\nbody\n", `header field "Subject" (line 2) contains a bare CR`},
		{"bare CR at end of field", "Subject: a\r\rTo: b@x\r\n\r\nbody\r\n", `header field "Subject" (line 1) contains a bare CR`},
		{"bare CR in continuation", "To: b@x\nSubject: a\n b\rc\n\nbody\n", `header field "Subject" (line 3) contains a bare CR`},
		{"NUL in Subject", "Subject: a\x00b\n\nbody\n", `header field "Subject" (line 1) contains a NUL byte`},
		{"NUL in body", "Subject: s\nTo: b@x\n\nline one\nline\x00two\n", "line 5 of the message (body line 2) contains a NUL byte"},
		{"NUL in spooled body", "Subject: s\n\n" + strings.Repeat("x\n", 300000) + "\x00\n", "body line 300001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tt.in), ReadOptions{IgnoreDots: true})
			if err == nil {
				m.Close()
				t.Fatal("accepted")
			}
			if sysexits.Code(err) != sysexits.DataErr || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (exit %d), want 65 and %q", err, sysexits.Code(err), tt.want)
			}
		})
	}
}

func TestBareCRInTheBodyIsAcceptedAndCountedAsCRLF(t *testing.T) {
	in := "Subject: s\r\n\r\nx\r.\r\nMAIL FROM:<e@x.org>\r\n"
	m := read(t, in, ReadOptions{IgnoreDots: true})
	if got := output(t, m); got != in {
		t.Fatalf("stored message changed: %q", got)
	}
	if m.WireSize() != int64(len(in)+1) {
		t.Errorf("WireSize %d, want %d (the bare CR goes out as CRLF)", m.WireSize(), len(in)+1)
	}
}
