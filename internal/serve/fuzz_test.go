package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// bufConn is a net.Conn reading a fixed input and recording the output.
type bufConn struct {
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

func (c *bufConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *bufConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *bufConn) Close() error                       { c.closed = true; return nil }
func (c *bufConn) LocalAddr() net.Addr                { return PipeAddr }
func (c *bufConn) RemoteAddr() net.Addr               { return PipeAddr }
func (c *bufConn) SetDeadline(t time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(t time.Time) error { return nil }

// fuzzRelay checks what reaches the relay.
type fuzzRelay struct {
	t         *testing.T
	mode      uint8
	delivered int
}

func (r *fuzzRelay) Recipient(_ context.Context, _ *Txn, to string) error {
	if strings.Contains(to, localMarker) {
		r.t.Errorf("recipient %q still carries the bare-name marker", to)
	}
	if strings.HasPrefix(to, "x") {
		return sysexits.New(sysexits.NoUser, errors.New("refused"))
	}
	return nil
}

func (r *fuzzRelay) Deliver(_ context.Context, t *Txn, data io.Reader) error {
	if len(t.To) == 0 {
		r.t.Errorf("Deliver called without recipients")
	}
	for _, a := range append([]string{t.From}, t.To...) {
		if strings.ContainsFunc(a, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			r.t.Errorf("address %q with a control character", a)
		}
		if strings.Contains(a, localMarker) {
			r.t.Errorf("address %q still carries the bare-name marker", a)
		}
	}
	if _, err := io.ReadAll(data); err != nil {
		return sysexits.New(sysexits.TempFail, err)
	}
	r.delivered++
	switch r.mode % 3 {
	case 1:
		return sysexits.New(sysexits.NoUser, errors.New(strings.Repeat("long error text ", 60)))
	case 2:
		return errors.New("bad\r\nthing")
	}
	return nil
}

// FuzzServeConn feeds arbitrary client input to one dialogue (the -bs
// path) and checks the promises made whatever the input: every reply line
// is CRLF-terminated, starts with a 3-digit code and fits RFC 5321's 512
// octets; addresses handed on have no control characters and no marker;
// a message is delivered only with at least one recipient; a success
// reply follows each successful delivery; nothing panics or hangs.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"), uint8(0))
	f.Add([]byte("HELO c\nMAIL FROM:<>\nRCPT TO:<root>\nDATA\n..\n.\n"), uint8(1))
	f.Add([]byte("EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nBDAT 5 LAST\r\nRCPT TO:<x>QUIT\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		r := &fuzzRelay{t: t, mode: mode}
		s := New(Options{
			Hostname:       "h.example",
			Relay:          r,
			MaxMessageSize: int64(mode)*16 + 1,
			MaxRecipients:  int(mode%4) + 1,
			CommandTimeout: -1,
		})
		c := &bufConn{in: bytes.NewReader(in)}
		done := make(chan struct{})
		go func() { s.ServeConn(c); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("dialogue did not end at end of input")
		}
		o := c.out.Bytes()
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
			if strings.Contains(l, localMarker) {
				t.Fatalf("marker leaked into reply %q", l)
			}
			if strings.HasPrefix(l, "250 2.0.0 OK") {
				oks++
			}
		}
		if mode%3 == 0 && oks < r.delivered {
			t.Fatalf("%d deliveries but %d success replies", r.delivered, oks)
		}
		if mode%3 != 0 && oks > 0 {
			t.Fatalf("success reply although every delivery failed: %q", o)
		}
	})
}
