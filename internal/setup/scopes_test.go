package setup

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenericPresetOffersOpenIDOfflineAccess(t *testing.T) {
	for _, tc := range []struct {
		test    string
		answers string
		want    string
	}{
		{"the default is taken", "\n\n\ns3cr3t\n", "openid offline_access"},
		{"the user's answer wins", "\n\nopenid offline_access email\ns3cr3t\n", "openid offline_access email"},
	} {
		t.Run(tc.test, func(t *testing.T) {
			dir := t.TempDir()
			stderr, _, err := script{
				dir: dir,
				args: []string{"--auth", "oauth2", "--oauth-provider", "generic", "--host", "mail.example.org", "--tls", "tls",
					"--oauth-client-id", "cid", "--oauth-auth-url", "https://id.example.org/auth", "--oauth-token-url", "https://id.example.org/token",
					"--login", "paste", "--account", "corp", "--no-doctor", "me@example.org"},
				// port, user, scopes, client secret
				answers: tc.answers,
				hooks:   Hooks{Login: func(context.Context, string, string, string, io.Reader, io.Writer) error { return nil }},
			}.run(t)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, "[openid offline_access]") {
				t.Errorf("the scopes question does not offer openid offline_access:\n%s", stderr)
			}
			a := loadAt(t, filepath.Join(dir, "gsendmail", "config.toml")).Accounts["corp"]
			if got := strings.Join(a.OAuthScopes, " "); got != tc.want {
				t.Errorf("oauth_scopes = %q, want %q", got, tc.want)
			}
		})
	}
}
