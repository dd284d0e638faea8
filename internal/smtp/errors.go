package smtp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// Command names used in Error.Command for steps that are not a command line.
const (
	CmdGreeting  = "greeting"    // the server's 220 banner
	CmdEndOfData = "end of data" // the reply after the final "." of DATA
)

// Step is the part of a submission an error ended, in SMTP's own words.
type Step string

// The steps of a submission, in order.
const (
	StepConnect   Step = "connect"
	StepTLS       Step = "TLS handshake"
	StepGreeting  Step = "greeting"
	StepEHLO      Step = "EHLO"
	StepHELO      Step = "HELO"
	StepSTARTTLS  Step = "STARTTLS"
	StepAUTH      Step = "AUTH"
	StepMAIL      Step = "MAIL"
	StepRCPT      Step = "RCPT"
	StepDATA      Step = "DATA"
	StepBDAT      Step = "BDAT"
	StepEndOfData Step = "end of data"
	StepRSET      Step = "RSET"
	StepQUIT      Step = "QUIT"
)

// StepOf names the step of a command as Error.Command and Failure.Step
// show it ("RCPT TO:<x@y>" is StepRCPT, "AUTH PLAIN ***" StepAUTH).
func StepOf(command string) Step {
	switch command {
	case CmdGreeting:
		return StepGreeting
	case CmdEndOfData:
		return StepEndOfData
	case string(StepConnect), string(StepTLS):
		return Step(command)
	}
	v, _, _ := strings.Cut(command, " ")
	v, _, _ = strings.Cut(v, ":")
	return Step(strings.ToUpper(v))
}

// Error is a server reply that ended a step: the command it answered, the
// reply code, the enhanced status code (RFC 3463) and the reply text. It
// says what happened; what that means for the caller (exit code, retry,
// what to do) is internal/outcome's decision.
type Error struct {
	Command      string // verb and non-secret argument, e.g. "RCPT TO:<x@y>"; never an AUTH payload
	Code         int
	EnhancedCode string // "5.1.1", or "" when the server sent none
	Message      string // reply text, lines joined with spaces
	HelloName    string // the name we had sent with EHLO/HELO, "" before it
}

// Step is the step the reply ended.
func (e *Error) Step() Step { return StepOf(e.Command) }

// Temporary reports whether the server refused only for now (4xx).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Permanent reports a refusal that retrying will not change (5xx).
func (e *Error) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

// Error is one line: what the server refused and its reply.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Temporary():
		b.WriteString("server temporarily refused ")
	case e.Permanent():
		b.WriteString("server refused ")
	default:
		b.WriteString("unexpected server reply to ")
	}
	switch e.Command {
	case CmdGreeting:
		b.WriteString("the connection")
	case CmdEndOfData:
		b.WriteString("the message (end of data)")
	default:
		b.WriteString(e.Command)
	}
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.EnhancedCode != "" {
		b.WriteString(" " + e.EnhancedCode)
	}
	if e.Message != "" {
		b.WriteString(" " + oneLine(e.Message))
	}
	return b.String()
}

// oneLine makes server text safe for one log or terminal line
// (redact.OneLine: secrets removed, unsafe characters spaces, white space
// folded).
func oneLine(s string) string { return redact.OneLine(s) }

// AuthError is a refused AUTH exchange. OAuthStatus is the status from the
// server's JSON error challenge for XOAUTH2/OAUTHBEARER ("400", "401",
// "invalid_token"), or "" when the server sent none. An OAuth2 caller that
// sees a non-empty OAuthStatus (or any AuthError with a cached token)
// should drop the cached access token, refresh once and retry.
type AuthError struct {
	Reply       *Error // the final reply; Reply.Command is "AUTH <mechanism>"
	Mechanism   string
	OAuthStatus string
	OAuthScope  string
}

func (e *AuthError) Unwrap() error { return e.Reply }

// Temporary reports a 4xx refusal (454: try again later).
func (e *AuthError) Temporary() bool { return e.Reply.Temporary() }

// Error adds the OAuth2 status when there is one.
func (e *AuthError) Error() string {
	s := e.Reply.Error()
	if e.OAuthStatus != "" {
		s += fmt.Sprintf(" (oauth2 status %s)", oneLine(e.OAuthStatus))
	}
	return s
}

// RecipientsError reports several refused recipients of one transaction.
// Nothing was sent.
type RecipientsError struct {
	Refused []*Error
}

func (e *RecipientsError) Error() string {
	parts := make([]string, len(e.Refused))
	for i, r := range e.Refused {
		parts[i] = r.Error()
	}
	return fmt.Sprintf("server refused %d recipients, message not sent: %s", len(e.Refused), strings.Join(parts, " | "))
}

func (e *RecipientsError) Unwrap() []error {
	errs := make([]error, len(e.Refused))
	for i, r := range e.Refused {
		errs[i] = r
	}
	return errs
}

// Temporary reports whether every refusal was for now only.
func (e *RecipientsError) Temporary() bool {
	for _, r := range e.Refused {
		if !r.Temporary() {
			return false
		}
	}
	return true
}

// Failure is a step that ended without a server reply to judge: the
// connection failed, TLS failed, the server broke the protocol, or the
// client refused to send what it was given. Reason says which; Msg says
// it in words, without advice. What it means for the caller is
// internal/outcome's decision.
type Failure struct {
	Reason Reason
	Step   Step   // the step it ended
	Msg    string // what happened, one line
	Err    error  // the cause (a net, TLS, context or read error), or nil
}

func (f *Failure) Error() string { return f.Msg }
func (f *Failure) Unwrap() error { return f.Err }

