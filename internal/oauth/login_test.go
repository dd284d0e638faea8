package oauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

// syncBuffer is a bytes.Buffer safe for the login goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// browser plays the user's browser for LoginLoopback: it approves at the
// fake authorization server, lets tamper edit the redirect, and follows it
// to the loopback listener. The page it got is sent on pages.
func browser(t *testing.T, srv *oauthtest.Server, tamper func(*url.URL)) (open func(string) error, pages chan string) {
	pages = make(chan string, 1)
	open = func(authURL string) error {
		go func() {
			loc, err := srv.Authorize(authURL)
			if err != nil {
				pages <- "authorize: " + err.Error()
				return
			}
			u, err := url.Parse(loc)
			if err != nil {
				pages <- "bad redirect: " + err.Error()
				return
			}
			if tamper != nil {
				tamper(u)
			}
			resp, err := http.Get(u.String())
			if err != nil {
				pages <- "redirect: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			pages <- string(b)
		}()
		return nil
	}
	return open, pages
}

func TestLoopbackLoginEndToEnd(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "google")
	open, pages := browser(t, srv, nil)
	var out syncBuffer
	if err := c.LoginLoopback(context.Background(), &out, open); err != nil {
		t.Fatal(err)
	}
	if page := <-pages; !strings.Contains(page, "You can close this window") {
		t.Errorf("browser page = %q", page)
	}
	rt := stored(t, c)
	if !srv.Valid(rt) {
		t.Error("stored refresh token is not one the server issued")
	}
	auth := srv.LastAuthParams()
	for k, want := range map[string]string{"access_type": "offline", "prompt": "consent", "code_challenge_method": "S256", "scope": "https://mail.google.com/"} {
		if got := auth.Get(k); got != want {
			t.Errorf("auth request %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(auth.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("redirect_uri = %q, want a 127.0.0.1 loopback", auth.Get("redirect_uri"))
	}
	if auth.Get("code_verifier") != "" {
		t.Error("the PKCE verifier was sent in the authorization URL")
	}
	if !strings.Contains(out.String(), srv.AuthURL()+"?") {
		t.Errorf("the authorization URL was not printed: %q", out.String())
	}
	// The access token from the login is cached: no refresh needed.
	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests("/token"); n != 1 {
		t.Errorf("token endpoint requests = %d, want 1 (the code exchange only)", n)
	}
	noSecrets(t, strings.ReplaceAll(out.String(), "\n", " "), rt, c.ClientSecret)
}

func TestLoopbackLoginRejectsStateMismatchWithoutExchange(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	open, pages := browser(t, srv, func(u *url.URL) {
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
	})
	err := c.LoginLoopback(context.Background(), io.Discard, open)
	wantCode(t, err, sysexits.NoPerm)
	if !strings.Contains(err.Error(), "different state") {
		t.Errorf("error %q does not mention the state", err)
	}
	<-pages
	if n := srv.Requests("/token"); n != 0 {
		t.Errorf("token endpoint requests = %d after a state mismatch, want 0", n)
	}
	if _, err := c.Store.Load(); err == nil {
		t.Error("a token was stored after a state mismatch")
	}
}

func TestLoopbackLoginReportsAccessDenied(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.Deny(true)
	c := newTestConfig(t, srv, "generic")
	open, pages := browser(t, srv, nil)
	err := c.LoginLoopback(context.Background(), io.Discard, open)
	wantCode(t, err, sysexits.NoPerm)
	if !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), `run "gsendmail auth login gmail"`) {
		t.Errorf("error %q does not explain the denial and the fix", err)
	}
	<-pages
	if n := srv.Requests("/token"); n != 0 {
		t.Errorf("token endpoint requests = %d, want 0", n)
	}
}

func TestLoopbackLoginIgnoresStrayRequestsAndTimesOut(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.loginTimeout = 200 * time.Millisecond
	var stray int
	open := func(authURL string) error {
		u, _ := url.Parse(authURL)
		redirect := u.Query().Get("redirect_uri")
		for _, p := range []string{"favicon.ico", ""} {
			resp, err := http.Get(redirect + p)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode >= 400 {
				stray++
			}
		}
		return nil
	}
	err := c.LoginLoopback(context.Background(), io.Discard, open)
	wantCode(t, err, sysexits.TempFail)
	if stray != 2 {
		t.Errorf("stray requests refused = %d, want 2", stray)
	}
}

func TestLoopbackLoginSurvivesMissingBrowser(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.loginTimeout = 100 * time.Millisecond
	var out syncBuffer
	err := c.LoginLoopback(context.Background(), &out, func(string) error { return io.ErrUnexpectedEOF })
	wantCode(t, err, sysexits.TempFail) // timed out waiting, not failed on the browser
	if !strings.Contains(out.String(), "open the address by hand") {
		t.Errorf("output does not tell the user to open the URL: %q", out.String())
	}
}

