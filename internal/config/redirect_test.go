package config

import (
	"strings"
	"testing"
)

func TestOAuthRedirectURIMustBeReceivable(t *testing.T) {
	const base = "[account.work]\nhost = \"smtp.example.org\"\n"
	for _, ok := range []string{"http://127.0.0.1:8765/", "http://localhost:8400/callback", "http://[::1]:9000/cb", "https://app.example/oauth/cb"} {
		f := mustLoad(t, base+`oauth_redirect_uri = "`+ok+`"`)
		if got := f.Accounts["work"].OAuthRedirectURI; got != ok {
			t.Errorf("oauth_redirect_uri = %q, want %q", got, ok)
		}
	}
	for _, tc := range []struct{ uri, want string }{
		{"http://127.0.0.1/", "has no port"},
		{"http://mail.example:8765/", "not loopback"},
		{"ftp://127.0.0.1:21/", "not an http or https"},
		{"http://127.0.0.1:8765/?x=1", "not a redirect URI"},
		{"127.0.0.1:8765", "not a redirect URI"},
	} {
		_, err := load(t, base+`oauth_redirect_uri = "`+tc.uri+`"`)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "oauth_redirect_uri") {
			t.Errorf("oauth_redirect_uri = %q: error %v, want one naming the key and saying %q", tc.uri, err, tc.want)
		}
	}
}
