// Package outcome decides what a failed submission means for the caller:
// the exit code (sysexits), whether a queue may try again and how often,
// and the one line that says what happened and what to do.
//
// It is the one place where that is decided. The SMTP client
// (internal/smtp) reports facts only: the step, the reply code, the
// enhanced code, the text, temporary or permanent (*smtp.Error,
// *smtp.AuthError, *smtp.RecipientsError), or why a step ended without a
// reply (*smtp.Failure and its Reason). Of maps those facts to an
// Outcome. Errors that know their code where they are built (usage, a bad
// message, configuration, local files, the secret store, the token
// endpoint, the queue; see internal/sysexits for that pattern) carry it
// with sysexits.New, and Of reads it. The outermost of the two in an
// error's chain wins, as with sysexits.Code.
//
// The code that calls the SMTP client (internal/submit, internal/mta,
// internal/doctor) applies Explain where the client's errors leave it, so
// that everything above (app's exit, the queue's retry decision, serve's
// reply to its own client) sees one code and one line.
package outcome

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// HELORetryLimit is how many attempts a message gets, queued, while the
// server keeps refusing our EHLO name for now: Postfix's
// reject_unknown_helo_hostname answers 450 (its default code) when the
// name does not resolve, and that does not heal by waiting.
const HELORetryLimit = 3

// Outcome is what an error means for the caller.
type Outcome struct {
	Code       int    // the exit code (sysexits)
	Fix        string // what to do, "" when the error's own words say it
	RetryLimit int    // attempts a queue allows before giving up; 0: its usual schedule
}

// Temporary reports whether the message may be kept and retried.
func (o Outcome) Temporary() bool { return o.Code == sysexits.TempFail }

// Of returns err's outcome. An error with neither a code nor an SMTP fact
// is temporary if it is a network error or a deadline, else
// sysexits.Software (sysexits.Code's rule).
func Of(err error) Outcome {
	var o Outcome
	switch f := first(err).(type) {
	case nil:
		o.Code = sysexits.Code(err)
	case *smtp.Error:
		o.Code, o.Fix = replyCode(f), replyFix(f)
	case *smtp.AuthError:
		o.Code, o.Fix = replyCode(f.Reply), replyFix(f.Reply)
	case *smtp.RecipientsError:
		o.Code = sysexits.TempFail
		for _, r := range f.Refused {
			if !r.Temporary() {
				o.Code = replyCode(r)
				break
			}
		}
	case *smtp.Failure:
		o.Code, o.Fix = failures[f.Reason].code, failureFix(f, Where{})
		if o.Code == 0 {
			o.Code = sysexits.Protocol
		}
	default: // a sysexits.Coder
		o.Code = sysexits.Code(f)
	}
	var se *smtp.Error
	if errors.As(err, &se) && heloDeferred(se) {
		o.RetryLimit = HELORetryLimit
	}
	return o
}

// Code is Of(err).Code: the exit code a caller of sendmail sees.
func Code(err error) int { return Of(err).Code }

// Temporary reports whether err means "not delivered, but may succeed
// later" (the only errors a queue may keep a message for).
func Temporary(err error) bool { return Of(err).Temporary() }

// Explain attaches err's outcome to it: the result's ExitCode and
// RetryLimit are Of's, and its text is err's with each SMTP fact followed
// by what to do. An error that already carries a code, or carries no SMTP
// fact, is returned as it is. Nil gives nil.
func Explain(err error) error {
	f := first(err)
	if f == nil {
		return err
	}
	if _, ok := f.(sysexits.Coder); ok {
		return err
	}
	o := Of(err)
	text, fact := err.Error(), f.Error()
	if i := strings.Index(text, fact); i >= 0 {
		text = text[:i] + line(f) + text[i+len(fact):]
	} else if o.Fix != "" {
		text += "; " + o.Fix
	}
	return &explained{err: err, text: text, o: o}
}

type explained struct {
	err  error
	text string
	o    Outcome
}

func (e *explained) Error() string   { return e.text }
func (e *explained) Unwrap() error   { return e.err }
func (e *explained) ExitCode() int   { return e.o.Code }
func (e *explained) RetryLimit() int { return e.o.RetryLimit }
func (e *explained) Temporary() bool { return e.o.Temporary() }