func TestCodeExchangeRequiresTheMatchingPKCEVerifier(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	p, err := c.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://127.0.0.1:9/"
	for _, tt := range []struct {
		name      string
		verifier  func(right string) string
		wantError bool
	}{
		{"wrong verifier refused", func(string) string { return oauth2.GenerateVerifier() }, true},
		{"empty verifier refused", func(string) string { return "" }, true},
		{"right verifier accepted", func(right string) string { return right }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			loc, err := srv.Authorize(authURL(c.oauth2Config(p, redirect), p, "st", verifier))
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(loc)
			code := u.Query().Get("code")
			_, err = c.exchange(context.Background(), p, redirect, code, tt.verifier(verifier))
			if tt.wantError {
				wantCode(t, err, sysexits.NoPerm)
				noSecrets(t, err.Error(), code, verifier, c.ClientSecret)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// pasteInput is an io.Reader whose content is computed on first read, when
// the login has already printed its URL.
type pasteInput struct {
	once sync.Once
	f    func() string
	r    io.Reader
}

func (p *pasteInput) Read(b []byte) (int, error) {
	p.once.Do(func() { p.r = strings.NewReader(p.f()) })
	return p.r.Read(b)
}

func printedURL(out string, prefix string) string {
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, prefix) {
			return f
		}
	}
	return ""
}

func TestPasteLoginAcceptsTheRedirectAddress(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(loc string) string
		errMsg string
		code   int
	}{
		{name: "whole address", edit: func(l string) string { return l + "\n" }},
		{name: "blank lines and spaces around it", edit: func(l string) string { return "\n\n   " + l + "  \r\n" }},
		{name: "only the query", edit: func(l string) string { return l[strings.IndexByte(l, '?'):] + "\n" }},
		{name: "forged state", edit: func(l string) string {
			u, _ := url.Parse(l)
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u.String() + "\n"
		}, errMsg: "different state", code: sysexits.NoPerm},
		{name: "no code", edit: func(string) string { return "http://127.0.0.1:1/?state=x\n" }, errMsg: "no code=", code: sysexits.Usage},
		{name: "nothing pasted", edit: func(string) string { return "" }, errMsg: "no redirect address was pasted", code: sysexits.Usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			c := newTestConfig(t, srv, "generic")
			var out syncBuffer
			in := &pasteInput{f: func() string {
				loc, err := srv.Authorize(printedURL(out.String(), srv.AuthURL()))
				if err != nil {
					t.Error(err)
					return ""
				}
				return tt.edit(loc)
			}}
			err := c.LoginPaste(context.Background(), &out, in)
			if tt.errMsg != "" {
				wantCode(t, err, tt.code)
				if !strings.Contains(err.Error(), tt.errMsg) {
					t.Errorf("error %q does not contain %q", err, tt.errMsg)
				}
				if n := srv.Requests("/token"); n != 0 {
					t.Errorf("token endpoint requests = %d, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !srv.Valid(stored(t, c)) {
				t.Error("stored refresh token is not valid at the server")
			}
		})
	}
}

func TestDeviceLoginPollsThroughPendingAndSlowDown(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.SetClient("public-client", "") // device flow clients are public
	c := newTestConfig(t, srv, "microsoft")
	var out syncBuffer
	if err := c.LoginDevice(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	// pending, slow_down, success.
	if n := srv.Requests("/token"); n != 3 {
		t.Errorf("token endpoint polls = %d, want 3", n)
	}
	if !strings.Contains(out.String(), srv.URL+"/verify") || !strings.Contains(out.String(), "enter the code ") {
		t.Errorf("output lacks the verification address and user code: %q", out.String())
	}
	if !srv.Valid(stored(t, c)) {
		t.Error("stored refresh token is not valid at the server")
	}
	if got := srv.LastForm("/device").Get("scope"); got != "https://outlook.office.com/SMTP.Send offline_access" {
		t.Errorf("device request scope = %q", got)
	}
}

func TestDeviceLoginWaitsFiveSecondsLongerAfterEachSlowDown(t *testing.T) {
	tests := []struct {
		name     string
		interval int
		steps    []string
		want     []time.Duration
	}{
		{"announced interval", 2, nil, []time.Duration{2}},
		{"pending keeps the interval", 1, []string{"authorization_pending", "authorization_pending"}, []time.Duration{1, 1, 1}},
		{"slow_down adds 5 each time", 1, []string{"slow_down", "authorization_pending", "slow_down"}, []time.Duration{1, 6, 6, 11}},
		{"no interval means 5", 0, []string{"slow_down"}, []time.Duration{5, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			srv.DeviceSteps(tt.steps...)
			srv.DeviceInterval(tt.interval)
			c := newTestConfig(t, srv, "generic")
			c.pollUnit = 1 // the waits are recorded in units, not slept
			var waits []time.Duration
			c.pollWait = func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}
			if err := c.LoginDevice(context.Background(), io.Discard); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(waits) != fmt.Sprint(tt.want) {
				t.Errorf("waits = %v units, want %v", waits, tt.want)
			}
		})
	}
}

func TestDeviceLoginFailures(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		setup    func(*oauthtest.Server)
		code     int
		want     string
	}{
		{"google refuses the device flow", "google", nil, sysexits.Config, "Google does not allow the device flow"},
		{"user denies", "generic", func(s *oauthtest.Server) { s.DeviceSteps("authorization_pending", "access_denied") }, sysexits.NoPerm, "denied"},
		{"code expires", "generic", func(s *oauthtest.Server) { s.DeviceSteps("expired_token") }, sysexits.NoPerm, "expired before it was approved"},
		{"device endpoint down", "generic", func(s *oauthtest.Server) { s.SetFail("/device", 503) }, sysexits.TempFail, "HTTP 503"},
		{"token endpoint down while polling", "generic", func(s *oauthtest.Server) { s.SetFail("/token", 500) }, sysexits.TempFail, "HTTP 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := newTestConfig(t, srv, tt.provider)
			err := c.LoginDevice(context.Background(), io.Discard)
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.provider == "google" && srv.Requests("/device") != 0 {
				t.Error("google device flow contacted the device endpoint")
			}
			if _, err := c.Store.Load(); err == nil {
				t.Error("a token was stored after a failed device login")
			}
		})
	}
}

