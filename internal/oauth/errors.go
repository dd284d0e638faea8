package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// op says which token request failed; the advice differs.
type op int

const (
	opRefresh op = iota // refresh with the stored token
	opImport            // validating an imported refresh token
	opCode              // authorization code exchange
	opDevice            // device code polling
)

// aadsts explains the Microsoft identity platform error codes users hit
// most with SMTP tokens. The code appears in error_description. A switch,
// not a map, so that the package has no initialiser (see preset).
func aadsts(code string) (string, bool) {
	switch code {
	case "AADSTS700082":
		return "the refresh token expired after 90 days of inactivity", true
	case "AADSTS50173":
		return "the grant expired because the password was changed or sessions were revoked", true
	case "AADSTS65001":
		return "the user or an administrator has not consented to the app's SMTP.Send permission", true
	case "AADSTS7000215":
		return "the client secret is invalid: use the secret's value (not its ID), or create a new secret if it expired", true
	case "AADSTS50076":
		return "multi-factor authentication is now required", true
	case "AADSTS50079":
		return "the user must enrol in multi-factor authentication", true
	case "AADSTS700016":
		return "the application (oauth_client_id) was not found in the tenant: check oauth_client_id and oauth_tenant", true
	case "AADSTS70008":
		return "the authorization code or refresh token has expired", true
	case "AADSTS70043":
		return "the refresh token expired because of a Conditional Access sign-in frequency policy", true
	case "AADSTS50020":
		return "the account is not in the tenant: use oauth_tenant = \"common\" or the account's own tenant", true
	case "AADSTS9002313":
		return "the request was malformed: check oauth_client_id, oauth_scopes and the redirect URI registration", true
	case "AADSTS7000218":
		return "the app requires a client secret: set oauth_client_secret, or enable public client flows for the app", true
	}
	return "", false
}

var aadstsRE = &lazyre.Regexp{Expr: `AADSTS[0-9]{4,9}`}

// aadstsNote returns " (AADSTSnnn: explanation)" for a known code in desc,
// or " (AADSTSnnn)" for an unknown one, or "".
func aadstsNote(desc string) string {
	code := aadstsRE.Get().FindString(desc)
	if code == "" {
		return ""
	}
	if why, ok := aadsts(code); ok {
		return " (" + code + ": " + why + ")"
	}
	return " (" + code + ")"
}

// safeCode keeps an error code printable and short; it comes from the network.
func safeCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "no error code"
	}
	return b.String()
}

func endpointHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "the token endpoint"
}

// classify turns an x/oauth2 or transport error into a one-line error with
// an exit code. It never includes the response body, a token, a code or the
// client secret.
func (c *Config) classify(err error, st *call, p Provider, o op) error {
	if err == nil {
		return nil
	}
	host := endpointHost(p.TokenURL)
	login := c.loginCommand()
	if st != nil && st.tooLarge.Load() || errors.Is(err, errTooLarge) || strings.Contains(err.Error(), errTooLarge.Error()) {
		return temp(fmt.Errorf("token endpoint %s sent a response larger than 1 MiB: try again later; if it persists, check token_url", host))
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code := re.ErrorCode
		note := describeError(re.ErrorDescription)
		// RFC 6749 5.2 error codes first; a server-side problem is
		// temporary whatever code it carries.
		if status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 ||
			code == "temporarily_unavailable" || code == "server_error" {
			return temp(fmt.Errorf("token endpoint %s is unavailable (HTTP %d, %s): try again later; the stored refresh token is kept", host, status, safeCode(code)))
		}
		switch code {
		case "invalid_grant":
			switch o {
			case opImport:
				return sysexits.New(sysexits.NoPerm, fmt.Errorf("the refresh token given was refused (invalid_grant)%s: check it was issued to this oauth_client_id, or run %q", note, login))
			case opCode:
				return sysexits.New(sysexits.NoPerm, fmt.Errorf("the authorization code was refused (invalid_grant)%s: run %q again", note, login))
			}
			return sysexits.New(sysexits.NoPerm, fmt.Errorf("the refresh token was refused (invalid_grant): run %q%s%s", login, p.InvalidGrantHint, note))
		case "invalid_client", "unauthorized_client":
			return sysexits.New(sysexits.Config, fmt.Errorf("token endpoint %s refused the client (%s)%s: check oauth_client_id and oauth_client_secret", host, code, note))
		case "invalid_scope":
			return sysexits.New(sysexits.Config, fmt.Errorf("token endpoint %s refused the scopes (invalid_scope)%s: check oauth_scopes", host, note))
		case "access_denied":
			return sysexits.New(sysexits.NoPerm, fmt.Errorf("access was denied at the provider%s: run %q and approve the request", note, login))
		case "expired_token":
			return sysexits.New(sysexits.NoPerm, fmt.Errorf("the device code expired before it was approved: run %q again", login))
		}
		if status == 0 {
			status = http.StatusOK
		}
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("token endpoint %s refused the request (HTTP %d, %s)%s: run %q", host, status, safeCode(code), note, login))
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		detail := err
		if ue != nil {
			detail = ue.Err // without the URL's method/quoting noise
		}
		return temp(fmt.Errorf("could not reach token endpoint %s: %v: check the network connection and try again later", host, detail))
	}
	// Unparseable or incomplete 2xx responses (a captive portal, a proxy).
	return temp(fmt.Errorf("token endpoint %s sent an unusable response: try again later; if it persists, check token_url", host))
}
