package mailserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Delivery is one message as Postfix handed it to the capture pipe.
//
// Data is the message exactly as Postfix delivered it: the Received: header
// Postfix prepended, then the client's bytes with line endings as LF (Postfix
// stores lines without the CR of CRLF; use LF to convert an expected
// message) and SMTP dot-stuffing undone. Lines longer than Postfix's
// line_length_limit arrive whole. The one other change: a bare CR inside a
// line (illegal per RFC 5322 2.3) arrives as a space.
type Delivery struct {
	Sender     string   // envelope sender; "" for the null sender <>
	Recipients []string // envelope recipients, all of them, sorted (Postfix's order is not RCPT order)
	Data       []byte
	File       string // the capture file it was read from
}

// Original returns Data without the one Received: header our Postfix
// prepended (including its continuation lines): what the client sent, with
// LF line endings.
func (d Delivery) Original() []byte {
	return stripReceived(d.Data)
}

// LF converts CRLF line endings to LF, to compare what a client sent with
// Delivery.Original.
func LF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

func stripReceived(b []byte) []byte {
	if !hasPrefixFold(b, "received:") {
		return b
	}
	i := 0
	for {
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return b[len(b):]
		}
		i += nl + 1
		// RFC 5322 2.2.3: a folded header continues on lines that start
		// with white space.
		if i >= len(b) || (b[i] != ' ' && b[i] != '\t') {
			return b[i:]
		}
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// parseCapture parses a capture file written by captureScript:
//
//	S <sender>\n
//	R <recipient>\n   (one or more)
//	\n
//	<message bytes>
func parseCapture(b []byte) (Delivery, error) {
	var d Delivery
	line, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte("S ")) {
		return d, errors.New("capture file: missing sender line")
	}
	d.Sender = string(line[2:])
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return d, errors.New("capture file: envelope not terminated by an empty line")
		}
		if len(line) == 0 {
			break
		}
		if !bytes.HasPrefix(line, []byte("R ")) {
			return d, fmt.Errorf("capture file: unexpected envelope line %q", line)
		}
		d.Recipients = append(d.Recipients, string(line[2:]))
	}
	if len(d.Recipients) == 0 {
		return d, errors.New("capture file: no recipients")
	}
	sort.Strings(d.Recipients)
	d.Data = rest
	return d, nil
}

// Deliveries returns the messages captured so far, oldest first. Files that
// cannot be parsed are returned as a Delivery with only File set and the
// parse error in Data, so tests notice instead of waiting.
func (s *Server) Deliveries() []Delivery {
	names, _ := filepath.Glob(filepath.Join(s.l.capture, "*.msg"))
	// Names start with the delivery time in nanoseconds (same width for
	// centuries), so lexical order is delivery order.
	sort.Strings(names)
	out := make([]Delivery, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue // removed meanwhile
		}
		d, err := parseCapture(b)
		if err != nil {
			d = Delivery{Data: []byte(err.Error())}
		}
		d.File = n
		out = append(out, d)
	}
	return out
}

// WaitDeliveries waits until at least n messages were captured and returns
// all of them. On timeout it fails the test with the maillog tail, which
// says why Postfix rejected, deferred or bounced.
func (s *Server) WaitDeliveries(t testing.TB, n int, timeout time.Duration) []Delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := s.Deliveries()
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d expected deliveries after %v; maillog tail:\n%s",
				len(ds), n, timeout, tail(s.Log(), 30))
			return ds
		}
		time.Sleep(10 * time.Millisecond)
	}
}