func TestImportValidatesTheTokenBeforeStoringIt(t *testing.T) {
	tests := []struct {
		name   string
		input  func(valid string) string
		rotate bool
		code   int
		want   string
	}{
		{name: "valid token with whitespace", input: func(v string) string { return "\n  " + v + "\n\n" }},
		{name: "valid token, provider rotates", input: func(v string) string { return v }, rotate: true},
		{name: "refused token", input: func(string) string { return "rt_not_known_to_server" }, code: sysexits.NoPerm, want: "was refused (invalid_grant)"},
		{name: "empty input", input: func(string) string { return " \n" }, code: sysexits.Usage, want: "no refresh token on standard input"},
		{name: "two words", input: func(v string) string { return v + " " + v }, code: sysexits.DataErr, want: "does not look like one refresh token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.NewServer(t)
			srv.Rotate(tt.rotate)
			c := newTestConfig(t, srv, "generic")
			valid := "rt_imported_token"
			srv.AddRefreshToken(valid, "user@example.com")
			err := c.Import(context.Background(), strings.NewReader(tt.input(valid)))
			if tt.code != 0 {
				wantCode(t, err, tt.code)
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q does not contain %q", err, tt.want)
				}
				noSecrets(t, err.Error(), valid, "rt_not_known_to_server")
				if _, err := c.Store.Load(); err == nil {
					t.Error("a refused token was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := stored(t, c)
			if !srv.Valid(got) {
				t.Errorf("stored token is not valid at the server (rotation lost?)")
			}
			if tt.rotate == (got == valid) {
				t.Errorf("stored token == imported token: %v, want %v", got == valid, !tt.rotate)
			}
			if srv.Requests("/token") != 1 {
				t.Errorf("token endpoint requests = %d, want 1", srv.Requests("/token"))
			}
		})
	}
}

func TestParseRedirect(t *testing.T) {
	tests := []struct {
		in                   string
		code, state, errCode string
		wantErr              bool
	}{
		{in: "http://127.0.0.1:5000/?code=abc&state=xyz", code: "abc", state: "xyz"},
		{in: "http://127.0.0.1:5000/?state=xyz&code=a%2Fb&scope=mail", code: "a/b", state: "xyz"},
		{in: "?code=abc&state=xyz", code: "abc", state: "xyz"},
		{in: "code=abc&state=xyz", code: "abc", state: "xyz"},
		{in: "http://127.0.0.1:5000/?code=abc&state=xyz#frag", code: "abc", state: "xyz"},
		{in: "http://127.0.0.1:5000/?error=access_denied&state=xyz", state: "xyz", errCode: "access_denied"},
		{in: "http://127.0.0.1:5000/", wantErr: true},
		{in: "http://127.0.0.1:5000/?state=xyz", wantErr: true},
		{in: "   ", wantErr: true},
		{in: "code=%zz", wantErr: true},
		{in: "just-some-text", wantErr: true},
	}
	for _, tt := range tests {
		cb, err := parseRedirect(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseRedirect(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if cb.code != tt.code || cb.state != tt.state || cb.errCode != tt.errCode {
			t.Errorf("parseRedirect(%q) = %+v, want code %q state %q error %q", tt.in, cb, tt.code, tt.state, tt.errCode)
		}
	}
}