// Temporary reports a failure of the network or of time, after which the
// same submission may succeed.
func (f *Failure) Temporary() bool {
	switch f.Reason {
	case ConnectFailed, TimedOut, ConnectionLost, NetworkFailed, TimeLimit, Cancelled, Closed:
		return true
	}
	return false
}

// Reason is what ended a step without a reply to judge.
type Reason int

// Reasons, the temporary ones (see Failure.Temporary) first.
const (
	_              Reason = iota
	ConnectFailed         // the TCP connect failed (refused, unreachable, resolver could not answer)
	TimedOut              // no reply within the step's time limit
	ConnectionLost        // the server closed the connection mid-step
	NetworkFailed         // another I/O error on the connection, TLS handshake included
	TimeLimit             // the caller's context deadline passed
	Cancelled             // the caller cancelled
	Closed                // the Client was already closed
	NoSuchHost            // the server's host name does not exist in DNS

	// TLS handshake failures that retrying does not heal.
	TLSUnknownAuthority // certificate signed by a CA we do not trust
	TLSNameMismatch     // certificate not valid for the host name
	TLSExpired          // certificate expired or not yet valid
	TLSNotTLS           // the server answered in plain text
	TLSObsolete         // the server speaks only TLS 1.0/1.1
	TLSClosed           // the server hung up during the handshake
	TLSFailed           // another certificate or handshake failure

	// The server does not speak SMTP as the client needs.
	BadReply            // a reply that breaks RFC 5321 4.2 (syntax, size)
	NoSTARTTLS          // STARTTLS needed but not offered
	InsecureAUTH        // AUTH asked for on a connection without TLS
	NoAUTH              // AUTH needed but not offered
	MechanismNotOffered // the chosen SASL mechanism is not offered
	MechanismFailed     // the SASL exchange went wrong on the server's side
	AUTHNeedsChallenge  // a pipelined AUTH PLAIN got a 334
	ProtocolViolation   // anything else the server did that SMTP does not allow

	// What the client was given cannot be used.
	BadAddress        // Options.Addr is not host:port
	BadHelloName      // the EHLO name is empty or has spaces or line breaks
	CredentialsFailed // the SASL mechanism could not start (credentials)
	NoRecipients      // an envelope without recipients
	UnsafeEnvelope    // an address or DSN value with a line break or NUL, or empty
	NeedsSMTPUTF8     // non-ASCII addresses and no SMTPUTF8
	BadDSN            // DSN parameters RFC 3461 does not allow
	TooBig            // larger than the server's SIZE
	ReadFailed        // reading the message failed
)

func fail(r Reason, step Step, err error, format string, args ...any) *Failure {
	return &Failure{Reason: r, Step: step, Err: err, Msg: fmt.Sprintf(format, args...)}
}

// protocolErr reports a server that broke the protocol.
func protocolErr(r Reason, step Step, format string, args ...any) error {
	return fail(r, step, nil, format, args...)
}

// netErr classifies an I/O error during step (a command name) on the
// connection to addr. Timeouts and dropped connections are temporary.
func netErr(addr, step string, err error) error {
	var pe *protocolError
	if errors.As(err, &pe) {
		return fail(BadReply, StepOf(step), nil, "%s: reply to %s from %s", pe.msg, step, addr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fail(TimedOut, StepOf(step), err, "timed out waiting for %s during %s: %v", addr, step, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fail(ConnectionLost, StepOf(step), err, "%s closed the connection during %s", addr, step)
	}
	return fail(NetworkFailed, StepOf(step), err, "connection to %s failed during %s: %v", addr, step, err)
}

// tlsErr classifies a TLS handshake failure: certificate and TLS-level
// problems are permanent, each with its reason; a network failure during
// the handshake is temporary.
func tlsErr(addr string, err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
	)
	r, what := TLSFailed, ""
	switch {
	case errors.As(err, &unknown):
		r, what = TLSUnknownAuthority, "server certificate is signed by an unknown authority (self-signed or private CA)"
	case errors.As(err, &hostname):
		r, what = TLSNameMismatch, "server certificate is not valid for this host name (name mismatch)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		r, what = TLSExpired, "server certificate has expired or is not yet valid"
	case errors.As(err, &invalid):
		what = "server certificate is invalid"
	case errors.As(err, &verify):
		what = "server certificate was rejected"
	case errors.As(err, &record):
		r, what = TLSNotTLS, "server did not answer with TLS"
	case errors.As(err, &alert):
		what = "server aborted the TLS handshake"
	case oldTLSOnly(err):
		// RFC 8996: TLS 1.0 and 1.1 are obsolete. Permanent: retrying
		// cannot help.
		r, what = TLSObsolete, "the server offers only TLS 1.0/1.1, which are obsolete (RFC 8996) and refused"
	case remoteAlert(err):
		what = "server aborted the TLS handshake"
	default:
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(NetworkFailed, StepTLS, err, "TLS handshake with %s failed: %v", addr, err)
		}
		if errors.Is(err, io.EOF) {
			r, what = TLSClosed, "server closed the connection during the TLS handshake"
		} else {
			what = "TLS handshake failed"
		}
	}
	return fail(r, StepTLS, err, "TLS handshake with %s failed: %s: %v", addr, what, err)
}

// oldTLSOnly reports a handshake that failed because the server speaks
// only protocol versions below our minimum: it answered with a
// protocol_version alert (RFC 8446 6.2) or selected an old version.
func oldTLSOnly(err error) bool {
	m := err.Error()
	return strings.Contains(m, "protocol version not supported") || strings.Contains(m, "unsupported protocol version")
}

// remoteAlert reports a TLS alert sent by the server. crypto/tls wraps it
// in a *net.OpError ("remote error"), which must not be mistaken for a
// network failure: the server refused the handshake.
func remoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
