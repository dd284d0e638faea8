package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestReadReplyParsesMultiLineAndEnhancedCodes(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		code  int
		enh   string
		lines []string
	}{
		{"single", "250 ok\r\n", 250, "", []string{"ok"}},
		{"bare code", "250\r\n", 250, "", []string{""}},
		{"bare LF tolerated", "250 ok\n", 250, "", []string{"ok"}},
		{"multi-line", "250-a\r\n250-b\r\n250 c\r\n", 250, "", []string{"a", "b", "c"}},
		{"enhanced", "550 5.1.1 user unknown\r\n", 550, "5.1.1", []string{"user unknown"}},
		{"enhanced multi-line", "535-5.7.8 Username and\r\n535 5.7.8 Password not accepted\r\n", 535, "5.7.8", []string{"Username and", "Password not accepted"}},
		{"enhanced class must match", "550 2.1.1 odd\r\n", 550, "", []string{"2.1.1 odd"}},
		{"enhanced with 3-digit parts", "451 4.123.456 x\r\n", 451, "4.123.456", []string{"x"}},
		{"not enhanced: version number", "220 5.0 server\r\n", 220, "", []string{"5.0 server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readReply(bufio.NewReader(strings.NewReader(tt.in)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.code != tt.code || r.enh != tt.enh || strings.Join(r.lines, "|") != strings.Join(tt.lines, "|") {
				t.Errorf("got %d %q %q", r.code, r.enh, r.lines)
			}
		})
	}
}

func TestReadReplyRejectsMalformedReplies(t *testing.T) {
	tests := []struct{ name, in string }{
		{"no code", "hello\r\n"},
		{"short", "25\r\n"},
		{"code out of range", "650 x\r\n"},
		{"bad separator", "250_ok\r\n"},
		{"code changes", "250-a\r\n251 b\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readReply(bufio.NewReader(strings.NewReader(tt.in)), nil)
			var pe *protocolError
			if !errors.As(err, &pe) {
				t.Errorf("err = %v, want protocol error", err)
			}
		})
	}
}

// endless produces "250-x\r\n" forever.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	const line = "250-xxxxxxxx\r\n"
	for i := range p {
		p[i] = line[e.n%int64(len(line))]
		e.n++
	}
	return len(p), nil
}

// oneHugeLine is "250 " followed by endless 'a's.
type oneHugeLine struct{ n int64 }

func (h *oneHugeLine) Read(p []byte) (int, error) {
	for i := range p {
		if h.n < 4 {
			p[i] = "250 "[h.n]
		} else {
			p[i] = 'a'
		}
		h.n++
	}
	return len(p), nil
}

func TestEndlessReplyAndHugeLineAreBoundedProtocolErrors(t *testing.T) {
	e, h := &endless{}, &oneHugeLine{}
	tests := []struct {
		name   string
		r      io.Reader
		read   func() int64
		within int64
	}{
		{"endless multi-line", e, func() int64 { return e.n }, int64(maxReplyLines)*maxReplyLine + maxReplyLine},
		{"10 MB line", h, func() int64 { return h.n }, 2 * maxReplyLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readReply(bufio.NewReaderSize(tt.r, maxReplyLine), nil)
			var pe *protocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want protocol error", err)
			}
			if got := tt.read(); got > tt.within {
				t.Errorf("read %d bytes before giving up, want at most %d", got, tt.within)
			}
		})
	}
}

func TestEndlessReplyFromServerIsExitProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(c, &endless{})
	}()
	_, err = Dial(context.Background(), Options{Addr: ln.Addr().String(), CommandTimeout: 5 * time.Second})
	if exitCode(err) != sysexits.Protocol {
		t.Errorf("err = %v (code %d), want Protocol", err, exitCode(err))
	}
}

func TestTricklingServerHitsTheStepTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// One byte every 200ms: a reply that would take 3 seconds.
		for _, b := range []byte("220 slow server here\r\n") {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	_, err = Dial(context.Background(), Options{Addr: ln.Addr().String(), CommandTimeout: 500 * time.Millisecond})
	if exitCode(err) != sysexits.TempFail || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %v (code %d), want a TempFail timeout", err, exitCode(err))
	}
}

func TestContextCancellationClosesTheConnection(t *testing.T) {
	// The server greets and then never answers EHLO.
	f := startFake(t, []string{"S: 220 hi", "C: EHLO client.example.org", "EOF"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	o := fakeOptions(f.addr, nil)
	o.CommandTimeout = time.Hour
	o.HelloName = func(net.Addr) (string, error) {
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		return "client.example.org", nil
	}
	_, err := Dial(ctx, o)
	if !errors.Is(err, context.Canceled) || exitCode(err) != sysexits.TempFail {
		t.Errorf("err = %v (code %d)", err, exitCode(err))
	}
	f.wait(t)
}

func TestServerClosingMidTransactionIsTemporary(t *testing.T) {
	f := startFake(t, concat(ehloScript(), []string{"C: MAIL FROM:<a@x>"}), nil)
	c, _ := dialFake(t, f, nil)
	err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"b@y"}}, strings.NewReader("x"))
	if exitCode(err) != sysexits.TempFail {
		t.Errorf("err = %v (code %d)", err, exitCode(err))
	}
	f.wait(t)
}

func FuzzReadReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readReply(bufio.NewReaderSize(strings.NewReader(string(b)), maxReplyLine), nil)
		if err != nil {
			return
		}
		if r.code < 200 || r.code > 599 {
			t.Fatalf("code %d accepted", r.code)
		}
		if len(r.lines) == 0 || len(r.lines) > maxReplyLines {
			t.Fatalf("%d lines", len(r.lines))
		}
		if r.enh != "" && r.enh[0] != byte('0'+r.code/100) {
			t.Fatalf("enhanced code %q for %d", r.enh, r.code)
		}
		for _, l := range r.lines {
			if strings.ContainsAny(l, "\n") || len(l) > maxReplyLine {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}

// A send stopped by SIGTERM says so: the line carries the context's cause
// (what signal.NotifyContext sets), not just "context canceled".
func TestACancelledSendSaysWhy(t *testing.T) {
	f := startFake(t, []string{"S: 220 hi", "C: EHLO client.example.org", "EOF"}, nil)
	ctx, cancel := context.WithCancelCause(context.Background())
	o := fakeOptions(f.addr, nil)
	o.CommandTimeout = time.Hour
	o.HelloName = func(net.Addr) (string, error) {
		go func() { time.Sleep(50 * time.Millisecond); cancel(errors.New("terminated signal received")) }()
		return "client.example.org", nil
	}
	_, err := Dial(ctx, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), ": terminated signal received") {
		t.Errorf("err = %v, want the cause in the line", err)
	}
	f.wait(t)
}
