package smtp

import (
	"bytes"
	"io"
)

// wireEncoder turns message bytes into their SMTP wire form while
// streaming: a bare LF becomes CRLF (RFC 5321 2.3.8), CRLF and every other
// byte (bare CR included) pass unchanged, and with dot set a line starting
// with "." gets one more (RFC 5321 4.5.2, DATA only; BDAT sends the bytes
// as they are, RFC 3030 2).
type wireEncoder struct {
	dot     bool
	midLine bool // the last byte written was not the LF ending a line
	lastCR  bool // the last byte written was CR
}

// encode appends the wire form of src to dst.
func (e *wireEncoder) encode(dst, src []byte) []byte {
	for len(src) > 0 {
		if !e.midLine && e.dot && src[0] == '.' {
			dst = append(dst, '.')
		}
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			dst = append(dst, src...)
			e.lastCR = src[len(src)-1] == '\r'
			e.midLine = true
			break
		}
		dst = append(dst, src[:i]...)
		prevCR := e.lastCR
		if i > 0 {
			prevCR = src[i-1] == '\r'
		}
		if !prevCR {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		e.lastCR, e.midLine = false, false
		src = src[i+1:]
	}
	return dst
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
