package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const verifier = "a-verifier-long-enough-to-be-valid-per-rfc7636-section-4.1"

func authQuery(s *Server) url.Values {
	id, _ := s.Client()
	return url.Values{
		"client_id":             {id},
		"redirect_uri":          {"http://127.0.0.1:4567/"},
		"response_type":         {"code"},
		"code_challenge":        {challenge(verifier)},
		"code_challenge_method": {"S256"},
		"state":                 {"st8"},
		"scope":                 {"mail"},
	}
}

type tokenReply struct {
	status int
	body   map[string]any
}

func post(t *testing.T, u string, form url.Values) tokenReply {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decoding %s reply: %v", u, err)
	}
	return tokenReply{resp.StatusCode, body}
}

func (s *Server) clientForm(kv ...string) url.Values {
	id, secret := s.Client()
	f := url.Values{"client_id": {id}, "client_secret": {secret}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func codeFor(t *testing.T, s *Server) string {
	t.Helper()
	loc, err := s.Authorize(s.AuthURL() + "?" + authQuery(s).Encode())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, "http://127.0.0.1:4567/?") || u.Query().Get("state") != "st8" {
		t.Fatalf("redirect %q does not go back to redirect_uri with the state", loc)
	}
	return u.Query().Get("code")
}

func TestAuthRedirectsBackWithCodeAndState(t *testing.T) {
	s := NewServer(t)
	if code := codeFor(t, s); code == "" {
		t.Fatal("no code in the redirect")
	}
	if got := s.LastAuthParams().Get("scope"); got != "mail" {
		t.Errorf("LastAuthParams scope = %q", got)
	}
	if s.Requests(PathAuth) != 1 || s.Requests("auth") != 1 {
		t.Errorf("auth requests = %d", s.Requests(PathAuth))
	}
}

func TestAuthRefusesBadAuthorizationRequests(t *testing.T) {
	tests := []struct {
		name string
		edit func(url.Values)
	}{
		{"unknown client_id", func(q url.Values) { q.Set("client_id", "other") }},
		{"non-loopback redirect_uri", func(q url.Values) { q.Set("redirect_uri", "http://evil.example/") }},
		{"https redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://127.0.0.1:4567/") }},
		{"no code_challenge", func(q url.Values) { q.Del("code_challenge") }},
		{"plain PKCE method", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"no state", func(q url.Values) { q.Del("state") }},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			q := authQuery(s)
			tt.edit(q)
			if loc, err := s.Authorize(s.AuthURL() + "?" + q.Encode()); err == nil {
				t.Errorf("bad request redirected to %q", loc)
			}
		})
	}
}

func TestDenyRedirectsWithAccessDenied(t *testing.T) {
	s := NewServer(t)
	s.Deny(true)
	loc, err := s.Authorize(s.AuthURL() + "?" + authQuery(s).Encode())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("code") != "" || u.Query().Get("state") != "st8" {
		t.Errorf("deny redirect = %q", loc)
	}
}

