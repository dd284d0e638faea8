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
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Command names used in Error.Command for steps that are not a command line.
const (
	CmdGreeting  = "greeting"    // the server's 220 banner
	CmdEndOfData = "end of data" // the reply after the final "." of DATA
)

// Error is a server reply that ended a step: the command it answered, the
// reply code, the enhanced status code (RFC 3463) and the reply text.
//
// Exit codes (ExitCode):
//   - 4xx on any command: sysexits.TempFail (queue and retry).
//   - 5xx on MAIL, RCPT, DATA, BDAT, end of data, or the greeting:
//     sysexits.Unavailable (69), like msmtp.
//   - 5xx on AUTH: sysexits.NoPerm (77).
//   - 5xx that refuses our EHLO/HELO name (on EHLO/HELO itself, or any 5xx
//     whose text mentions HELO, as Postfix's "Helo command rejected" at
//     RCPT): sysexits.Config (78). The name is ours to fix (ehlo_name in
//     the account), so it is a configuration error, not a refusal of the
//     message.
//   - anything else (5xx on STARTTLS/RSET, a 2xx/3xx where none belongs):
//     sysexits.Protocol (76).
type Error struct {
	Command      string // verb and non-secret argument, e.g. "RCPT TO:<x@y>"; never an AUTH payload
	Code         int
	EnhancedCode string // "5.1.1", or "" when the server sent none
	Message      string // reply text, lines joined with spaces

	helo string // our EHLO name, to name it when the server refuses it
}

// Temporary reports whether the server refused only for now (4xx).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

func (e *Error) verb() string {
	v, _, _ := strings.Cut(e.Command, " ")
	v, _, _ = strings.Cut(v, ":")
	return strings.ToUpper(v)
}

// heloRefused reports whether this permanent refusal is about our EHLO name.
func (e *Error) heloRefused() bool {
	if e.Code < 500 || e.Code > 599 {
		return false
	}
	switch e.verb() {
	case "EHLO", "HELO":
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "helo") || strings.Contains(m, "ehlo")
}

// ExitCode implements sysexits.Coder; see the type comment for the rules.
func (e *Error) ExitCode() int {
	switch {
	case e.Code >= 400 && e.Code <= 499:
		return sysexits.TempFail
	case e.Code >= 500 && e.Code <= 599:
		if e.heloRefused() {
			return sysexits.Config
		}
		switch e.verb() {
		case "AUTH":
			return sysexits.NoPerm
		case "MAIL", "RCPT", "DATA", "BDAT", "END", "GREETING":
			return sysexits.Unavailable
		}
	}
	return sysexits.Protocol
}

// Error is one line: what the server refused, its reply, and what to do.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Code >= 400 && e.Code <= 499:
		b.WriteString("server temporarily refused ")
	case e.Code >= 500 && e.Code <= 599:
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
	if h := e.hint(); h != "" {
		b.WriteString("; " + h)
	}
	return b.String()
}

