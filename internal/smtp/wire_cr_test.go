package smtp

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// normalize is the reference: every CR, LF or CRLF ends a line with CRLF,
// a final line without an ending gets one.
func normalize(in string) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '\r' && i+1 < len(in) && in[i+1] == '\n':
			b.WriteString("\r\n")
			i++
		case c == '\r' || c == '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// RFC 5321 2.3.8 and 4.5.2 for any input and any chunking: the DATA form
// has no bare CR or LF, every line that starts with "." was stuffed, and
// removing the stuffing gives the input with its line ends made CRLF.
func TestWireEncodingNeverSendsBareCROrLFAndStuffsEveryLine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 21))
	pieces := []string{"\r", "\n", "\r\n", ".", "..", "x", "MAIL FROM:<e@x.org>", "\x00", "é"}
	for n := 0; n < 3000; n++ {
		var in strings.Builder
		for k := r.IntN(30); k > 0; k-- {
			in.WriteString(pieces[r.IntN(len(pieces))])
		}
		src := in.String()
		step := 1 + r.IntN(7)
		out := encodeAll(src, true, step)
		if out == "" && src == "" {
			continue
		}
		for i := 0; i < len(out); i++ {
			if out[i] == '\r' && (i+1 >= len(out) || out[i+1] != '\n') {
				t.Fatalf("bare CR in %q (from %q, step %d)", out, src, step)
			}
			if out[i] == '\n' && (i == 0 || out[i-1] != '\r') {
				t.Fatalf("bare LF in %q (from %q, step %d)", out, src, step)
			}
		}
		lines := strings.SplitAfter(out, "\r\n")
		var unstuffed strings.Builder
		for _, l := range lines {
			if strings.HasPrefix(l, ".") {
				if !strings.HasPrefix(l, "..") {
					t.Fatalf("unstuffed dot line %q in %q (from %q)", l, out, src)
				}
				l = l[1:]
			}
			unstuffed.WriteString(l)
		}
		if got, want := unstuffed.String(), normalize(src); got != want {
			t.Fatalf("from %q (step %d): unstuffed %q, want %q", src, step, got, want)
		}
	}
}
