// Package oauthtest is a fake OAuth2 authorization server for tests: the
// authorization endpoint with PKCE, the token endpoint (refresh_token,
// authorization_code, device_code grants, optional refresh-token rotation),
// the device authorization endpoint, and the two validation endpoints
// Dovecot's oauth2 passdb can call (tokeninfo, RFC 7662 introspection).
//
// It owns nothing of gsendmail's client logic and does not import it, so
// any package's tests can use it. Knobs inject failures, delays and a huge
// body; counters report how many requests each endpoint got.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Endpoint paths. Requests and the knobs take either form ("/token" or "token").
const (
	PathAuth       = "/auth"
	PathToken      = "/token"
	PathDevice     = "/device"
	PathTokenInfo  = "/tokeninfo"
	PathIntrospect = "/introspect"
)

// Server is a running fake authorization server.
type Server struct {
	// URL is the base URL (http://127.0.0.1:PORT).
	URL string

	srv      *httptest.Server
	counters map[string]*atomic.Int64

	mu           sync.Mutex
	clientID     string
	clientSecret string
	user         string
	accessTTL    time.Duration
	accessSize   int
	rotate       bool
	deny         bool
	huge         bool
	delay        time.Duration
	fail         map[string]failure
	deviceSteps  []string
	interval     int
	refresh      map[string]string // refresh token -> user
	access       map[string]grant  // access token -> grant
	codes        map[string]authCode
	devices      map[string]*device
	lastAuth     url.Values
	lastForm     map[string]url.Values
}

type failure struct {
	status            int
	code, description string
}

type grant struct {
	user   string
	expiry time.Time
}

type authCode struct {
	user, challenge, redirect string
}

type device struct {
	user string
	step int
}

// NewServer starts a server on loopback; it is closed when the test ends.
// Defaults: client "gsendmail-test-client" with secret "test-secret",
// user "user@example.com", access tokens valid for an hour, no rotation,
// device polls answered authorization_pending then slow_down then success,
// device interval 1.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server on loopback with NewServer's defaults, outside a
// test (demos, tools). The caller must call Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s := &Server{
		counters:     map[string]*atomic.Int64{},
		clientID:     "gsendmail-test-client",
		clientSecret: "test-secret",
		user:         "user@example.com",
		accessTTL:    time.Hour,
		fail:         map[string]failure{},
		deviceSteps:  []string{"authorization_pending", "slow_down"},
		interval:     1,
		refresh:      map[string]string{},
		access:       map[string]grant{},
		codes:        map[string]authCode{},
		devices:      map[string]*device{},
		lastForm:     map[string]url.Values{},
	}
	for _, p := range []string{PathAuth, PathToken, PathDevice, PathTokenInfo, PathIntrospect} {
		s.counters[p] = new(atomic.Int64)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(PathAuth, s.wrap(PathAuth, s.handleAuth))
	mux.HandleFunc(PathToken, s.wrap(PathToken, s.handleToken))
	mux.HandleFunc(PathDevice, s.wrap(PathDevice, s.handleDevice))
	mux.HandleFunc(PathTokenInfo, s.wrap(PathTokenInfo, s.handleTokenInfo))
	mux.HandleFunc(PathTokenInfo+"/", s.wrap(PathTokenInfo, s.handleTokenInfo))
	mux.HandleFunc(PathIntrospect, s.wrap(PathIntrospect, s.handleIntrospect))
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AuthURL, TokenURL, DeviceURL, TokenInfoURL and IntrospectURL are the
// endpoints' addresses. TokenInfoURL ends in "?access_token=" so that a
// client appending the token (Dovecot's tokeninfo_url) works.
func (s *Server) AuthURL() string       { return s.URL + PathAuth }
func (s *Server) TokenURL() string      { return s.URL + PathToken }
func (s *Server) DeviceURL() string     { return s.URL + PathDevice }
func (s *Server) TokenInfoURL() string  { return s.URL + PathTokenInfo + "?access_token=" }
func (s *Server) IntrospectURL() string { return s.URL + PathIntrospect }

// Client returns the registered client ID and secret.
func (s *Server) Client() (id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientID, s.clientSecret
}

// SetClient replaces the registered client; an empty secret makes it a
// public client (no secret checked).
func (s *Server) SetClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientID, s.clientSecret = id, secret
}

