package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

// The caller names the account: submit prefixes a send's error with
// account "NAME" (host:port), the auth command with account "NAME". An
// error from here names it only inside a command the user must type, so
// the one line names it once.
func TestTokenErrorsNameTheAccountOnlyInTheCommandToRun(t *testing.T) {
	const acct = "acme-mail"
	for _, tc := range []struct {
		name string
		prep func(t *testing.T, srv *oauthtest.Server, c *Config) // before the call
		call func(c *Config) error                                // nil: AccessToken
		code int
		says string
	}{
		{name: "no stored token", code: sysexits.NoPerm, says: "no OAuth2 token stored"},
		{name: "revoked refresh token", code: sysexits.NoPerm, says: "the refresh token was refused (invalid_grant)",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) { srv.Revoke(seed(t, srv, c)) }},
		{name: "refused client", code: sysexits.Config, says: "refused the client (invalid_client)",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				seed(t, srv, c)
				srv.SetError("/token", 401, "invalid_client", "")
			}},
		{name: "refused scopes", code: sysexits.Config, says: "refused the scopes (invalid_scope)",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				seed(t, srv, c)
				srv.SetError("/token", 400, "invalid_scope", "")
			}},
		{name: "access denied", code: sysexits.NoPerm, says: "access was denied at the provider",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				seed(t, srv, c)
				srv.SetError("/token", 400, "access_denied", "")
			}},
		{name: "another refusal", code: sysexits.NoPerm, says: "refused the request (HTTP 400, invalid_request)",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				seed(t, srv, c)
				srv.SetError("/token", 400, "invalid_request", "")
			}},
		{name: "unreachable endpoint", code: sysexits.TempFail, says: "could not reach token endpoint",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				seed(t, srv, c)
				c.TokenURL = "http://127.0.0.1:1/token"
			}},
		{name: "unusable keyring", code: sysexits.TempFail, says: "cannot read the refresh token in the",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) {
				c.Store = NewKeyringStore(errKeyring{errors.New("keyring locked")}, acct)
			}},
		{name: "a configuration error", code: sysexits.Config, says: "client_id is not set",
			prep: func(t *testing.T, srv *oauthtest.Server, c *Config) { c.ClientID = "" }},
		{name: "an imported token refused", code: sysexits.NoPerm, says: "the refresh token given was refused (invalid_grant)",
			call: func(c *Config) error {
				return c.Import(context.Background(), strings.NewReader("rt_unknown_"+strings.Repeat("y", 20)+"\n"))
			}},
		{name: "nothing to import", code: sysexits.Usage, says: "gsendmail auth import " + acct + " < token.txt",
			call: func(c *Config) error { return c.Import(context.Background(), strings.NewReader("")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, "generic")
			c.Account = acct
			if tc.prep != nil {
				tc.prep(t, srv, c)
			}
			var err error
			if tc.call != nil {
				err = tc.call(c)
			} else {
				_, err = c.AccessToken(context.Background())
			}
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			rest := err.Error()
			for _, cmd := range []string{"gsendmail auth login " + acct, "gsendmail auth import " + acct} {
				rest = strings.ReplaceAll(rest, cmd, "")
			}
			if strings.Contains(rest, acct) {
				t.Errorf("error %q names the account outside the command to run", err)
			}
		})
	}
}
