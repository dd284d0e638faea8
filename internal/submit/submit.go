// Package submit turns an account and a prepared message into an accepted
// submission: it builds the TLS settings, picks the EHLO name, obtains the
// credential (password or OAuth2 access token), authenticates with the
// right SASL mechanism and hands the envelope and message to the SMTP
// client. It owns the OAuth2 retry (drop the cached token and refresh once
// on a 400/401 challenge). It does not parse flags or headers, choose the
// account, queue, or decide exit codes: errors carry their codes up.
package submit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// TokenSource yields OAuth2 access tokens for one account.
type TokenSource interface {
	AccessToken(ctx context.Context) (string, error)
	Invalidate() error
}

// Deps are the replaceable parts of a submission.
type Deps struct {
	Keyring    secret.Keyring                                                    // for password_keyring
	OAuth      func(*config.Account) (TokenSource, error)                        // for auth = oauth2
	Transcript io.Writer                                                         // -v protocol transcript (secrets redacted by the client)
	Warn       io.Writer                                                         // warnings (tls_verify = false)
	Dialer     func(ctx context.Context, network, addr string) (net.Conn, error) // tests, benchmarks
	Chooser    *ehlo.Chooser                                                     // nil: the system's
	// SevenBit re-encodes the message for a server that does not offer
	// 8BITMIME (RFC 6152 3: convert or refuse) and returns it with its new
	// wire size and 8-bit flag; nil refuses such a message (69).
	SevenBit func() (msg io.Reader, size int64, eightBit bool, err error)
	// Trace watches the authentication steps (doctor); nil: none.
	Trace *Trace
}

// Session is an authenticated connection to an account's server, ready to
// send one or more messages.
type Session struct {
	Account   *config.Account
	Client    *smtp.Client
	Mechanism string      // SASL mechanism used, "" when none
	EHLO      ehlo.Choice // how the EHLO name was chosen
}

// Envelope is what the server is told besides the message itself.
type Envelope = smtp.Envelope

// TLSMode is the account's tls setting (config decodes it as an
// smtp.TLSMode).
func TLSMode(a *config.Account) smtp.TLSMode { return a.TLS }

// Connect dials the account's server, greets it with a sane EHLO name,
// secures the connection and authenticates.
func Connect(ctx context.Context, a *config.Account, d Deps) (*Session, error) {
	return connect(ctx, a, d, false)
}

// connect is Connect; with pipelineAuth an AUTH PLAIN may be left pending
// to travel with the first message (smtp.AuthOptions.Pipeline), so its
// refusal surfaces from the first Send.
func connect(ctx context.Context, a *config.Account, d Deps, pipelineAuth bool) (*Session, error) {
	srv, err := AccountServer(a, d.Chooser)
	if err != nil {
		return nil, withAccount(a, err)
	}
	if !a.TLSVerify && a.TLSFingerprint == "" && a.TLS != smtp.None && d.Warn != nil {
		fmt.Fprintf(d.Warn, "gsendmail: WARNING: tls_verify = false for account %q: the server certificate is not checked, so anyone on the network path can read your credentials and mail; use tls_trust_file or tls_fingerprint instead\n", a.Name)
	}
	c, choice, err := Dial(ctx, srv, d)
	if err != nil {
		return nil, withAccount(a, err)
	}
	s := &Session{Account: a, EHLO: choice}
	s.Client = c
	if err := s.authenticate(ctx, d, pipelineAuth); err != nil {
		c.QuitAfterFailure()
		return nil, withAccount(a, err)
	}
	return s, nil
}

// Send submits one message on the session.
func (s *Session) Send(ctx context.Context, env Envelope, msg io.Reader) error {
	return withAccount(s.Account, s.Client.Send(ctx, env, msg))
}

// Reset prepares the session for the next message (RSET).
func (s *Session) Reset(ctx context.Context) error { return outcome.Explain(s.Client.Reset(ctx)) }

