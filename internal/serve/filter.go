package serve

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
)

// This file is the smallest layer of our own that go-smtp's server needs
// for two things it cannot do (v0.25.1):
//
//  1. Bare local names. go-smtp's path parser refuses "RCPT TO:<root>"
//     (501), but cron and old MUAs on "sendmail -bs" send exactly that,
//     and aliases/local_domain exist to route it. The command reader below
//     qualifies a bare local part with localMarker before go-smtp parses
//     the line; Mail and Rcpt strip it again.
//  2. Enhanced codes on success. go-smtp answers MAIL and RCPT with
//     "250 2.0.0"; RFC 3463 has 2.1.0 (sender ok) and 2.1.5 (destination
//     valid), which clients and our -bs callers expect. The reply writer
//     rewrites those two lines (and removes localMarker from their text).
//
// It also puts the upstream's queue id into the end-of-data 250, which
// go-smtp always words "OK: queued".
//
// Both stop at STARTTLS: after it the bytes are TLS records. The command
// reader tracks DATA and BDAT so message content is never touched.

// localMarker qualifies a bare local name for go-smtp; ".invalid" (RFC
// 2606) cannot be a real domain.
const localMarker = "@bare-local-name.gsendmail.invalid"

func stripMarker(addr string) string {
	return strings.TrimSuffix(addr, localMarker)
}

// filterConn wraps an accepted connection with the command and reply
// filters.
type filterConn struct {
	net.Conn
	in     []byte // decoded bytes not yet returned
	line   []byte // partial command line
	mode   int
	bdat   int64 // BDAT bytes still to pass through
	rawIn  bool  // after STARTTLS: pass input through
	rawOut bool  // after the 220 to STARTTLS: pass output through
	tlsCmd bool  // STARTTLS seen, its reply not yet written

	mu sync.Mutex
	ok string // text for go-smtp's next end-of-data "250 2.0.0 OK: queued"
}

// setOK sets the text of the next end-of-data success reply (go-smtp
// always writes "OK: queued"; the upstream queue id is more useful).
func (c *filterConn) setOK(text string) {
	c.mu.Lock()
	c.ok = text
	c.mu.Unlock()
}

const (
	modeCommand = iota
	modeData    // after DATA, until the "." line
)

func (c *filterConn) Read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if c.rawIn && len(c.line) == 0 {
			return c.Conn.Read(p)
		}
		buf := make([]byte, 4096)
		n, err := c.Conn.Read(buf)
		if n > 0 {
			c.feed(buf[:n])
		}
		if len(c.in) > 0 {
			break
		}
		if err != nil {
			if len(c.line) > 0 {
				c.in, c.line = c.line, nil
				break
			}
			return 0, err
		}
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

// feed processes raw input into c.in.
func (c *filterConn) feed(b []byte) {
	for len(b) > 0 {
		if c.rawIn {
			c.in = append(c.in, c.line...)
			c.line = nil
			c.in = append(c.in, b...)
			return
		}
		if c.bdat > 0 {
			n := int64(len(b))
			if n > c.bdat {
				n = c.bdat
			}
			c.in = append(c.in, b[:n]...)
			c.bdat -= n
			b = b[n:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.line = append(c.line, b...)
			if len(c.line) > 8192 {
				// Not a command line we would rewrite; let go-smtp judge it.
				c.in = append(c.in, c.line...)
				c.line = nil
			}
			return
		}
		c.line = append(c.line, b[:i+1]...)
		b = b[i+1:]
		line := c.line
		c.line = nil
		c.in = append(c.in, c.command(line)...)
	}
}

// command looks at one complete input line and returns it, rewritten when
// it is a MAIL or RCPT with a bare local name.
func (c *filterConn) command(line []byte) []byte {
	if c.mode == modeData {
		if t := bytes.TrimRight(line, "\r\n"); len(t) == 1 && t[0] == '.' {
			c.mode = modeCommand
		}
		return line
	}
	s := strings.TrimRight(string(line), "\r\n")
	verb, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	switch strings.ToUpper(verb) {
	case "DATA":
		if strings.TrimSpace(rest) == "" {
			c.mode = modeData
		}
	case "BDAT":
		f := strings.Fields(rest)
		if len(f) >= 1 {
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				c.bdat = int64(n)
			}
		}
	case "STARTTLS":
		c.rawIn, c.tlsCmd = true, true
	case "MAIL", "RCPT":
		return qualifyBare(line)
	}
	return line
}

// qualifyBare appends localMarker to a path without "@" in a MAIL FROM or
// RCPT TO line: "RCPT TO:<root>" becomes "RCPT TO:<root@...invalid>".
func qualifyBare(line []byte) []byte {
	s := string(line)
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return line
	}
	rest := strings.TrimLeft(s[colon+1:], " ")
	if !strings.HasPrefix(rest, "<") {
		return line
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return line
	}
	addr := rest[1:end]
	if addr == "" || strings.ContainsAny(addr, "@\" \t<") {
		return line
	}
	start := len(s) - len(rest)
	return []byte(s[:start] + "<" + addr + localMarker + rest[end:])
}

// Write rewrites go-smtp's MAIL/RCPT success lines.
func (c *filterConn) Write(p []byte) (int, error) {
	if c.rawOut {
		return c.Conn.Write(p)
	}
	out := p
	s := string(p)
	switch {
	case strings.HasPrefix(s, "250 2.0.0 Roger, accepting mail from <"):
		addr := between(s, "<", ">")
		out = []byte("250 2.1.0 Sender <" + stripMarker(addr) + "> OK\r\n")
	case strings.HasPrefix(s, "250 2.0.0 I'll make sure <"):
		addr := between(s, "<", ">")
		out = []byte("250 2.1.5 Recipient <" + stripMarker(addr) + "> OK\r\n")
	case s == "250 2.0.0 OK: queued\r\n":
		c.mu.Lock()
		if c.ok != "" {
			out = []byte("250 2.0.0 " + c.ok + "\r\n")
			c.ok = ""
		}
		c.mu.Unlock()
	case c.tlsCmd && strings.HasPrefix(s, "220 "):
		c.rawOut = true
	case c.tlsCmd && (strings.HasPrefix(s, "5") || strings.HasPrefix(s, "4")):
		// STARTTLS refused: keep filtering.
		c.tlsCmd, c.rawIn = false, false
	default:
		// go-smtp echoes an unknown verb as sent: keep control
		// characters the client put there out of our reply line.
		out = cleanReply(p)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	j := strings.LastIndex(s, b)
	if i < 0 || j <= i {
		return ""
	}
	return s[i+len(a) : j]
}

// cleanReply replaces control characters inside reply lines; the CRLF
// line ends stay.
func cleanReply(p []byte) []byte {
	var out []byte
	for i, b := range p {
		bad := b < 0x20 && b != '\n' && !(b == '\r' && i+1 < len(p) && p[i+1] == '\n') || b == 0x7f
		if bad && out == nil {
			out = append([]byte(nil), p...)
		}
		if bad {
			out[i] = ' '
		}
	}
	if out == nil {
		return p
	}
	return out
}
