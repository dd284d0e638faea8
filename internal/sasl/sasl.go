// Package sasl owns the client side of the SASL mechanisms gsendmail speaks
// (RFC 4422): thin constructors over github.com/emersion/go-sasl for PLAIN,
// LOGIN and OAUTHBEARER, its own XOAUTH2 (go-sasl dropped it), the parser
// for the JSON error challenge that OAuth2 servers send, and Choose, which
// picks a mechanism from what the server offers.
//
// It does not speak SMTP (internal/smtp runs the AUTH exchange), does not
// fetch or refresh tokens (internal/oauth) and does not read secrets
// (internal/secret).
package sasl

import (
	"strings"

	gosasl "github.com/emersion/go-sasl"
)

// Client is go-sasl's client mechanism interface, re-exported so callers
// import one package.
type Client = gosasl.Client

// Mechanism names as they appear in the EHLO AUTH keyword (RFC 4954 3).
const (
	MechPlain       = "PLAIN"
	MechLogin       = "LOGIN"
	MechXOAUTH2     = "XOAUTH2"
	MechOAuthBearer = "OAUTHBEARER"
)

// Plain returns a PLAIN client (RFC 4616) with an empty authorization
// identity.
func Plain(user, pass string) Client {
	return gosasl.NewPlainClient("", user, pass)
}

// Login returns a LOGIN client (draft-murchison-sasl-login). It sends the
// user name as the initial response and the password on the "Password:"
// challenge.
func Login(user, pass string) Client {
	return gosasl.NewLoginClient(user, pass)
}

// OAuthBearer returns an OAUTHBEARER client (RFC 7628). host and port are
// the server's, as the RFC asks; port 0 leaves it out.
//
// Unlike go-sasl's client, a JSON error challenge (RFC 7628 3.2.2) is
// answered with the single byte 0x01 the RFC requires instead of an error,
// so the exchange ends with the server's final reply; the parsed error is
// available from LastOAuthError.
func OAuthBearer(user, token, host string, port int) Client {
	return &oauthBearer{inner: gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{
		Username: user,
		Token:    token,
		Host:     host,
		Port:     port,
	})}
}

// XOAUTH2 returns an XOAUTH2 client; see NewXOAUTH2Client.
func XOAUTH2(user, token string) Client { return NewXOAUTH2Client(user, token) }

// OAuthErrorReporter is implemented by the OAuth2 mechanisms of this package:
// after a failed exchange it returns the error the server sent in its JSON
// challenge, if any.
type OAuthErrorReporter interface {
	LastOAuthError() (OAuthError, bool)
}

type oauthBearer struct {
	inner   gosasl.Client
	lastErr *OAuthError
}

func (o *oauthBearer) Start() (string, []byte, error) { return o.inner.Start() }

// Next answers the only challenge an OAUTHBEARER server sends: the JSON
// error. RFC 7628 3.2.3: the client must reply with a single %x01 so the
// server can send its final failure reply.
func (o *oauthBearer) Next(challenge []byte) ([]byte, error) {
	if e, err := ParseOAuthError(challenge); err == nil {
		o.lastErr = &e
	}
	return []byte{0x01}, nil
}

func (o *oauthBearer) LastOAuthError() (OAuthError, bool) {
	if o.lastErr == nil {
		return OAuthError{}, false
	}
	return *o.lastErr, true
}

// Choose returns the first mechanism in prefer that the server offers.
// Names compare case-insensitively (RFC 4422 3.1); the result is spelled
// as in prefer.
func Choose(offered []string, prefer []string) (string, bool) {
	for _, p := range prefer {
		for _, o := range offered {
			if strings.EqualFold(p, o) {
				return p, true
			}
		}
	}
	return "", false
}
