package smtp

import (
	"bytes"
	"io"
)

// wireEncoder turns message bytes into their SMTP wire form while
// streaming: a bare LF becomes CRLF and so does a bare CR (RFC 5321 2.3.8:
// a client MUST NOT send either; a receiver that ends lines on a bare CR
// would otherwise read "x<CR>.<CR><LF>" as the end of DATA, SMTP
// smuggling), CRLF and every other byte pass unchanged, and with dot set a
// line starting with "." gets one more (RFC 5321 4.5.2, DATA only; BDAT
// sends the bytes as they are, RFC 3030 2). A converted bare CR ends a
// line, so a "." after it is stuffed like any other.
type wireEncoder struct {
	dot     bool
	midLine bool // the last byte written was not the LF ending a line
	lastCR  bool // the last byte written was a CR whose LF is not decided yet
}

// encode appends the wire form of src to dst.
func (e *wireEncoder) encode(dst, src []byte) []byte {
	for len(src) > 0 {
		if e.lastCR {
			// The CR ends a line either way: with this LF, or with
			// the one we add.
			dst = append(dst, '\n')
			e.lastCR, e.midLine = false, false
			if src[0] == '\n' {
				src = src[1:]
				continue
			}
		}
		if !e.midLine && e.dot && src[0] == '.' {
			dst = append(dst, '.')
		}
		i := nextLineEnd(src)
		if i < 0 {
			dst = append(dst, src...)
			e.midLine = true
			break
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, '\r')
		if src[i] == '\r' {
			e.lastCR, e.midLine = true, true
		} else {
			dst = append(dst, '\n')
			e.midLine = false
		}
		src = src[i+1:]
	}
	return dst
}

// nextLineEnd is the index of the first CR or LF in b, or -1. Two
// IndexByte scans (vectorised) beat IndexAny's byte loop on large bodies.
func nextLineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	limit := b
	if lf >= 0 {
		limit = b[:lf]
	}
	if cr := bytes.IndexByte(limit, '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// finish appends what makes the data end with CRLF: nothing if it does or
// is empty, LF after a trailing CR, else CRLF.
func (e *wireEncoder) finish(dst []byte) []byte {
	switch {
	case !e.midLine:
	case e.lastCR:
		dst = append(dst, '\n')
	default:
		dst = append(dst, '\r', '\n')
	}
	e.midLine, e.lastCR = false, false
	return dst
}

// WireSize returns the size of r's content as gsendmail sends it: line
// endings converted to CRLF and a final CRLF added when missing, without
// DATA dot-stuffing. This is the value for Envelope.Size (the SIZE
// parameter, RFC 1870 3, counts the message, not the transparency dots).
func WireSize(r io.Reader) (int64, error) {
	var (
		e   wireEncoder
		n   int64
		buf = make([]byte, 32*1024)
		out = make([]byte, 0, 64*1024+2)
	)
	for {
		k, err := r.Read(buf)
		if k > 0 {
			out = e.encode(out[:0], buf[:k])
			n += int64(len(out))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n + int64(len(e.finish(out[:0]))), nil
}
