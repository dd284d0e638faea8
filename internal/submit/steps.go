package submit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The steps of a submission, exposed so that doctor walks the path a
// send takes instead of a copy of it: Dial reaches the server (TCP, TLS,
// EHLO; dial.go), Offered and ChooseMechanism pick the SASL mechanism,
// Authenticate gets the credential and runs AUTH with the OAuth2 retry.
// Connect is built from them; a Trace in Deps lets a caller watch each
// step.

// Trace observes the steps of a submission. Every callback may be nil;
// they are called on the caller's goroutine, in order.
type Trace struct {
	// Dial is called before the TCP connection to addr is opened, and
	// Connected after, with the connection or the error and how long it
	// took (dial.go).
	Dial      func(addr string)
	Connected func(conn net.Conn, elapsed time.Duration, err error)
	// EHLOName is called once the EHLO name is chosen, or could not be.
	EHLOName func(c ehlo.Choice, err error)
	// Password is called once the password has been read for PLAIN or
	// LOGIN, with the error when it could not be. (OAuth2 tokens are
	// observed through the TokenSource that Deps.OAuth returns.)
	Password func(err error)
	// Auth is called after each AUTH exchange with its outcome; retry is
	// true for the second one, after a refused token was refreshed.
	Auth func(mech string, retry bool, err error)
}

// EHLOChooser is the chooser of the EHLO name for an account: base (nil:
// the system's) with the account's ehlo_name and its smarthost, so the
// name is never the server's own.
func EHLOChooser(a *config.Account, base *ehlo.Chooser) ehlo.Chooser {
	var ch ehlo.Chooser
	if base != nil {
		ch = *base
	}
	ch.Configured = a.EHLOName
	ch.Smarthost = a.Host
	return ch
}

// Offered returns the SASL mechanisms the server offers in its EHLO reply
// (RFC 4954 3), upper-cased; nil when it offers no AUTH.
func Offered(c *smtp.Client) []string {
	p, ok := c.Extension("AUTH")
	if !ok {
		return nil
	}
	return strings.Fields(strings.ToUpper(p))
}

// Preference returns the SASL mechanisms an account's auth method may
// use, best first: a password prefers PLAIN to LOGIN, OAuth2 XOAUTH2 to
// OAUTHBEARER, and a named mechanism is only itself. It is nil for
// auth = none.
func Preference(a *config.Account) ([]string, error) {
	switch method := a.AuthMethod(); method {
	case config.AuthNone:
		return nil, nil
	case config.AuthPassword:
		return []string{"PLAIN", "LOGIN"}, nil
	case config.AuthPlain, config.AuthLogin, config.AuthXOAUTH2, config.AuthOAUTHBEARER:
		return []string{strings.ToUpper(method)}, nil
	case config.AuthOAuth2:
		return []string{"XOAUTH2", "OAUTHBEARER"}, nil
	}
	return nil, sysexits.New(sysexits.Config, fmt.Errorf("unknown auth method %q", a.Auth))
}

// ChooseMechanism picks the mechanism for the account among those the
// server offers; "" for auth = none. The server offering no AUTH at all,
// or none the account can use, is a protocol error (76).
func ChooseMechanism(a *config.Account, offered []string) (string, error) {
	prefer, err := Preference(a)
	if err != nil || prefer == nil {
		return "", err
	}
	if len(offered) == 0 {
		return "", sysexits.New(sysexits.Protocol, fmt.Errorf("the server offers no AUTH mechanism on this connection but the account is set to authenticate: check host, port and tls, or set auth = \"none\""))
	}
	mech, ok := sasl.Choose(offered, prefer)
	if !ok {
		return "", sysexits.New(sysexits.Protocol, fmt.Errorf("the server offers AUTH %s but the account needs %s: set auth to one of the offered mechanisms", strings.Join(offered, " "), strings.Join(prefer, " or ")))
	}
	return mech, nil
}

// Authenticate gets the credential for mech (the password, or an access
// token from d.OAuth) and runs AUTH on c. A bearer token refused with an
// OAuth2 challenge (400/401: expired or revoked early) is dropped, a fresh
// one obtained, and AUTH retried once. Microsoft's servers get the
// two-step AUTH they expect. With pipeline, an AUTH PLAIN may be left
// pending to travel with the first message (smtp.AuthOptions.Pipeline).
func Authenticate(ctx context.Context, c *smtp.Client, a *config.Account, mech string, d Deps, pipeline bool) error {
	tr := d.Trace
	if tr == nil {
		tr = &Trace{}
	}
	auth := func(m sasl.Client, opts smtp.AuthOptions, retry bool) error {
		err := c.Auth(ctx, m, opts)
		if tr.Auth != nil {
			tr.Auth(mech, retry, err)
		}
		return err
	}
	switch mech {
	case "":
		return nil
	case "PLAIN", "LOGIN":
		pw, err := secret.Password(ctx, a.PasswordSource(), d.Keyring)
		if tr.Password != nil {
			tr.Password(err)
		}
		if err != nil {
			return err
		}
		if mech == "LOGIN" {
			return auth(sasl.Login(a.User, pw), smtp.AuthOptions{}, false)
		}
		// Pipeline: the client sends AUTH PLAIN with the message when
		// the server allows it (PIPELINING, line fits) and otherwise
		// authenticates here.
		return auth(sasl.Plain(a.User, pw), smtp.AuthOptions{Pipeline: pipeline}, false)
	}
	if d.OAuth == nil {
		return sysexits.New(sysexits.Software, errors.New("OAuth2 is not wired in this build"))
	}
	ts, err := d.OAuth(a)
	if err != nil {
		return err
	}
	opts := smtp.AuthOptions{TwoStep: strings.EqualFold(a.OAuthProvider, config.ProviderMicrosoft)}
	attempt := func(retry bool) error {
		tok, err := ts.AccessToken(ctx)
		if err != nil {
			return err
		}
		if mech == "XOAUTH2" {
			return auth(sasl.XOAUTH2(a.User, tok), opts, retry)
		}
		return auth(sasl.OAuthBearer(a.User, tok, a.Host, a.Port), opts, retry)
	}
	err = attempt(false)
	var ae *smtp.AuthError
	if errors.As(err, &ae) && ae.OAuthStatus != "" {
		if ierr := ts.Invalidate(); ierr != nil {
			return ierr
		}
		err = attempt(true)
	}
	return err
}