// SetUser sets the user that /auth and the device flow log in.
func (s *Server) SetUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = user
}

// AddRefreshToken registers rt as a valid refresh token for user.
func (s *Server) AddRefreshToken(rt, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[rt] = user
}

// Revoke invalidates an access or refresh token.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, token)
	delete(s.access, token)
}

// Valid reports whether token is a live refresh token or unexpired access
// token.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[token]; ok {
		return true
	}
	g, ok := s.access[token]
	return ok && time.Now().Before(g.expiry)
}

// UserOf returns the user an access token was issued to.
func (s *Server) UserOf(access string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[access]
	return g.user, ok
}

// RefreshTokens returns the live refresh tokens of user.
func (s *Server) RefreshTokens(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for rt, u := range s.refresh {
		if u == user {
			out = append(out, rt)
		}
	}
	return out
}

// SetFail makes endpoint answer status (with a JSON error body whose code
// fits the status) until cleared with status 0.
func (s *Server) SetFail(endpoint string, status int) {
	code := "invalid_request"
	switch {
	case status >= 500:
		code = "server_error"
	case status == http.StatusUnauthorized:
		code = "invalid_client"
	case status == http.StatusTooManyRequests:
		code = "temporarily_unavailable"
	}
	s.SetError(endpoint, status, code, "")
}

// SetError makes endpoint answer status with {"error": code,
// "error_description": description} until cleared with status 0.
func (s *Server) SetError(endpoint string, status int, code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := norm(endpoint)
	if status == 0 {
		delete(s.fail, p)
		return
	}
	s.fail[p] = failure{status: status, code: code, description: description}
}

// SetDelay delays every response by d (cut short when the client gives up).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetHugeBody makes the token endpoint stream a 100 MB body with status 200.
func (s *Server) SetHugeBody(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.huge = on
}

// AccessTTL sets the lifetime of access tokens issued from now on.
func (s *Server) AccessTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessTTL = d
}

// AccessTokenSize makes access tokens issued from now on n bytes long
// (padded with letters), like the multi-kilobyte JWTs Microsoft issues;
// 0 restores the short default.
func (s *Server) AccessTokenSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessSize = n
}

// Rotate makes each refresh return a new refresh token and invalidate the
// old one (Microsoft's behaviour; the old one then gets invalid_grant).
func (s *Server) Rotate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = on
}

// Deny makes /auth redirect with error=access_denied (the user clicked
// "Cancel").
func (s *Server) Deny(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = on
}

// DeviceSteps sets the error codes the token endpoint answers, in order,
// for each device code before issuing tokens (default
// authorization_pending, slow_down).
func (s *Server) DeviceSteps(steps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deviceSteps = append([]string(nil), steps...)
}

// DeviceInterval sets the polling interval /device announces, in seconds.
func (s *Server) DeviceInterval(secs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interval = secs
}

// Requests returns how many requests endpoint has received.
func (s *Server) Requests(endpoint string) int {
	c, ok := s.counters[norm(endpoint)]
	if !ok {
		return 0
	}
	return int(c.Load())
}

// LastAuthParams returns the query of the last /auth request.
func (s *Server) LastAuthParams() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneValues(s.lastAuth)
}

// LastForm returns the form of the last POST to endpoint.
func (s *Server) LastForm(endpoint string) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneValues(s.lastForm[norm(endpoint)])
}

