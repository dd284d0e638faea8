package bench

import (
	"fmt"
	"io"
)

// Message returns a reader of an RFC 5322 message of about size bytes:
// headers, then 76-character base64-alphabet lines with LF endings (what
// callers pipe into sendmail), generated on the fly so the harness itself
// holds no copy.
func Message(from, to string, size int64) io.Reader {
	hdr := fmt.Sprintf("From: %s\nTo: %s\nSubject: gsendmail benchmark %d bytes\n"+
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <bench-%d@gsendmail.test>\n"+
		"MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n",
		from, to, size, size)
	body := size - int64(len(hdr))
	if body < 0 {
		body = 0
	}
	return io.MultiReader(stringReader(hdr), &lines{left: body})
}

func stringReader(s string) io.Reader { return &lines{fixed: []byte(s), left: int64(len(s))} }

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// lines yields left bytes of base64-looking text in 77-byte lines (76 + LF),
// or of fixed when set.
type lines struct {
	fixed []byte
	left  int64
	pos   int64
}

func (l *lines) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	for i := range p {
		if l.fixed != nil {
			p[i] = l.fixed[l.pos]
		} else if l.pos%77 == 76 || l.left-int64(i) == 1 {
			p[i] = '\n'
		} else {
			p[i] = alphabet[(l.pos*7+l.pos/77)%64]
		}
		l.pos++
	}
	l.left -= int64(len(p))
	return len(p), nil
}
