// Package oauth owns gsendmail's OAuth2 client side: provider presets,
// the access-token cache and its refresh (with a cross-process lock and
// persistence of rotated refresh tokens), the refresh-token stores
// (keyring, 0600 file, automatic), and the interactive login flows
// (loopback redirect with PKCE, paste-the-redirect-URL, device code,
// importing an existing refresh token).
//
// It does not speak SMTP or SASL (XOAUTH2/OAUTHBEARER encoding belongs to
// the SASL layer), does not parse the configuration file (the caller fills
// in a Config), and does not decide exit codes beyond attaching one to each
// error it returns (see internal/sysexits).
//
// Protocol references: RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 8252
// (native apps, loopback redirect), RFC 8628 (device authorization grant).
package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Provider is a preset for one authorization server. Presets are data
// (preset returns them); a Config names one and may override its URLs and
// scopes.
type Provider struct {
	// Name is the preset's name ("google", "microsoft", "generic").
	Name string
	// AuthURL, TokenURL and DeviceURL are the endpoints. "{tenant}" is
	// replaced with the configured tenant when Tenanted is true.
	AuthURL, TokenURL, DeviceURL string
	// Scopes requested at login. Offline access is part of them where the
	// provider expresses it as a scope (Microsoft's offline_access).
	Scopes []string
	// AuthParams are extra parameters for the authorization URL (Google
	// needs access_type=offline and prompt=consent to issue a refresh token).
	AuthParams map[string]string
	// DeviceFlow reports whether the RFC 8628 device flow may be used.
	DeviceFlow bool
	// DeviceRefusal explains why DeviceFlow is false, for the error message.
	DeviceRefusal string
	// TwoStepAuth tells the SMTP layer to send XOAUTH2 as "AUTH XOAUTH2",
	// wait for the 334 continuation, then send the payload (Microsoft
	// requires this).
	TwoStepAuth bool
	// Tenanted providers substitute Config.Tenant (default DefaultTenant)
	// into their URLs.
	Tenanted      bool
	DefaultTenant string
	// InvalidGrantHint is appended to the invalid_grant error message.
	InvalidGrantHint string
}

// presetNames lists the presets preset knows, in the order the man page
// gives them.
var presetNames = []string{"google", "microsoft", "generic"}

// preset returns the named preset, built anew on each call, so a caller
// may change what it gets. No client ID is embedded: users register their
// own application and configure client_id. A function, not a map, so that
// the package has no initialiser: a send that uses no OAuth2 never runs
// this package's code (BENCHMARKS.md, peak memory).
func preset(name string) (Provider, bool) {
	switch name {
	case "google":
		return Provider{
			Name:       "google",
			AuthURL:    "https://accounts.google.com/o/oauth2/auth",
			TokenURL:   "https://oauth2.googleapis.com/token",
			DeviceURL:  "https://oauth2.googleapis.com/device/code",
			Scopes:     []string{"https://mail.google.com/"},
			AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
			DeviceFlow: false,
			DeviceRefusal: "Google does not allow the device flow for the mail scope: " +
				"log in with the browser flow instead (over ssh, use the paste-the-URL flow)",
			InvalidGrantHint: ` (Google expires refresh tokens after 7 days for apps in "Testing" status: publish the app, or log in again)`,
		}, true
	case "microsoft":
		return Provider{
			Name:          "microsoft",
			AuthURL:       "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
			TokenURL:      "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
			DeviceURL:     "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
			Scopes:        []string{"https://outlook.office.com/SMTP.Send", "offline_access"},
			DeviceFlow:    true,
			TwoStepAuth:   true,
			Tenanted:      true,
			DefaultTenant: "common",
		}, true
	case "generic":
		return Provider{
			Name:       "generic",
			DeviceFlow: true,
		}, true
	}
	return Provider{}, false
}

var guidRE = &lazyre.Regexp{Expr: `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`}

// validTenant accepts the Microsoft identity platform's tenant forms:
// common, consumers, organizations, a directory GUID, or a verified domain
// name (contoso.onmicrosoft.com). Anything else could change the URL path.
func validTenant(t string) bool {
	switch t {
	case "common", "consumers", "organizations":
		return true
	}
	if guidRE.Get().MatchString(t) {
		return true
	}
	return strings.Contains(t, ".") && ehlo.CheckDomain(t) == nil
}

// checkEndpoint requires https, or http to a loopback address (tests, local
// authorization servers). Tokens must not cross the network in clear text.
func checkEndpoint(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s %q is not an absolute http(s) URL: fix %s", key, raw, key)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%s %q uses plain http to a non-loopback host: use https", key, raw)
	}
	return fmt.Errorf("%s %q is not an http(s) URL: fix %s", key, raw, key)
}

// Resolve returns the provider preset for c with the tenant substituted and
// the Config's explicit URLs and scopes applied. Errors are configuration
// errors (exit 78).
func (c *Config) Resolve() (Provider, error) {
	name := c.Provider
	if name == "" {
		return Provider{}, c.configErr(errors.New(`oauth2 provider is not set: set provider = "google", "microsoft" or "generic"`))
	}
	p, ok := preset(name)
	if !ok {
		return Provider{}, c.configErr(fmt.Errorf(`unknown oauth2 provider %q: use "google", "microsoft" or "generic"`, name))
	}
	p.Scopes = append([]string(nil), p.Scopes...)
	params := make(map[string]string, len(p.AuthParams))
	for k, v := range p.AuthParams {
		params[k] = v
	}
	p.AuthParams = params
	if p.Tenanted {
		t := c.Tenant
		if t == "" {
			t = p.DefaultTenant
		}
		if !validTenant(t) {
			return Provider{}, c.configErr(fmt.Errorf(`oauth_tenant %q is not valid: use "common", "consumers", "organizations", a tenant GUID or a tenant domain name`, t))
		}
		for _, s := range []*string{&p.AuthURL, &p.TokenURL, &p.DeviceURL} {
			*s = strings.ReplaceAll(*s, "{tenant}", t)
		}
	} else if c.Tenant != "" {
		return Provider{}, c.configErr(fmt.Errorf("tenant is set but provider %q has no tenants: remove tenant", name))
	}
	if c.AuthURL != "" {
		p.AuthURL = c.AuthURL
	}
	if c.TokenURL != "" {
		p.TokenURL = c.TokenURL
	}
	if c.DeviceURL != "" {
		p.DeviceURL = c.DeviceURL
	}
	if len(c.Scopes) > 0 {
		p.Scopes = append([]string(nil), c.Scopes...)
	}
	if p.TokenURL == "" {
		return Provider{}, c.configErr(errors.New("oauth_token_url is not set: set it (and oauth_auth_url, oauth_scopes) for a generic provider"))
	}
	for _, e := range []struct{ key, val string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"device_url", p.DeviceURL}} {
		if e.val == "" {
			continue
		}
		if err := checkEndpoint(e.key, e.val); err != nil {
			return Provider{}, c.configErr(err)
		}
	}
	if c.ClientID == "" {
		return Provider{}, c.configErr(errors.New("client_id is not set: register an OAuth2 application with the provider and set client_id"))
	}
	return p, nil
}

// configErr marks err as a configuration error. It does not name the
// account: the caller does (submit's prefix on a send, the auth command's
// on its own).
func (c *Config) configErr(err error) error {
	return sysexits.New(sysexits.Config, err)
}