func TestCodeExchangeChecksPKCEVerifierAndIsSingleUse(t *testing.T) {
	tests := []struct {
		name     string
		form     func(code string) []string
		wantCode int
		wantErr  string
	}{
		{"right verifier", func(c string) []string {
			return []string{"code", c, "code_verifier", verifier, "redirect_uri", "http://127.0.0.1:4567/"}
		}, 200, ""},
		{"wrong verifier", func(c string) []string {
			return []string{"code", c, "code_verifier", verifier + "x", "redirect_uri", "http://127.0.0.1:4567/"}
		}, 400, "invalid_grant"},
		{"missing verifier", func(c string) []string {
			return []string{"code", c, "redirect_uri", "http://127.0.0.1:4567/"}
		}, 400, "invalid_grant"},
		{"other redirect_uri", func(c string) []string {
			return []string{"code", c, "code_verifier", verifier, "redirect_uri", "http://127.0.0.1:9999/"}
		}, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			code := codeFor(t, s)
			form := s.clientForm(append([]string{"grant_type", "authorization_code"}, tt.form(code)...)...)
			r := post(t, s.TokenURL(), form)
			if r.status != tt.wantCode || (tt.wantErr != "" && r.body["error"] != tt.wantErr) {
				t.Fatalf("reply %d %v, want %d %q", r.status, r.body, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode != 200 {
				return
			}
			at, _ := r.body["access_token"].(string)
			rt, _ := r.body["refresh_token"].(string)
			if !s.Valid(at) || !s.Valid(rt) {
				t.Error("issued tokens are not valid")
			}
			if user, _ := s.UserOf(at); user != "user@example.com" {
				t.Errorf("access token user = %q", user)
			}
			if again := post(t, s.TokenURL(), form); again.status != 400 {
				t.Errorf("code reused: %d", again.status)
			}
		})
	}
}

func TestRefreshGrantWithAndWithoutRotation(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		s := NewServer(t)
		s.Rotate(rotate)
		s.AccessTTL(90 * time.Second)
		s.AddRefreshToken("rt_1", "u@example.com")
		r := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1"))
		if r.status != 200 || r.body["expires_in"] != float64(90) || r.body["token_type"] != "Bearer" {
			t.Fatalf("rotate=%v: reply %d %v", rotate, r.status, r.body)
		}
		newRT, hasNew := r.body["refresh_token"].(string)
		if hasNew != rotate {
			t.Errorf("rotate=%v: new refresh token present = %v", rotate, hasNew)
		}
		again := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1"))
		if rotate {
			if again.status != 400 || again.body["error"] != "invalid_grant" {
				t.Errorf("old refresh token after rotation: %d %v, want invalid_grant", again.status, again.body)
			}
			if got := s.RefreshTokens("u@example.com"); len(got) != 1 || got[0] != newRT {
				t.Errorf("live refresh tokens = %v, want only the new one", got)
			}
		} else if again.status != 200 {
			t.Errorf("refresh token stopped working without rotation: %d", again.status)
		}
	}
}

func TestTokenEndpointChecksClientCredentials(t *testing.T) {
	s := NewServer(t)
	s.AddRefreshToken("rt_1", "u")
	bad := s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1", "client_secret", "wrong")
	if r := post(t, s.TokenURL(), bad); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", r.status, r.body)
	}
	// HTTP Basic client authentication (RFC 6749 2.3.1) is accepted too.
	id, secret := s.Client()
	req, _ := http.NewRequest("POST", s.TokenURL(), strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
	// A public client has no secret to check.
	s.SetClient("public", "")
	if r := post(t, s.TokenURL(), url.Values{"client_id": {"public"}, "grant_type": {"refresh_token"}, "refresh_token": {"rt_1"}}); r.status != 200 {
		t.Errorf("public client: %d %v", r.status, r.body)
	}
}

func TestDeviceFlowAnswersConfiguredStepsThenTokens(t *testing.T) {
	s := NewServer(t)
	s.DeviceInterval(3)
	d := post(t, s.DeviceURL(), s.clientForm("scope", "mail"))
	if d.status != 200 || d.body["interval"] != float64(3) || d.body["verification_uri"] != s.URL+"/verify" || d.body["user_code"] == "" {
		t.Fatalf("device reply %d %v", d.status, d.body)
	}
	dc, _ := d.body["device_code"].(string)
	poll := func() tokenReply {
		return post(t, s.TokenURL(), s.clientForm("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", dc))
	}
	for _, want := range []string{"authorization_pending", "slow_down"} {
		if r := poll(); r.status != 400 || r.body["error"] != want {
			t.Fatalf("poll: %d %v, want %s", r.status, r.body, want)
		}
	}
	r := poll()
	if r.status != 200 || r.body["refresh_token"] == nil {
		t.Fatalf("final poll: %d %v", r.status, r.body)
	}
	if r := poll(); r.status != 400 || r.body["error"] != "expired_token" {
		t.Errorf("device code reused: %d %v", r.status, r.body)
	}
}