// Close ends the session politely (QUIT) and closes the connection.
func (s *Session) Close() error { return outcome.Explain(s.Client.Quit()) }

// withAccount prefixes errors with the account and server so the one line
// a user sees says where things went wrong. Errors from the SMTP client
// leave here explained: with their exit code and what to do
// (internal/outcome).
func withAccount(a *config.Account, err error) error {
	if err == nil {
		return nil
	}
	return outcome.Explain(fmt.Errorf("account %q (%s:%d): %w", a.Name, a.Host, a.Port, err))
}

// authenticate runs the steps after EHLO: choose the mechanism, get the
// credential, AUTH (steps.go).
func (s *Session) authenticate(ctx context.Context, d Deps, pipeline bool) error {
	a := s.Account
	mech, err := ChooseMechanism(a, Offered(s.Client))
	if err != nil || mech == "" {
		return err
	}
	s.Mechanism = mech
	err = Authenticate(ctx, s.Client, a, mech, d, pipeline)
	var ae *smtp.AuthError
	if err != nil && mech != "PLAIN" && mech != "LOGIN" && errors.As(err, &ae) {
		return fmt.Errorf("%w%s", err, authHint(a, ae))
	}
	return err
}

// authHint explains provider refusals that users cannot decode themselves.
func authHint(a *config.Account, ae *smtp.AuthError) string {
	msg := ae.Error()
	switch {
	case strings.Contains(msg, "5.7.139"):
		return " (Microsoft: SMTP AUTH is disabled for this mailbox or tenant; an administrator must enable \"Authenticated SMTP\" for it in the Microsoft 365 admin center)"
	case strings.Contains(msg, "5.7.8") || strings.Contains(msg, "535"):
		if a.OAuthProvider != "" {
			return fmt.Sprintf(" (the server refused the OAuth2 token: check that user %q is the account the token was issued for, or run \"gsendmail auth login %s\")", a.User, a.Name)
		}
	}
	return ""
}

// Submit connects, sends one message and quits: the whole job of one
// sendmail invocation. With a password and AUTH PLAIN, the AUTH travels
// in the same write as the message's MAIL/RCPT/BDAT group, one round trip
// fewer; an AUTH refusal is then Send's error, with the same exit code
// (77, or 75 for 4xx) and text.
func Submit(ctx context.Context, a *config.Account, d Deps, env Envelope, msg io.Reader) (*Session, error) {
	if a.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Deadline)
		defer cancel()
	}
	s, err := connect(ctx, a, d, true)
	if err != nil {
		return s, err
	}
	if msg, err = s.sevenBit(env.EightBit, d, &env, msg); err != nil {
		s.Client.QuitAfterFailure()
		return s, err
	}
	if err := s.Send(ctx, env, msg); err != nil {
		s.Client.QuitAfterFailure()
		return s, err
	}
	// The message is accepted; a failing QUIT changes nothing for the caller.
	_ = s.Close()
	return s, nil
}

// sevenBit converts an 8-bit message for a server without 8BITMIME, or
// refuses it, before anything is sent.
func (s *Session) sevenBit(eightBit bool, d Deps, env *Envelope, msg io.Reader) (io.Reader, error) {
	if !eightBit {
		return msg, nil
	}
	if _, ok := s.Client.Extension("8BITMIME"); ok {
		return msg, nil
	}
	if d.SevenBit == nil {
		return nil, withAccount(s.Account, sysexits.New(sysexits.Unavailable, errors.New("the message has 8-bit data and the server does not offer 8BITMIME (RFC 6152); encode it with quoted-printable or base64")))
	}
	m, size, eight, err := d.SevenBit()
	if err != nil {
		return nil, err
	}
	env.Size, env.EightBit = size, eight
	return m, nil
}

// DefaultTimeout is used when an account sets none.
const DefaultTimeout = 60 * time.Second
