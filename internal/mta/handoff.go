package mta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The sendmail side. /usr/sbin/sendmail run by a user who cannot read the
// system account's secrets hands the message to the daemon: SMTP over the
// daemon's Unix socket, with the user's own privileges (the daemon learns
// the uid from the socket, SO_PEERCRED). No AUTH, no TLS: the socket is
// local and the kernel vouches for the peer.
//
// The contract when the daemon cannot be reached (stopped, restarting,
// broken install):
//
//  1. keep trying the socket for Handoff.Wait (default 10 s): a socket
//     unit accepts at once, and a restarting daemon is back within that;
//  2. then, when the maildrop directory exists, write the message there
//     (see maildrop.go) and exit 0: the daemon's pickup ("gsendmail
//     pickup", run by the daemon's units) sends it once it is back, with
//     the same per-user policy. cron, atd and sudo discard mail when
//     sendmail fails, so this is what keeps their mail;
//  3. without a maildrop, exit 75 (EX_TEMPFAIL) with one line. A caller
//     that retries (a queueing MUA, git send-email run again) keeps the
//     message; cron does not, and the line says so.
//
// The same happens when the daemon went away in the middle of the
// transaction (no final 250): delivery is at least once.

// DefaultWait is how long Submit keeps trying an unreachable socket.
const DefaultWait = 10 * time.Second

// Handoff is where and how the sendmail side submits.
type Handoff struct {
	Socket   string        // the daemon's Unix socket
	Maildrop string        // the fallback directory; "" or missing: none
	Wait     time.Duration // how long to retry the socket; 0 means DefaultWait
	// Transcript receives the -v protocol transcript.
	Transcript io.Writer
	// CommandTimeout bounds each SMTP step (default smtp's).
	CommandTimeout time.Duration
}

// Result says where a handed-off message went.
type Result struct {
	Dropped string // the maildrop file, when the daemon was unreachable
}

// Submit hands one message to the daemon. write writes the message and
// may be called more than once (a failed socket attempt, then the
// maildrop). A policy refusal by the daemon is returned with its exit
// code: 77 for "not allowed" (5.7.x), 75 for a rate limit (4.7.x).
func (h Handoff) Submit(ctx context.Context, env smtp.Envelope, write func(io.Writer) error) (Result, error) {
	wait := h.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	deadline := time.Now().Add(wait)
	var lastErr error
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		err := h.once(ctx, env, write)
		if err == nil {
			return Result{}, nil
		}
		var se *smtp.Error
		if errors.As(err, &se) && se.Code != 421 {
			// The daemon answered and decided: its verdict stands.
			if strings.HasPrefix(se.EnhancedCode, "5.7.") || strings.HasPrefix(se.EnhancedCode, "4.7.") {
				return Result{}, daemonVerdict(h.Socket, se)
			}
			return Result{}, outcome.Explain(fmt.Errorf("the gsendmail daemon (%s): %w", h.Socket, err))
		}
		lastErr = err
		left := time.Until(deadline)
		if ctx.Err() != nil || left <= 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(delay, left)):
		}
	}
	if h.Maildrop != "" {
		name, err := Drop(h.Maildrop, env, write)
		if err == nil {
			return Result{Dropped: name}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Result{}, sysexits.New(sysexits.TempFail, fmt.Errorf("the gsendmail daemon is not answering on %s (%v) and the message could not be left in %s: %v; the message was NOT accepted (cron discards it)", h.Socket, oneLine(lastErr), h.Maildrop, err))
		}
	}
	return Result{}, sysexits.New(sysexits.TempFail, fmt.Errorf("the gsendmail daemon is not answering on %s (%v): start it (systemctl start gsendmail-submit.socket); the message was NOT accepted and cron discards it", h.Socket, oneLine(lastErr)))
}

// once is one SMTP transaction over the socket.
func (h Handoff) once(ctx context.Context, env smtp.Envelope, write func(io.Writer) error) error {
	c, err := smtp.Dial(ctx, smtp.Options{
		// Addr only names the peer in messages; the dialer ignores it.
		Addr: "localhost:25",
		TLS:  smtp.None,
		Dialer: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.Socket)
		},
		HelloName:      func(net.Addr) (string, error) { return "localhost", nil },
		CommandTimeout: h.CommandTimeout,
		Transcript:     h.Transcript,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err = c.Send(ctx, env, pr)
	pr.Close()
	if err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

// daemonVerdict turns the daemon's refusal into one line and exit code.
func daemonVerdict(socket string, e *smtp.Error) error {
	code := outcome.Code(e)
	if strings.HasPrefix(e.EnhancedCode, "5.7.") {
		code = sysexits.NoPerm
	}
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("reply %d", e.Code)
	}
	return sysexits.New(code, fmt.Errorf("the gsendmail daemon (%s) refused the message: %d %s %s", socket, e.Code, e.EnhancedCode, oneLine(errors.New(msg))))
}

// oneLine is err's text as one safe line (redact.OneLine); nil is "no
// answer".
func oneLine(err error) string {
	if err == nil {
		return "no answer"
	}
	return redact.OneLine(err.Error())
}
