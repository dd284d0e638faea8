package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// serveStdio is "sendmail -bs": an SMTP dialogue on standard input and
// output, on the same server as "gsendmail serve" (internal/serve), over
// a net.Conn made of the two pipes. Each message goes through the same
// prepare and deliver as a piped message, with the envelope from MAIL FROM
// and RCPT TO instead of -f and the arguments. Failures are SMTP replies,
// not exit codes: the session ends with exit 0 after QUIT.
func serveStdio(ctx context.Context, env *Env, inv *cli.Invocation) error {
	// A broken config does not stop the dialogue: the caller gets the
	// error as a 451 4.3.5 reply to RCPT, which it can show, instead of
	// a closed pipe before the greeting.
	r := &relay{env: env, inv: inv}
	r.state.Store(newServeState(env, inv))
	srv := serve.New(serve.Options{
		Hostname: stdioHostname(),
		Relay:    r,
		// The peer is the process that started us: no network, no
		// AUTH, no TLS, and no timeouts of ours on its pipes.
		MaxSessions:    1,
		MaxRecipients:  1000,
		CommandTimeout: -1,
		DataTimeout:    24 * time.Hour,
	})
	c := &stdioConn{r: env.Stdin, w: env.Stdout}
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(c) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		c.Close()
		return sysexits.New(sysexits.TempFail, errors.New("-bs: interrupted; a message not yet acknowledged with 250 was not sent"))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, serve.ErrDataTruncated):
		return sysexits.New(sysexits.TempFail, fmt.Errorf("-bs: %w", err))
	}
	return sysexits.New(sysexits.IOErr, fmt.Errorf("-bs: %w; a message not yet acknowledged with 250 was not sent", err))
}

// stdioConn is a net.Conn over standard input and output. Deadlines are
// not supported (and not needed: the peer is our parent).
type stdioConn struct {
	r      io.Reader
	w      io.Writer
	mu     sync.Mutex
	closed bool
}

func (c *stdioConn) Read(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *stdioConn) Write(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.w.Write(p)
}

func (c *stdioConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *stdioConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *stdioConn) LocalAddr() net.Addr                { return serve.PipeAddr }
func (c *stdioConn) RemoteAddr() net.Addr               { return serve.PipeAddr }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

// stdioHostname names us in the greeting; it is informational only.
func stdioHostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