func (e *Error) hint() string {
	switch {
	case e.heloRefused():
		name := e.helo
		if name == "" {
			name = "(unknown)"
		}
		return fmt.Sprintf("the server rejected our EHLO name %q: set ehlo_name in the account to this host's fully-qualified domain name", name)
	case e.heloDeferred():
		return e.heloDeferredHint()
	case e.Temporary():
		return "try again later"
	case e.verb() == "AUTH":
		return "check the user name and password or token for this account"
	case e.verb() == "RCPT" && (strings.Contains(strings.ToLower(e.Message), "sender address rejected") || e.EnhancedCode == "5.1.7" || e.EnhancedCode == "5.1.8"):
		// Postfix reports sender refusals at RCPT (smtpd_delay_reject).
		return "the server refused the envelope sender: check the account's from address, -f, or local_domain"
	case e.verb() == "RCPT" && (e.EnhancedCode == "5.7.1" || e.Code == 554):
		return "the server does not relay for this sender or recipient; check the account's from address and authentication"
	case e.verb() == "RCPT":
		return "check the recipient address"
	case e.verb() == "MAIL":
		return "check the sender (envelope from) address allowed for this account"
	case e.Code >= 500 && e.Code <= 599:
		return "the message was not sent"
	}
	return ""
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

// ExitCode is the reply's: NoPerm for 5xx, TempFail for 4xx.
func (e *AuthError) ExitCode() int { return e.Reply.ExitCode() }

// Temporary reports a 4xx refusal (454: try again later).
func (e *AuthError) Temporary() bool { return e.Reply.Temporary() }

// Error adds the OAuth2 status when there is one.
func (e *AuthError) Error() string {
	s := e.Reply.Error()
	if e.OAuthStatus != "" {
		s += fmt.Sprintf(" (oauth2 status %s: the access token was refused; refresh it or re-authorise the account)", oneLine(e.OAuthStatus))
	}
	return s
}

// RecipientsError reports several refused recipients of one transaction.
// Nothing was sent. It is permanent if any refusal is.
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

// ExitCode is the first permanent refusal's code, else TempFail.
func (e *RecipientsError) ExitCode() int {
	for _, r := range e.Refused {
		if !r.Temporary() {
			return r.ExitCode()
		}
	}
	return sysexits.TempFail
}

// protocolErr builds an EX_PROTOCOL error.
func protocolErr(format string, args ...any) error {
	return sysexits.New(sysexits.Protocol, fmt.Errorf(format, args...))
}

// netErr classifies an I/O error during step (a command name) on the
// connection to addr. Timeouts and dropped connections are temporary.
func netErr(addr, step string, err error) error {
	var pe *protocolError
	if errors.As(err, &pe) {
		return protocolErr("%s: reply to %s from %s: the server is not speaking SMTP correctly; check host and port", pe.msg, step, addr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return sysexits.New(sysexits.TempFail, fmt.Errorf("timed out waiting for %s during %s; the server is slow or unreachable, try again later: %w", addr, step, err))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return sysexits.New(sysexits.TempFail, fmt.Errorf("%s closed the connection during %s; try again later", addr, step))
	}
	return sysexits.New(sysexits.TempFail, fmt.Errorf("connection to %s failed during %s; check the network and try again later: %w", addr, step, err))
}

// tlsErr classifies a TLS handshake failure: certificate and TLS-level
// problems are EX_PROTOCOL with the specific reason; a network failure
// during the handshake is temporary.
func tlsErr(addr string, err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
	)
	reason := ""
	switch {
	case errors.As(err, &unknown):
		reason = "server certificate is signed by an unknown authority (self-signed or private CA); trust its CA or pin its fingerprint"
	case errors.As(err, &hostname):
		reason = "server certificate is not valid for this host name (name mismatch); connect to a name listed in the certificate"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		reason = "server certificate has expired or is not yet valid; check the server's certificate and this machine's clock"
	case errors.As(err, &invalid):
		reason = "server certificate is invalid"
	case errors.As(err, &verify):
		reason = "server certificate was rejected"
	case errors.As(err, &record):
		reason = "server did not answer with TLS; check the TLS mode (implicit TLS is usually port 465, STARTTLS port 587)"
	case errors.As(err, &alert):
		reason = "server aborted the TLS handshake"
	case oldTLSOnly(err):
		// RFC 8996: TLS 1.0 and 1.1 are obsolete. A permanent mismatch
		// (76), never "try again later": retrying cannot help.
		reason = "the server offers only TLS 1.0/1.1, which are obsolete (RFC 8996) and refused; gsendmail needs TLS 1.2 or later: upgrade the server's TLS settings or submit through another server"
	case remoteAlert(err):
		reason = "server aborted the TLS handshake"
	default:
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, os.ErrDeadlineExceeded) {
			return sysexits.New(sysexits.TempFail, fmt.Errorf("TLS handshake with %s failed; check the network and try again later: %w", addr, err))
		}
		if errors.Is(err, io.EOF) {
			reason = "server closed the connection during the TLS handshake; check the TLS mode and port"
		} else {
			reason = "TLS handshake failed"
		}
	}
	return protocolErr("TLS handshake with %s failed: %s: %w", addr, reason, err)
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
