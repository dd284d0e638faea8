package message

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzRead pins byte identity: with -i and no Bcc field, what WriteTo
// writes is the input minus a leading "From " line, whatever the input.
func FuzzRead(f *testing.F) {
	f.Add([]byte("From: a@x\nSubject: s\n\nbody\n"), 0)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit %= 1 << 12
		m, err := Read(bytes.NewReader(in), ReadOptions{IgnoreDots: true, MemoryLimit: limit, MaxHeaderBytes: 1 << 12, TempDir: dir})
		if err != nil {
			if c := sysexits.Code(err); c != sysexits.DataErr {
				t.Fatalf("Read error with exit code %d: %v", c, err)
			}
			return
		}
		defer m.Close()
		line, n, err := m.firstLongBodyLine()
		if err != nil {
			t.Fatal(err)
		}
		m.longKnown = false // what a scan of the stored body finds
		if wl, wn, err := m.firstLongBodyLine(); err != nil || wl != line || wn != n {
			t.Fatalf("long line found while reading: %d (%d octets); a scan finds %d (%d octets), %v", line, n, wl, wn, err)
		}
		m.longKnown = true
		if m.Has("Bcc") || m.Has("Resent-Bcc") {
			return
		}
		want := in
		if bytes.HasPrefix(in, []byte("From ")) {
			if i := bytes.IndexByte(in, '\n'); i >= 0 {
				want = in[i+1:]
			} else {
				want = nil
			}
		}
		var out bytes.Buffer
		if _, err := m.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("output differs:\n in: %q\nout: %q", in, out.Bytes())
		}
		if m.Size() != int64(len(want)) {
			t.Fatalf("Size = %d, want %d", m.Size(), len(want))
		}
		// WireSize is what the SMTP client will send of Reader: every
		// count, the CRLF that ends an unterminated last line included
		// (BDAT chunks are cut from it).
		wire, err := smtp.WireSize(m.Reader())
		if err != nil {
			t.Fatal(err)
		}
		if m.WireSize() != wire {
			t.Fatalf("WireSize = %d, the wire has %d bytes", m.WireSize(), wire)
		}
		if m.EightBit() != bytes.ContainsFunc(want, func(r rune) bool { return r >= 0x80 }) {
			t.Fatalf("EightBit = %v for %q", m.EightBit(), want)
		}
	})
}

// FuzzRecipients checks that -t recipient extraction never panics, fails
// only with exit code 65, and returns addresses usable in an SMTP path.
func FuzzRecipients(f *testing.F) {
	f.Add("To: a@x, Bob <b@y>\nCc: root\n")
	f.Fuzz(func(t *testing.T, hdr string) {
		m, err := Read(strings.NewReader(hdr+"\n\n"), ReadOptions{IgnoreDots: true})
		if err != nil {
			return
		}
		defer m.Close()
		rcpts, err := m.Recipients()
		if err != nil {
			if sysexits.Code(err) != sysexits.DataErr {
				t.Fatalf("exit code %d for %v", sysexits.Code(err), err)
			}
			return
		}
		for _, r := range rcpts {
			if r == "" || strings.ContainsAny(r, "\r\n\x00") {
				t.Fatalf("unusable recipient %q from %q", r, hdr)
			}
			// A parsed address parses again to itself.
			again, err := ParseAddressList(r)
			if err != nil || len(again) != 1 || again[0] != r {
				t.Fatalf("recipient %q does not re-parse to itself: %q, %v", r, again, err)
			}
		}
	})
}