// Authorize plays the browser: it GETs authURL (the user approves at once)
// and returns the redirect Location without following it.
func (s *Server) Authorize(authURL string) (string, error) {
	cl := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := cl.Get(authURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("authorization endpoint: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp.Header.Get("Location"), nil
}

func norm(endpoint string) string {
	if !strings.HasPrefix(endpoint, "/") {
		return "/" + endpoint
	}
	return endpoint
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func random(prefix string) string {
	return prefix + rand.Text()
}

// wrap counts, delays and injects failures before calling h.
func (s *Server) wrap(path string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.counters[path].Add(1)
		// Read the body first: only then does net/http notice a client
		// that hangs up, which ends a delay early.
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
				return
			}
			s.mu.Lock()
			s.lastForm[path] = cloneValues(r.PostForm)
			s.mu.Unlock()
		}
		s.mu.Lock()
		delay, f, failing := s.delay, s.fail[path], s.fail[path].status != 0
		s.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if failing {
			writeError(w, f.status, f.code, f.description)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // RFC 6749 5.1
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes an RFC 6749 5.2 error response.
func writeError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	writeJSON(w, status, body)
}

func isLoopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// handleAuth is the authorization endpoint (RFC 6749 4.1.1, RFC 7636 4.3).
// Errors about the client or redirect URI are shown to the "user" (HTTP
// 400), never redirected (RFC 6749 4.1.2.1).
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.lastAuth = cloneValues(q)
	clientID, user, deny := s.clientID, s.user, s.deny
	s.mu.Unlock()
	redirect := q.Get("redirect_uri")
	switch {
	case q.Get("client_id") != clientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case !isLoopbackRedirect(redirect):
		http.Error(w, "redirect_uri must be an http loopback address", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		http.Error(w, "response_type must be code", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		http.Error(w, "PKCE with code_challenge_method=S256 is required", http.StatusBadRequest)
		return
	case q.Get("state") == "":
		http.Error(w, "state is required", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if deny {
		back.Set("error", "access_denied")
	} else {
		code := random("code_")
		s.mu.Lock()
		s.codes[code] = authCode{user: user, challenge: q.Get("code_challenge"), redirect: redirect}
		s.mu.Unlock()
		back.Set("code", code)
	}
	http.Redirect(w, r, redirect+"?"+back.Encode(), http.StatusFound)
}

// clientOK checks client authentication (RFC 6749 2.3.1), in the body or
// in HTTP Basic.
func (s *Server) clientOK(r *http.Request) bool {
	s.mu.Lock()
	id, secret := s.clientID, s.clientSecret
	s.mu.Unlock()
	gotID, gotSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		gotID, _ = url.QueryUnescape(u)
		gotSecret, _ = url.QueryUnescape(p)
	}
	return gotID == id && (secret == "" || gotSecret == secret)
}

// issue creates tokens for user; withRefresh adds a refresh token.
func (s *Server) issue(w http.ResponseWriter, user string, withRefresh bool, oldRefresh string) {
	s.mu.Lock()
	at := random("at_")
	if len(at) < s.accessSize {
		at += strings.Repeat("x", s.accessSize-len(at))
	}
	s.access[at] = grant{user: user, expiry: time.Now().Add(s.accessTTL)}
	body := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(s.accessTTL / time.Second),
		"scope":        "mail",
	}
	if withRefresh {
		rt := random("rt_")
		s.refresh[rt] = user
		if oldRefresh != "" {
			delete(s.refresh, oldRefresh)
		}
		body["refresh_token"] = rt
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// handleToken is the token endpoint (RFC 6749 3.2, 4.1.3, 6; RFC 7636 4.6;
// RFC 8628 3.4).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	s.mu.Lock()
	huge := s.huge
	s.mu.Unlock()
	if huge {
		streamHuge(w)
		return
	}
	if !s.clientOK(r) {
		writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "refresh_token":
		rt := f.Get("refresh_token")
		s.mu.Lock()
		user, ok := s.refresh[rt]
		rotate := s.rotate
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		if rotate {
			s.issue(w, user, true, rt)
		} else {
			s.issue(w, user, false, "")
		}
	case "authorization_code":
		code := f.Get("code")
		s.mu.Lock()
		ac, ok := s.codes[code]
		delete(s.codes, code) // single use (RFC 6749 4.1.2)
		s.mu.Unlock()
		if !ok || ac.redirect != f.Get("redirect_uri") {
			writeError(w, http.StatusBadRequest, "invalid_grant", "unknown code or redirect_uri mismatch")
			return
		}
		// RFC 7636 4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != ac.challenge {
			writeError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
			return
		}
		s.issue(w, ac.user, true, "")
	case "urn:ietf:params:oauth:grant-type:device_code":
		s.mu.Lock()
		d, ok := s.devices[f.Get("device_code")]
		var step string
		if ok && d.step < len(s.deviceSteps) {
			step = s.deviceSteps[d.step]
			d.step++
		} else if ok {
			delete(s.devices, f.Get("device_code"))
		}
		s.mu.Unlock()
		switch {
		case !ok:
			writeError(w, http.StatusBadRequest, "expired_token", "unknown or used device_code")
		case step != "":
			writeError(w, http.StatusBadRequest, step, "")
		default:
			s.issue(w, d.user, true, "")
		}
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

// streamHuge sends 100 MB of JSON-looking bytes without holding them.
func streamHuge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	chunk := []byte(strings.Repeat("a", 64<<10))
	io.WriteString(w, `{"access_token":"`)
	for sent := 0; sent < 100<<20; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	io.WriteString(w, `"}`)
}

// handleDevice is the device authorization endpoint (RFC 8628 3.1, 3.2).
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	s.mu.Lock()
	id, user, interval := s.clientID, s.user, s.interval
	s.mu.Unlock()
	if r.PostForm.Get("client_id") != id {
		writeError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	dc := random("dc_")
	s.mu.Lock()
	s.devices[dc] = &device{user: user}
	s.mu.Unlock()
	uc := strings.ToUpper(rand.Text()[:8])
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":      dc,
		"user_code":        uc[:4] + "-" + uc[4:],
		"verification_uri": s.URL + "/verify",
		"expires_in":       900,
		"interval":         interval,
	})
}

// bearer extracts the access token the way Dovecot's oauth2 passdb sends
// it: an Authorization: Bearer header (introspection_mode = auth), a
// token/access_token parameter, the raw query ("tokeninfo_url = ...?"
// with the token appended), or a path suffix (/tokeninfo/TOKEN).
func bearer(r *http.Request, base string) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if r.Method == http.MethodPost {
		if t := r.PostForm.Get("token"); t != "" {
			return t
		}
	}
	q := r.URL.Query()
	for _, k := range []string{"access_token", "token"} {
		if t := q.Get(k); t != "" {
			return t
		}
	}
	if raw := r.URL.RawQuery; raw != "" && !strings.Contains(raw, "=") {
		if t, err := url.QueryUnescape(raw); err == nil {
			return t
		}
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, base+"/"); ok {
		return rest
	}
	return ""
}

func (s *Server) lookup(token string) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[token]
	if !ok || !time.Now().Before(g.expiry) {
		return grant{}, false
	}
	return g, true
}

// handleTokenInfo answers like Google's tokeninfo: 200 with the user's
// email for a live access token, 401 otherwise.
func (s *Server) handleTokenInfo(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(bearer(r, PathTokenInfo))
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	id, _ := s.Client()
	writeJSON(w, http.StatusOK, map[string]any{
		"email":          g.user,
		"email_verified": true,
		"sub":            g.user,
		"active":         true,
		"aud":            id,
		"scope":          "mail",
		"expires_in":     int(time.Until(g.expiry) / time.Second),
	})
}

// handleIntrospect is RFC 7662 2.1/2.2: a live token gives active=true with
// its user; anything else 200 {"active": false}.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(bearer(r, PathIntrospect))
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	id, _ := s.Client()
	writeJSON(w, http.StatusOK, map[string]any{
		"active":     true,
		"username":   g.user,
		"email":      g.user,
		"sub":        g.user,
		"client_id":  id,
		"scope":      "mail",
		"token_type": "Bearer",
		"exp":        g.expiry.Unix(),
	})
}
