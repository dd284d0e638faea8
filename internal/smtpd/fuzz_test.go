package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzServe feeds arbitrary client input to a session and checks the
// promises the dialogue makes whatever the input: every reply line is
// CRLF-terminated, starts with a 3-digit code and fits RFC 5321's 512
// octets; addresses handed on have no control characters; a message is delivered only after a complete DATA, with at
// least one recipient; a success reply follows each delivery; nothing
// panics.
func FuzzServe(f *testing.F) {
	f.Add([]byte("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"), uint8(0))
	f.Add([]byte("HELO c\nMAIL FROM:<>\nRCPT TO:<root>\nDATA\n..\n.\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		var delivered int
		s := &Server{
			Hostname:       "h.example",
			MaxMessageSize: int64(mode) * 16,
			MaxRecipients:  int(mode%4) + 1,
			Deliver: func(_ context.Context, from string, to []string, data io.Reader) error {
				if len(to) == 0 {
					t.Errorf("Deliver called without recipients")
				}
				for _, a := range append([]string{from}, to...) {
					if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
						t.Errorf("address %q with a control character", a)
					}
				}
				if _, err := io.ReadAll(data); err != nil {
					return sysexits.New(sysexits.TempFail, err)
				}
				delivered++
				switch mode % 3 {
				case 1:
					return sysexits.New(sysexits.NoUser, errors.New(strings.Repeat("long error text ", 60)))
				case 2:
					return errors.New("bad\r\nthing")
				}
				return nil
			},
			Recipient: func(_ context.Context, _, to string) error {
				if strings.HasPrefix(to, "x") {
					return sysexits.New(sysexits.NoUser, errors.New("refused"))
				}
				return nil
			},
		}
		var out bytes.Buffer
		s.Serve(context.Background(), bytes.NewReader(in), &out)
		o := out.Bytes()
		if len(o) == 0 || !bytes.HasSuffix(o, []byte("\r\n")) {
			t.Fatalf("output not CRLF-terminated: %q", o)
		}
		oks := 0
		for _, l := range strings.Split(strings.TrimSuffix(string(o), "\r\n"), "\r\n") {
			if len(l) < 4 || l[0] < '2' || l[0] > '5' || (l[3] != ' ' && l[3] != '-') {
				t.Fatalf("malformed reply line %q", l)
			}
			if len(l)+2 > 512 {
				t.Fatalf("reply line of %d octets", len(l)+2)
			}
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("control character in reply %q", l)
			}
			if strings.HasPrefix(l, "250 2.0.0 Ok") && mode%3 == 0 {
				oks++
			}
		}
		if mode%3 == 0 && oks < delivered {
			t.Fatalf("%d deliveries but %d success replies", delivered, oks)
		}
	})
}