// first is the outermost error in err's chain (depth first, as errors.As
// walks it) that is an SMTP fact or carries an exit code.
func first(err error) error {
	for err != nil {
		switch err.(type) {
		case *smtp.Error, *smtp.AuthError, *smtp.RecipientsError, *smtp.Failure, sysexits.Coder:
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if f := first(e); f != nil {
					return f
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// line is a fact's text followed by what to do.
func line(f error) string {
	switch f := f.(type) {
	case *smtp.Error:
		return withFix(f.Error(), replyFix(f))
	case *smtp.AuthError:
		s := line(f.Reply)
		if f.OAuthStatus != "" {
			s += fmt.Sprintf(" (oauth2 status %s: the access token was refused; refresh it or re-authorise the account)", redact.String(f.OAuthStatus))
		}
		return s
	case *smtp.RecipientsError:
		parts := make([]string, len(f.Refused))
		for i, r := range f.Refused {
			parts[i] = line(r)
		}
		return fmt.Sprintf("server refused %d recipients, message not sent: %s", len(f.Refused), strings.Join(parts, " | "))
	}
	return withFix(f.Error(), Of(f).Fix)
}

func withFix(s, fix string) string {
	if fix == "" {
		return s
	}
	return s + "; " + fix
}

// Where is what a fix may name about the server and the account an error
// was met on. The zero Where knows nothing: FixAt then gives Of's fix.
type Where struct {
	Addr    string       // host:port
	Port    int          // 0: unknown, and then TLS is unknown too
	TLS     smtp.TLSMode // the mode the connection was made with
	Account string       // the account's name, for the commands to run
	User    string       // the account's user name
}

func (w Where) knowsPort() bool { return w.Port != 0 }

// FixAt returns what to do about err met at w: Of(err).Fix, made
// specific where w says more (the address, the port and TLS mode, the
// account). It is the one home of that advice: sendmail's error line
// (through Explain, with the zero Where) and doctor's fix for the same
// fact come from here. An error without an SMTP fact gives "".
func FixAt(err error, w Where) string {
	switch f := first(err).(type) {
	case *smtp.Error:
		return replyFixAt(f, w)
	case *smtp.AuthError:
		return replyFixAt(f.Reply, w)
	case *smtp.RecipientsError:
		for _, r := range f.Refused {
			if !r.Temporary() {
				return replyFixAt(r, w)
			}
		}
		if len(f.Refused) > 0 {
			return replyFixAt(f.Refused[0], w)
		}
	case *smtp.Failure:
		return failureFix(f, w)
	}
	return ""
}

// replyCode is the exit code for a server reply that ended a step:
//   - 4xx on any command: TempFail (queue and retry).
//   - 5xx that refuses our EHLO/HELO name (see aboutHelloName): Config
//     (78). The name is ours to fix (ehlo_name in the account), so it is
//     a configuration error, not a refusal of the message.
//   - 5xx on AUTH: NoPerm (77).
//   - 5xx on MAIL, RCPT, DATA, BDAT, end of data, or the greeting:
//     Unavailable (69), like msmtp.
//   - anything else (5xx on STARTTLS/RSET, a 2xx/3xx where none belongs):
//     Protocol (76).
func replyCode(e *smtp.Error) int {
	switch {
	case e.Temporary():
		return sysexits.TempFail
	case e.Permanent():
		if aboutHelloName(e) {
			return sysexits.Config
		}
		switch e.Step() {
		case smtp.StepAUTH:
			return sysexits.NoPerm
		case smtp.StepMAIL, smtp.StepRCPT, smtp.StepDATA, smtp.StepBDAT, smtp.StepEndOfData, smtp.StepGreeting:
			return sysexits.Unavailable
		}
	}
	return sysexits.Protocol
}

// aboutHelloName reports a reply that refuses our EHLO name: any refusal
// of EHLO or HELO itself, or, as a last resort, one whose text names
// HELO or EHLO. Postfix checks the name late by default
// (smtpd_delay_reject) and says so only in words, at RCPT: "504 5.5.2
// <yoga>: Helo command rejected: need fully-qualified hostname"
// (reject_non_fqdn_helo_hostname), or "450 4.7.1 ... Host not found"
// (reject_unknown_helo_hostname).
func aboutHelloName(e *smtp.Error) bool {
	switch e.Step() {
	case smtp.StepEHLO, smtp.StepHELO:
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "helo") || strings.Contains(m, "ehlo")
}

// heloDeferred reports a temporary (4xx) refusal of our EHLO name.
func heloDeferred(e *smtp.Error) bool { return e.Temporary() && aboutHelloName(e) }

// replyFix says what to do about a server reply.
func replyFix(e *smtp.Error) string { return replyFixAt(e, Where{}) }

// Enhanced codes (RFC 3463) that providers send on AUTH with a meaning of
// their own, and what to do about each.
var authCodeFixes = map[string]string{
	// Microsoft 365: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled".
	"5.7.139": "Microsoft: SMTP AUTH is disabled for this mailbox or tenant; an administrator must enable \"Authenticated SMTP\" for it in the Microsoft 365 admin center",
	// Google: "534 5.7.9 Application-specific password required" (RFC 4954 6: 534 5.7.9 "authentication mechanism is too weak").
	"5.7.9": "the provider wants an app password (Google: myaccount.google.com/apppasswords) or OAuth2 (auth = \"oauth2\")",
}

// replyFixAt says what to do about a server reply met at w.
func replyFixAt(e *smtp.Error, w Where) string {
	name := e.HelloName
	if name == "" {
		name = "(unknown)"
	}
	step := e.Step()
	switch {
	case e.Permanent() && aboutHelloName(e):
		return fmt.Sprintf("the server rejected our EHLO name %q: set ehlo_name in the account to this host's fully-qualified domain name", name)
	case heloDeferred(e):
		return fmt.Sprintf("the server does not accept our EHLO name %q for now (it could not check the name in DNS): set ehlo_name in the account to this host's fully-qualified name that resolves in DNS; retrying alone will not help", name)
	case e.Temporary():
		return "try again later"
	case step == smtp.StepGreeting:
		return "the server refused the session before EHLO (blocked address, overload, or not an SMTP submission port); check host and port, or try later"
	case step == smtp.StepSTARTTLS:
		return `the server refused STARTTLS: try implicit TLS (tls = "tls", usually port 465), or ask the server's administrator`
	case step == smtp.StepAUTH && authCodeFixes[e.EnhancedCode] != "":
		return authCodeFixes[e.EnhancedCode]
	case step == smtp.StepAUTH && w.Account != "" && oauthMechanism(e.Command):
		return fmt.Sprintf("the token was refused: check that user %q is the account the token was issued for, then re-authorise: gsendmail auth login %s", w.User, w.Account)
	case step == smtp.StepAUTH && w.Account != "":
		return fmt.Sprintf("check user %q and the password (gsendmail password set %s stores a new one); some providers need an app password", w.User, w.Account)
	case step == smtp.StepAUTH:
		return "check the user name and password or token for this account"
	case step == smtp.StepRCPT && (strings.Contains(strings.ToLower(e.Message), "sender address rejected") || e.EnhancedCode == "5.1.7" || e.EnhancedCode == "5.1.8"):
		// Postfix reports sender refusals at RCPT (smtpd_delay_reject).
		return "the server refused the envelope sender: check the account's from address, -f, or local_domain"
	case step == smtp.StepRCPT && (e.EnhancedCode == "5.7.1" || e.Code == 554):
		return "the server does not relay for this sender or recipient; check the account's from address and authentication"
	case step == smtp.StepRCPT:
		return "check the recipient address"
	case step == smtp.StepMAIL:
		return "check the sender (envelope from) address allowed for this account"
	case e.Permanent():
		return "the message was not sent"
	}
	return ""
}

// oauthMechanism reports an AUTH command (Error.Command, "AUTH XOAUTH2")
// whose mechanism sends an OAuth2 token (RFC 7628, Google's XOAUTH2).
func oauthMechanism(command string) bool {
	f := strings.Fields(command)
	if len(f) < 2 {
		return false
	}
	switch strings.ToUpper(f[1]) {
	case "XOAUTH2", "OAUTHBEARER":
		return true
	}
	return false
}

// failureFix says what to do about a step that ended without a reply,
// met at w: the table's fix, or, where the cause or w tells more, a
// more specific one.
func failureFix(f *smtp.Failure, w Where) string {
	there := "there"
	if w.Addr != "" {
		there = "on " + w.Addr
	}
	var ne net.Error
	switch f.Reason {
	case smtp.ConnectFailed:
		switch {
		case errors.Is(f.Err, syscall.ECONNREFUSED):
			return fmt.Sprintf(`nothing accepts connections %s: check port (587 for tls = "starttls", 465 for tls = "tls") and that the server runs`, there)
		case errors.As(f.Err, &ne) && ne.Timeout() && w.knowsPort():
			return fmt.Sprintf("no answer from %s: a firewall may drop port %d (many networks block 25; 587 and 465 usually work); try again later", w.Addr, w.Port)
		}
	case smtp.TimedOut:
		// A server on an implicit-TLS port waits for our handshake while
		// we wait for its greeting.
		if f.Step == smtp.StepGreeting && w.knowsPort() && w.TLS != smtp.Implicit {
			return fmt.Sprintf(`no greeting from port %d: if the port expects TLS from the first byte (usually 465) use tls = "tls"; else the server is slow, try again later`, w.Port)
		}
	case smtp.NoSTARTTLS:
		if w.knowsPort() {
			return fmt.Sprintf(`port %d does not offer STARTTLS: use tls = "tls" with port 465 if the server has it; never send credentials in clear text`, w.Port)
		}
	case smtp.TLSNotTLS:
		if w.knowsPort() && w.TLS == smtp.Implicit {
			return fmt.Sprintf(`port %d speaks plain SMTP first: use tls = "starttls" (usually port 587)`, w.Port)
		}
	case smtp.TLSClosed, smtp.TLSFailed:
		switch {
		case !w.knowsPort():
		case w.TLS == smtp.StartTLS:
			return `the TLS handshake failed; if the port expects TLS from the first byte (465) use tls = "tls"`
		case w.TLS == smtp.Implicit:
			return `the TLS handshake failed; if the port is 587 or 25 use tls = "starttls"`
		}
	}
	return failures[f.Reason].fix
}

// failures maps each reason a step ended without a reply to its exit code
// and what to do. A reason missing here is sysexits.Protocol.
var failures = map[smtp.Reason]struct {
	code int
	fix  string
}{
	smtp.ConnectFailed:  {sysexits.TempFail, "check the host, port and network, or try again later"},
	smtp.TimedOut:       {sysexits.TempFail, "the server is slow or unreachable, try again later"},
	smtp.ConnectionLost: {sysexits.TempFail, "try again later"},
	smtp.NetworkFailed:  {sysexits.TempFail, "check the network and try again later"},
	smtp.TimeLimit:      {sysexits.TempFail, "try again later"},
	smtp.Cancelled:      {sysexits.TempFail, ""},
	smtp.Closed:         {sysexits.TempFail, "reconnect and try again"},
	smtp.NoSuchHost:     {sysexits.NoHost, "check host in the account for a typo"},

	smtp.TLSUnknownAuthority: {sysexits.Protocol, "trust its CA (tls_trust_file) or pin its fingerprint (tls_fingerprint)"},
	smtp.TLSNameMismatch:     {sysexits.Protocol, "connect to a name listed in the certificate"},
	smtp.TLSExpired:          {sysexits.Protocol, "check the server's certificate and this machine's clock"},
	smtp.TLSNotTLS:           {sysexits.Protocol, "check the TLS mode (implicit TLS is usually port 465, STARTTLS port 587)"},
	smtp.TLSObsolete:         {sysexits.Protocol, "gsendmail needs TLS 1.2 or later: upgrade the server's TLS settings or submit through another server"},
	smtp.TLSClosed:           {sysexits.Protocol, "check the TLS mode and port"},
	smtp.TLSFailed:           {sysexits.Protocol, ""},

	smtp.BadReply:            {sysexits.Protocol, "the server is not speaking SMTP correctly; check host and port"},
	smtp.NoSTARTTLS:          {sysexits.Protocol, "use implicit TLS (tls = \"tls\", usually port 465), or fix the server"},
	smtp.InsecureAUTH:        {sysexits.Protocol, "use STARTTLS or implicit TLS"},
	smtp.NoAUTH:              {sysexits.Protocol, "check the server's settings or disable authentication for this account"},
	smtp.MechanismNotOffered: {sysexits.Protocol, "choose one of those for this account"},
	smtp.MechanismFailed:     {sysexits.Protocol, "the server's mechanism does not behave as expected, try another mechanism"},
	smtp.AUTHNeedsChallenge:  {sysexits.Protocol, "set auth = \"login\" for this account"},
	smtp.ProtocolViolation:   {sysexits.Protocol, ""},

	smtp.BadAddress:        {sysexits.Config, "use host:port"},
	smtp.BadHelloName:      {sysexits.Config, "set ehlo_name to this host's fully-qualified domain name"},
	smtp.CredentialsFailed: {sysexits.NoPerm, "check the account's credentials"},
	smtp.NoRecipients:      {sysexits.DataErr, "give at least one recipient address"},
	smtp.UnsafeEnvelope:    {sysexits.DataErr, "remove it"},
	smtp.NeedsSMTPUTF8:     {sysexits.DataErr, "use ASCII addresses or another server"},
	smtp.BadDSN:            {sysexits.Usage, ""},
	smtp.TooBig:            {sysexits.Unavailable, "send a smaller message or use another server"},
	smtp.ReadFailed:        {sysexits.IOErr, "nothing was delivered, try again"},
}