func TestTokenInfoAcceptsTheWaysDovecotSendsTheToken(t *testing.T) {
	s := NewServer(t)
	s.AddRefreshToken("rt_1", "alice@example.com")
	r := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1"))
	at := r.body["access_token"].(string)
	tests := []struct {
		name   string
		url    string
		header string
	}{
		{"tokeninfo_url with ?access_token= appended", s.TokenInfoURL() + at, ""},
		{"tokeninfo_url ending in ? appended", s.URL + PathTokenInfo + "?" + at, ""},
		{"token as path suffix", s.URL + PathTokenInfo + "/" + at, ""},
		{"bearer header", s.URL + PathTokenInfo, "Bearer " + at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, tok := range []string{at, "at_bogus"} {
				u := strings.ReplaceAll(tt.url, at, tok)
				req, _ := http.NewRequest("GET", u, nil)
				if tt.header != "" {
					req.Header.Set("Authorization", strings.ReplaceAll(tt.header, at, tok))
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body map[string]any
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if tok == at && (resp.StatusCode != 200 || body["email"] != "alice@example.com" || body["active"] != true) {
					t.Errorf("valid token: %d %v", resp.StatusCode, body)
				}
				if tok != at && resp.StatusCode != 401 {
					t.Errorf("bogus token: %d %v, want 401", resp.StatusCode, body)
				}
			}
		})
	}
	s.Revoke(at)
	resp, err := http.Get(s.TokenInfoURL() + at)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
}

func TestExpiredAccessTokenIsInactive(t *testing.T) {
	s := NewServer(t)
	s.AccessTTL(0)
	s.AddRefreshToken("rt_1", "u")
	r := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1"))
	at := r.body["access_token"].(string)
	if s.Valid(at) {
		t.Error("access token with zero lifetime is valid")
	}
	if got := post(t, s.IntrospectURL(), url.Values{"token": {at}}); got.body["active"] != false {
		t.Errorf("introspect expired token: %v", got.body)
	}
}

func TestIntrospectionFollowsRFC7662(t *testing.T) {
	s := NewServer(t)
	s.AddRefreshToken("rt_1", "bob@example.com")
	at := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1")).body["access_token"].(string)
	r := post(t, s.IntrospectURL(), url.Values{"token": {at}})
	if r.status != 200 || r.body["active"] != true || r.body["username"] != "bob@example.com" || r.body["exp"] == nil {
		t.Errorf("active token: %d %v", r.status, r.body)
	}
	r = post(t, s.IntrospectURL(), url.Values{"token": {"nope"}})
	if r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
		t.Errorf("inactive token: %d %v, want 200 {active:false}", r.status, r.body)
	}
}

func TestFailureKnobsAndCounters(t *testing.T) {
	s := NewServer(t)
	s.AddRefreshToken("rt_1", "u")
	form := s.clientForm("grant_type", "refresh_token", "refresh_token", "rt_1")
	s.SetFail("token", 503)
	if r := post(t, s.TokenURL(), form); r.status != 503 || r.body["error"] != "server_error" {
		t.Errorf("SetFail 503: %d %v", r.status, r.body)
	}
	s.SetError(PathToken, 400, "invalid_grant", "AADSTS700082: expired")
	if r := post(t, s.TokenURL(), form); r.status != 400 || r.body["error_description"] != "AADSTS700082: expired" {
		t.Errorf("SetError: %d %v", r.status, r.body)
	}
	s.SetFail(PathToken, 0)
	if r := post(t, s.TokenURL(), form); r.status != 200 {
		t.Errorf("after clearing: %d %v", r.status, r.body)
	}
	if n := s.Requests("token"); n != 3 {
		t.Errorf("Requests(token) = %d, want 3", n)
	}
	if n := s.Requests(PathDevice); n != 0 {
		t.Errorf("Requests(device) = %d, want 0", n)
	}
	if got := s.LastForm(PathToken).Get("refresh_token"); got != "rt_1" {
		t.Errorf("LastForm refresh_token = %q", got)
	}
}

func TestHugeBodyStreamsAbout100MB(t *testing.T) {
	s := NewServer(t)
	s.SetHugeBody(true)
	resp, err := http.PostForm(s.TokenURL(), s.clientForm("grant_type", "refresh_token"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n < 100<<20 {
		t.Errorf("huge body is %d bytes, want at least 100 MiB", n)
	}
}

func TestDelayEndsWhenTheClientGivesUp(t *testing.T) {
	s := NewServer(t)
	s.SetDelay(time.Hour)
	cl := &http.Client{Timeout: 20 * time.Millisecond}
	if _, err := cl.PostForm(s.TokenURL(), s.clientForm("grant_type", "refresh_token")); err == nil {
		t.Fatal("delayed request succeeded")
	}
	// s.Close at cleanup would block for the hour if the handler did not
	// notice the client leaving.
}
