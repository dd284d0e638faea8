// Package sysexits owns gsendmail's exit codes (sysexits.h) and the one
// pattern for attaching a code to an error where it is built. What a
// failure means for the caller is decided in internal/outcome; this
// package only carries codes.
//
// The pattern:
//   - An error whose cause and fix are fully known where it is built
//     (a bad command line: Usage; a bad message or envelope: DataErr; the
//     configuration: Config; a local file: NoInput, CantCreat, IOErr; the
//     secret store, the token endpoint's answer, the queue's disk) gets
//     its code there, once: sysexits.New(code, fmt.Errorf("what
//     happened: what to do")). The message is the one line the user sees.
//   - Callers that add context wrap with fmt.Errorf("...: %w", err); the
//     code travels in the chain. They never re-attach a code they read
//     (sysexits.New(sysexits.Code(err), ...)): that freezes the code before
//     internal/outcome has seen the facts underneath.
//   - A failure that needs judging (a server's reply, a broken connection,
//     a TLS handshake: everything internal/smtp returns) carries facts,
//     not a code; internal/outcome maps those facts to a code and a fix.
//
// Other packages never call os.Exit; internal/app exits with
// outcome.Code(err), which reads codes attached here through Code.
package sysexits

import (
	"context"
	"errors"
	"net"
	"os"
)

// The exit codes callers of sendmail understand (BSD sysexits.h).
const (
	OK          = 0
	Usage       = 64 // EX_USAGE: bad command line
	DataErr     = 65 // EX_DATAERR: bad message (no recipients, malformed header)
	NoInput     = 66 // EX_NOINPUT: an input file could not be read
	NoUser      = 67 // EX_NOUSER: addressee unknown
	NoHost      = 68 // EX_NOHOST: host name unknown
	Unavailable = 69 // EX_UNAVAILABLE: permanent refusal (5xx)
	Software    = 70 // EX_SOFTWARE: internal error
	OSErr       = 71 // EX_OSERR: system error (fork, pipe)
	OSFile      = 72 // EX_OSFILE: critical OS file missing
	CantCreat   = 73 // EX_CANTCREAT: cannot create output file
	IOErr       = 74 // EX_IOERR: input/output error
	TempFail    = 75 // EX_TEMPFAIL: try again later; the caller still owns the message
	Protocol    = 76 // EX_PROTOCOL: TLS or SMTP protocol failure
	NoPerm      = 77 // EX_NOPERM: authentication refused, invalid_grant
	Config      = 78 // EX_CONFIG: configuration error
)

// Coder is implemented by errors that know their exit code.
type Coder interface {
	ExitCode() int
}

// Error attaches an exit code to an error. Its message is the error's
// message; it should already say what failed and what to do.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode implements Coder.
func (e *Error) ExitCode() int { return e.Code }

// New wraps err with code. A nil err gives nil.
func New(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Code is the code attached to err: the outermost Coder in the chain
// wins; network-level errors with no code are temporary (the message was
// not accepted, try again later), anything else is Software. For an
// error that may hold SMTP facts, use outcome.Code, which falls back to
// this.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return TempFail
	case errors.As(err, &ne):
		return TempFail
	}
	return Software
}

// Temporary reports whether err means "not delivered, but may succeed later"
// (the only errors a queue may keep a message for).
func Temporary(err error) bool { return Code(err) == TempFail }
