package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func TestAccessTokenRefreshesOnceThenServesFromCache(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	seed(t, srv, c)

	tok, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if user, ok := srv.UserOf(tok); !ok || user != "user@example.com" {
		t.Fatalf("access token %q not issued by the server for the user (user %q)", tok, user)
	}
	again, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Errorf("second call returned a different token")
	}
	if n := srv.Requests("/token"); n != 1 {
		t.Errorf("token endpoint requests = %d, want 1", n)
	}
	// AuthStyleInParams: client credentials go in the body.
	form := srv.LastForm("/token")
	if form.Get("grant_type") != "refresh_token" || form.Get("client_id") == "" || form.Get("client_secret") == "" {
		t.Errorf("refresh request form lacks grant_type/client credentials: keys %v", keys(form))
	}
	if m := fileMode(t, c.CacheFile); m != 0o600 {
		t.Errorf("cache mode = %o, want 600", m)
	}
	if m := fileMode(t, filepath.Dir(c.CacheFile)); m != 0o700 {
		t.Errorf("state dir mode = %o, want 700", m)
	}
}

func keys(v map[string][]string) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

func writeCacheFile(t *testing.T, c *Config, token string, expiry time.Time) {
	t.Helper()
	data, _ := json.Marshal(cacheEntry{AccessToken: token, Expiry: expiry, TokenType: "Bearer"})
	if err := writeFileAtomic(c.CacheFile, data); err != nil {
		t.Fatal(err)
	}
}

func TestAccessTokenRefreshesOnlyWithinRefreshMargin(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		expiresIn    time.Duration
		margin       time.Duration
		wantRequests int
	}{
		{"valid well beyond default margin", time.Hour, 0, 0},
		{"inside default 5 minute margin", 4 * time.Minute, 0, 1},
		{"already expired", -time.Minute, 0, 1},
		{"beyond a custom margin", 10 * time.Minute, 2 * time.Minute, 0},
		{"inside a custom margin", 10 * time.Minute, 20 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, "generic")
			c.Now = func() time.Time { return now }
			c.RefreshMargin = tt.margin
			seed(t, srv, c)
			writeCacheFile(t, c, "at_cached", now.Add(tt.expiresIn))
			tok, err := c.AccessToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n := srv.Requests("/token"); n != tt.wantRequests {
				t.Errorf("token endpoint requests = %d, want %d", n, tt.wantRequests)
			}
			if (tok == "at_cached") != (tt.wantRequests == 0) {
				t.Errorf("token = %q; cached token used = %v, want %v", tok, tok == "at_cached", tt.wantRequests == 0)
			}
		})
	}
}

func TestAccessTokenIgnoresCacheReadableByOthers(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	seed(t, srv, c)
	writeCacheFile(t, c, "at_cached", time.Now().Add(time.Hour))
	if err := os.Chmod(c.CacheFile, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok == "at_cached" {
		t.Error("used an access token from a world-readable cache")
	}
	if m := fileMode(t, c.CacheFile); m != 0o600 {
		t.Errorf("rewritten cache mode = %o, want 600", m)
	}
}

func TestRotatedRefreshTokenIsPersistedAndOldOneRefused(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.Rotate(true)
	c := newTestConfig(t, srv, "microsoft")
	old := seed(t, srv, c)

	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := stored(t, c)
	if now == old {
		t.Fatal("rotated refresh token was not persisted")
	}
	if srv.Valid(old) {
		t.Error("server still accepts the old refresh token")
	}
	if !srv.Valid(now) {
		t.Error("persisted refresh token is not the server's current one")
	}
	// No temp files left beside the store.
	entries, _ := os.ReadDir(filepath.Dir(c.CacheFile))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	// The next refresh must use the new token and succeed.
	if err := c.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatalf("refresh after rotation: %v", err)
	}
	if n := srv.Requests("/token"); n != 2 {
		t.Errorf("token endpoint requests = %d, want 2", n)
	}
}

func TestInvalidGrantIsNoPermWithExactLoginCommand(t *testing.T) {
	tests := []struct {
		name, provider, account string
		description             string
		want                    string
	}{
		{
			name: "generic", provider: "generic", account: "work",
			want: `the refresh token was refused (invalid_grant): run "gsendmail auth login work" (the provider says: "Token has been expired or revoked")`,
		},
		{
			name: "google adds the testing-app hint", provider: "google", account: "gmail",
			want: `the refresh token was refused (invalid_grant): run "gsendmail auth login gmail" (Google expires refresh tokens after 7 days for apps in "Testing" status: publish the app, or log in again) (the provider says: "Token has been expired or revoked")`,
		},
		{
			name: "microsoft explains AADSTS700082", provider: "microsoft", account: "o365",
			description: "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: 0000\r\nCorrelation ID: 1111",
			want:        `the refresh token was refused (invalid_grant): run "gsendmail auth login o365" (AADSTS700082: the refresh token expired after 90 days of inactivity)`,
		},
		{
			name: "microsoft explains AADSTS50173", provider: "microsoft", account: "o365",
			description: "AADSTS50173: The provided grant has expired due to it being revoked",
			want:        `the refresh token was refused (invalid_grant): run "gsendmail auth login o365" (AADSTS50173: the grant expired because the password was changed or sessions were revoked)`,
		},
		{
			name: "account names needing quotes are shell-quoted", provider: "generic", account: "my mail",
			want: `the refresh token was refused (invalid_grant): run "gsendmail auth login 'my mail'" (the provider says: "Token has been expired or revoked")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, tt.provider)
			c.Account = tt.account
			rt := seed(t, srv, c)
			if tt.description != "" {
				srv.SetError("/token", 400, "invalid_grant", tt.description)
			} else {
				srv.Revoke(rt)
			}
			_, err := c.AccessToken(context.Background())
			wantCode(t, err, sysexits.NoPerm)
			if err.Error() != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.want)
			}
			noSecrets(t, err.Error(), rt, c.ClientSecret)
			if stored(t, c) != rt {
				t.Error("refresh token changed after invalid_grant")
			}
		})
	}
}

func TestTemporaryTokenEndpointFailuresKeepRefreshToken(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*oauthtest.Server, *Config)
		want  string
	}{
		{"HTTP 500", func(s *oauthtest.Server, c *Config) { s.SetFail("/token", 500) }, "unavailable (HTTP 500"},
		{"HTTP 503", func(s *oauthtest.Server, c *Config) { s.SetFail("/token", 503) }, "unavailable (HTTP 503"},
		{"HTTP 429", func(s *oauthtest.Server, c *Config) { s.SetFail("/token", 429) }, "unavailable (HTTP 429"},
		{"HTTP 408", func(s *oauthtest.Server, c *Config) { s.SetFail("/token", 408) }, "unavailable (HTTP 408"},
		{"temporarily_unavailable with 400", func(s *oauthtest.Server, c *Config) {
			s.SetError("/token", 400, "temporarily_unavailable", "")
		}, "unavailable (HTTP 400, temporarily_unavailable)"},
		{"slow server beyond the client timeout", func(s *oauthtest.Server, c *Config) {
			s.SetDelay(time.Minute)
			c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
		}, "could not reach token endpoint"},
		{"100 MB response body", func(s *oauthtest.Server, c *Config) { s.SetHugeBody(true) }, "larger than 1 MiB"},
		{"connection refused", func(s *oauthtest.Server, c *Config) {
			c.TokenURL = "http://127.0.0.1:1/token"
		}, "could not reach token endpoint 127.0.0.1:1"},
		{"context deadline", func(s *oauthtest.Server, c *Config) { s.SetDelay(time.Minute) }, "could not reach token endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, "generic")
			rt := seed(t, srv, c)
			tt.setup(srv, c)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if tt.name != "context deadline" {
				ctx = context.Background()
			}
			_, err := c.AccessToken(ctx)
			wantCode(t, err, sysexits.TempFail)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			noSecrets(t, err.Error(), rt, c.ClientSecret)
			if stored(t, c) != rt {
				t.Error("refresh token changed after a temporary failure")
			}
			if _, err := os.Stat(c.CacheFile); err == nil {
				t.Error("cache written after a failed refresh")
			}
		})
	}
}

func TestHugeTokenResponseIsReadWithBoundedMemory(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	seed(t, srv, c)
	srv.SetHugeBody(true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := c.AccessToken(context.Background())
	runtime.ReadMemStats(&after)
	wantCode(t, err, sysexits.TempFail)
	// The body is 100 MB; the client may hold about the 1 MiB cap (and
	// x/oauth2's growing read buffer), never the body.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("allocated %d MiB reading a 100 MB token response", grew>>20)
	}
}

func TestTokenEndpointErrorsMapToExitCodes(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		code, desc  string
		provider    string
		wantExit    int
		wantContain string
	}{
		{"invalid_client is a config error", 401, "invalid_client", "", "generic", sysexits.Config, "check oauth_client_id and oauth_client_secret"},
		{"unauthorized_client is a config error", 400, "unauthorized_client", "", "generic", sysexits.Config, "(unauthorized_client)"},
		{"AADSTS7000215 explains the secret", 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.", "microsoft", sysexits.Config, "use the secret's value (not its ID)"},
		{"AADSTS700016 app not in tenant", 400, "unauthorized_client", "AADSTS700016: Application with identifier 'x' was not found", "microsoft", sysexits.Config, "not found in the tenant"},
		{"AADSTS65001 consent missing", 400, "invalid_grant", "AADSTS65001: The user or administrator has not consented", "microsoft", sysexits.NoPerm, "not consented"},
		{"AADSTS50076 MFA required", 400, "invalid_grant", "AADSTS50076: Due to a configuration change made by your administrator", "microsoft", sysexits.NoPerm, "multi-factor authentication is now required"},
		{"AADSTS50079 MFA enrolment", 400, "invalid_grant", "AADSTS50079: user must enroll", "microsoft", sysexits.NoPerm, "enrol in multi-factor"},
		{"unknown AADSTS code is shown bare", 400, "invalid_grant", "AADSTS12345678: something new", "microsoft", sysexits.NoPerm, "(AADSTS12345678)"},
		{"invalid_scope is a config error", 400, "invalid_scope", "", "generic", sysexits.Config, "check oauth_scopes"},
		{"unknown 4xx refusal asks to log in", 403, "weird_error", "", "generic", sysexits.NoPerm, "(HTTP 403, weird_error)"},
		{"hostile error code is sanitised", 400, "bad\ncode<script>", "", "generic", sysexits.NoPerm, "badcodescript"},
		{"5xx wins over invalid_grant", 502, "invalid_grant", "", "generic", sysexits.TempFail, "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, tt.provider)
			rt := seed(t, srv, c)
			srv.SetError("/token", tt.status, tt.code, tt.desc)
			_, err := c.AccessToken(context.Background())
			wantCode(t, err, tt.wantExit)
			if !strings.Contains(err.Error(), tt.wantContain) {
				t.Errorf("error %q does not contain %q", err, tt.wantContain)
			}
			noSecrets(t, err.Error(), rt, c.ClientSecret, "Trace ID")
			if stored(t, c) != rt {
				t.Error("refresh token changed")
			}
		})
	}
}

func TestNoStoredRefreshTokenAsksToLogIn(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.Account = "x"
	_, err := c.AccessToken(context.Background())
	wantCode(t, err, sysexits.NoPerm)
	if want := `no OAuth2 token stored: run "gsendmail auth login x"`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if n := srv.Requests("/token"); n != 0 {
		t.Errorf("token endpoint requests = %d, want 0", n)
	}
}

func TestInvalidateForcesOneRefresh(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	seed(t, srv, c)
	first, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(); err != nil {
		t.Errorf("invalidating twice: %v", err)
	}
	second, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Error("got the invalidated token again")
	}
	if n := srv.Requests("/token"); n != 2 {
		t.Errorf("token endpoint requests = %d, want 2", n)
	}
}

func TestRotatedTokenThatCannotBeSavedFailsLoudly(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.Rotate(true)
	c := newTestConfig(t, srv, "generic")
	rt := seed(t, srv, c)
	c.Store = &failingSaveStore{rt: rt}
	_, err := c.AccessToken(context.Background())
	if err == nil {
		t.Fatal("rotation that could not be saved was silently accepted")
	}
	if !strings.Contains(err.Error(), "rotated the refresh token") {
		t.Errorf("error %q does not say the rotated token was not saved", err)
	}
	noSecrets(t, err.Error(), rt)
}

type failingSaveStore struct{ rt string }

func (s *failingSaveStore) Load() (string, error) { return s.rt, nil }
func (s *failingSaveStore) Save(string) error {
	return sysexits.New(sysexits.CantCreat, os.ErrPermission)
}
func (s *failingSaveStore) Delete() error { return nil }
func (s *failingSaveStore) Where() string { return "test" }

func TestStatusAndLogout(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	now := time.Now()
	if si := c.Status(now); si.HasRefreshToken || si.Valid || !si.AccessTokenExpiry.IsZero() {
		t.Errorf("status before login = %+v, want empty", si)
	}
	rt := seed(t, srv, c)
	tok, err := c.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	si := c.Status(now)
	if !si.HasRefreshToken || !si.Valid || si.AccessTokenExpiry.Before(now) {
		t.Errorf("status after refresh = %+v", si)
	}
	if !strings.HasPrefix(si.Where, "file ") {
		t.Errorf("Where = %q, want the file store", si.Where)
	}
	if s := strings.Join([]string{si.Where, si.Problem}, " "); strings.Contains(s, rt) || strings.Contains(s, tok) {
		t.Error("status exposes a token")
	}
	if si := c.Status(si.AccessTokenExpiry.Add(time.Second)); si.Valid {
		t.Error("status says valid after the expiry")
	}
	if err := c.Logout(); err != nil {
		t.Fatal(err)
	}
	if si := c.Status(now); si.HasRefreshToken || si.Valid {
		t.Errorf("status after logout = %+v", si)
	}
	if _, err := c.AccessToken(context.Background()); sysexits.Code(err) != sysexits.NoPerm {
		t.Errorf("AccessToken after logout: %v, want exit 77", err)
	}
}

func TestResolveProviderPresets(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantAuth string
		wantTok  string
		wantDev  string
		scopes   string
		twoStep  bool
	}{
		{name: "google", cfg: Config{Provider: "google", ClientID: "id"},
			wantAuth: "https://accounts.google.com/o/oauth2/auth", wantTok: "https://oauth2.googleapis.com/token",
			scopes: "https://mail.google.com/"},
		{name: "microsoft default tenant", cfg: Config{Provider: "microsoft", ClientID: "id"},
			wantAuth: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
			wantTok:  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
			wantDev:  "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
			scopes:   "https://outlook.office.com/SMTP.Send offline_access", twoStep: true},
		{name: "microsoft consumers", cfg: Config{Provider: "microsoft", Tenant: "consumers", ClientID: "id"},
			wantTok: "https://login.microsoftonline.com/consumers/oauth2/v2.0/token", twoStep: true},
		{name: "microsoft GUID tenant", cfg: Config{Provider: "microsoft", Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "id"},
			wantTok: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token", twoStep: true},
		{name: "microsoft domain tenant", cfg: Config{Provider: "microsoft", Tenant: "contoso.onmicrosoft.com", ClientID: "id"},
			wantTok: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", twoStep: true},
		{name: "tenant with a path is refused", cfg: Config{Provider: "microsoft", Tenant: "../evil", ClientID: "id"}, wantErr: "tenant"},
		{name: "tenant word is refused", cfg: Config{Provider: "microsoft", Tenant: "mycompany", ClientID: "id"}, wantErr: "tenant"},
		{name: "tenant on google is refused", cfg: Config{Provider: "google", Tenant: "common", ClientID: "id"}, wantErr: "remove tenant"},
		{name: "generic needs token_url", cfg: Config{Provider: "generic", ClientID: "id"}, wantErr: "token_url is not set"},
		{name: "generic with URLs", cfg: Config{Provider: "generic", ClientID: "id", AuthURL: "https://a.example/auth", TokenURL: "https://a.example/token", Scopes: []string{"s1", "s2"}},
			wantAuth: "https://a.example/auth", wantTok: "https://a.example/token", scopes: "s1 s2"},
		{name: "plain http to a remote host is refused", cfg: Config{Provider: "generic", ClientID: "id", TokenURL: "http://a.example/token"}, wantErr: "use https"},
		{name: "plain http to loopback is allowed", cfg: Config{Provider: "generic", ClientID: "id", TokenURL: "http://127.0.0.1:8080/token"}, wantTok: "http://127.0.0.1:8080/token"},
		{name: "missing client_id", cfg: Config{Provider: "google"}, wantErr: "client_id is not set"},
		{name: "missing provider", cfg: Config{ClientID: "id"}, wantErr: "provider is not set"},
		{name: "unknown provider", cfg: Config{Provider: "yahoo", ClientID: "id"}, wantErr: `unknown oauth2 provider "yahoo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Account = "acct"
			p, err := tt.cfg.Resolve()
			if tt.wantErr != "" {
				wantCode(t, err, sysexits.Config)
				// The caller names the account (submit's prefix, the
				// auth command's); naming it here too would say it twice.
				if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "acct") {
					t.Errorf("error %q does not say %q, or names the account", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantAuth != "" && p.AuthURL != tt.wantAuth {
				t.Errorf("AuthURL = %q, want %q", p.AuthURL, tt.wantAuth)
			}
			if p.TokenURL != tt.wantTok {
				t.Errorf("TokenURL = %q, want %q", p.TokenURL, tt.wantTok)
			}
			if tt.wantDev != "" && p.DeviceURL != tt.wantDev {
				t.Errorf("DeviceURL = %q, want %q", p.DeviceURL, tt.wantDev)
			}
			if tt.scopes != "" && strings.Join(p.Scopes, " ") != tt.scopes {
				t.Errorf("Scopes = %q, want %q", p.Scopes, tt.scopes)
			}
			if p.TwoStepAuth != tt.twoStep {
				t.Errorf("TwoStepAuth = %v, want %v", p.TwoStepAuth, tt.twoStep)
			}
		})
	}
}

func TestResolveDoesNotShareThePresetTable(t *testing.T) {
	c := Config{Account: "a", Provider: "google", ClientID: "id"}
	p, err := c.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	p.Scopes[0] = "changed"
	p.AuthParams["prompt"] = "none"
	if g, _ := preset("google"); g.Scopes[0] != "https://mail.google.com/" || g.AuthParams["prompt"] != "consent" {
		t.Error("modifying a resolved provider changed the preset")
	}
}

func TestNoPresetEmbedsAClientID(t *testing.T) {
	for _, name := range presetNames {
		p, ok := preset(name)
		if !ok || p.Name != name {
			t.Fatalf("preset(%q) = %q, %v", name, p.Name, ok)
		}
		for _, u := range []string{p.AuthURL, p.TokenURL, p.DeviceURL} {
			if strings.Contains(u, "client_id") {
				t.Errorf("preset %s embeds a client_id in %s", name, u)
			}
		}
	}
	c := Config{Account: "a", Provider: "google"}
	if _, err := c.Resolve(); err == nil {
		t.Error("google preset works without a configured client_id")
	}
}

func TestDefaultStateDir(t *testing.T) {
	tests := []struct {
		name   string
		system bool
		env    map[string]string
		want   string
	}{
		{"system account", true, map[string]string{"HOME": "/home/u"}, "/var/lib/gsendmail"},
		{"XDG_STATE_HOME", false, map[string]string{"XDG_STATE_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/gsendmail"},
		{"relative XDG_STATE_HOME is ignored", false, map[string]string{"XDG_STATE_HOME": "rel", "HOME": "/home/u"}, "/home/u/.local/state/gsendmail"},
		{"HOME fallback", false, map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/gsendmail"},
		{"nothing known", false, map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DefaultStateDir(tt.system, func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("DefaultStateDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultFilesLiveInStateDirWithSafeNames(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", home)
	tests := []struct{ account, file string }{
		{"gmail", "gmail.access.json"},
		{"work@example.com", "work@example.com.access.json"},
		{"../../etc/x", "%2E.%2F..%2Fetc%2Fx.access.json"},
		{".hidden", "%2Ehidden.access.json"},
		{"", "default.access.json"},
	}
	for _, tt := range tests {
		c := &Config{Account: tt.account}
		got, err := c.CachePath()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(home, "gsendmail", "oauth", tt.file); got != want {
			t.Errorf("account %q: cache path %q, want %q", tt.account, got, want)
		}
	}
}

func TestDefaultStoreIsAFileBesideTheCache(t *testing.T) {
	srv := oauthtest.NewServer(t)
	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", home)
	id, secret := srv.Client()
	c := &Config{Account: "acct", Provider: "generic", ClientID: id, ClientSecret: secret, TokenURL: srv.TokenURL()}
	srv.AddRefreshToken("rt_default", "u")
	if err := NewFileStore(filepath.Join(home, "gsendmail", "oauth", "acct.refresh.json")).Save("rt_default"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "gsendmail", "oauth", "acct.access.json")); err != nil {
		t.Errorf("default cache not written: %v", err)
	}
}

func TestClassifyNeverEchoesTheResponseBody(t *testing.T) {
	c := &Config{Account: "a"}
	p := Provider{TokenURL: "https://t.example/token"}
	body := []byte(`{"access_token":"SECRET-AT","refresh_token":"SECRET-RT"}`)
	err := c.classify(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, Body: body}, nil, p, opRefresh)
	noSecrets(t, err.Error(), "SECRET-AT", "SECRET-RT")
	wantCode(t, err, sysexits.NoPerm)
}
