package oauth

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// callback is what the authorization server sent back on the redirect
// (RFC 6749 4.1.2 and 4.1.2.1).
type callback struct {
	code, state, errCode string
}

// parseRedirect reads a pasted redirect: the whole URL from the browser's
// address bar, or just its query ("code=...&state=..."), with or without
// the leading "?".
func parseRedirect(input string) (callback, error) {
	s := strings.TrimSpace(input)
	if s == "" {
		return callback{}, errors.New("nothing was pasted")
	}
	query := s
	if i := strings.IndexByte(s, '?'); i >= 0 {
		query = s[i+1:]
	} else if strings.Contains(s, "://") {
		return callback{}, errors.New("the pasted address has no query (no code= or error=)")
	}
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return callback{}, errors.New("the pasted text is not a redirect address")
	}
	cb := callback{code: v.Get("code"), state: v.Get("state"), errCode: v.Get("error")}
	if cb.code == "" && cb.errCode == "" {
		return callback{}, errors.New("the pasted address has no code= parameter")
	}
	return cb, nil
}

// check validates a callback against the state this login sent (RFC 6749
// 10.12: the state binds the redirect to this login; a mismatch is refused
// before any code exchange).
func (c *Config) check(cb callback, state string) error {
	login := c.loginCommand()
	if cb.state != state {
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("the redirect carries a different state than this login sent (a stale or forged redirect): run %q again", login))
	}
	switch cb.errCode {
	case "":
	case "access_denied":
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("access was denied in the browser: run %q and approve the request", login))
	default:
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("the provider refused the login (%s): check oauth_client_id, oauth_scopes and the app registration, then run %q", safeCode(cb.errCode), login))
	}
	if !plausibleToken(cb.code) {
		return sysexits.New(sysexits.Usage, fmt.Errorf("the authorization code is malformed: run %q again", login))
	}
	return nil
}

// authURL builds the authorization request (RFC 6749 4.1.1) with PKCE
// (RFC 7636 4.3, S256) and the provider's extra parameters.
func authURL(oc *oauth2.Config, p Provider, state, verifier string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, v := range p.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return oc.AuthCodeURL(state, opts...)
}

func (c *Config) loginProvider() (Provider, error) {
	p, err := c.Resolve()
	if err != nil {
		return p, err
	}
	if p.AuthURL == "" {
		return p, c.configErr(errors.New("oauth_auth_url is not set: set it for a generic provider"))
	}
	return p, nil
}

func (c *Config) loginCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.loginTimeout
	if d <= 0 {
		d = defaultLoginTimeout
	}
	return context.WithTimeout(ctx, d)
}

// exchange trades the code for tokens (RFC 6749 4.1.3, RFC 7636 4.5).
func (c *Config) exchange(ctx context.Context, p Provider, redirect, code, verifier string) (*oauth2.Token, error) {
	hctx, st := c.httpContext(ctx)
	tok, err := c.oauth2Config(p, redirect).Exchange(hctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, c.classify(err, st, p, opCode)
	}
	return tok, nil
}

// finish stores a fresh login's refresh token and caches its access token,
// under the same lock AccessToken uses.
func (c *Config) finish(ctx context.Context, tok *oauth2.Token) error {
	if !plausibleToken(tok.AccessToken) {
		return temp(errors.New("the token endpoint sent a malformed access token: try again later"))
	}
	if !plausibleToken(tok.RefreshToken) {
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("the provider issued no refresh token: make sure the oauth_scopes include offline access (Microsoft: offline_access; Google: the preset's access_type=offline), revoke the app's earlier grant, and run %q again", c.loginCommand()))
	}
	store, err := c.store()
	if err != nil {
		return err
	}
	path, err := c.CachePath()
	if err != nil {
		return err
	}
	if err := checkDir("token cache directory", path); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := store.Save(tok.RefreshToken); err != nil {
		return err
	}
	_ = c.writeCache(path, tok)
	return nil
}

// OpenBrowser opens u in the user's browser: the commands of $BROWSER
// first (a colon-separated list, each a command whose "%s" is replaced by
// the URL, or which gets the URL as its last argument, as xdg-utils and
// Python's webbrowser read it), then the desktop's URL opener (xdg-open,
// open, or the Windows handler). It returns an error when there is none;
// callers print the URL anyway. No shell is involved.
func OpenBrowser(u string) error {
	if err := openWithBrowserEnv(u, os.Getenv("BROWSER")); err == nil {
		return nil
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if _, err := exec.LookPath("xdg-open"); err != nil {
			return err
		}
		cmd = exec.Command("xdg-open", u)
	}
	return startDetached(cmd)
}

// openWithBrowserEnv starts the first command of browser ($BROWSER) that
// exists.
func openWithBrowserEnv(u, browser string) error {
	for _, entry := range strings.Split(browser, ":") {
		f := strings.Fields(entry)
		if len(f) == 0 {
			continue
		}
		path, err := exec.LookPath(f[0])
		if err != nil {
			continue
		}
		args, substituted := make([]string, 0, len(f)), false
		for _, a := range f[1:] {
			if strings.Contains(a, "%s") {
				a, substituted = strings.ReplaceAll(a, "%s", u), true
			}
			args = append(args, a)
		}
		if !substituted {
			args = append(args, u)
		}
		if err := startDetached(exec.Command(path, args...)); err == nil {
			return nil
		}
	}
	return errors.New("no command of $BROWSER could be started")
}

func startDetached(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap; the opener's exit status is of no interest
	return nil
}

// LoginLoopback runs the authorization code flow with PKCE on a loopback
// redirect (RFC 8252 7.3): it listens on 127.0.0.1 on a random port, prints
// the authorization URL to w, tries open (default OpenBrowser; failure is
// not fatal), waits up to 5 minutes for the browser to come back, checks
// the state, exchanges the code, and stores the tokens.
func (c *Config) LoginLoopback(ctx context.Context, w io.Writer, open func(url string) error) error {
	p, err := c.loginProvider()
	if err != nil {
		return err
	}
	ln, redirect, cbPath, err := c.listenRedirect()
	if err != nil {
		return err
	}
	defer ln.Close()
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	oc := c.oauth2Config(p, redirect)
	u := authURL(oc, p, state, verifier)

	results := make(chan callback, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != cbPath {
			http.NotFound(rw, r)
			return
		}
		q := r.URL.Query()
		cb := callback{code: q.Get("code"), state: q.Get("state"), errCode: q.Get("error")}
		if cb.code == "" && cb.errCode == "" {
			http.Error(rw, "This address is waiting for the login redirect.", http.StatusBadRequest)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-store")
		if cb.state != state {
			rw.WriteHeader(http.StatusBadRequest)
			io.WriteString(rw, "gsendmail: this redirect does not belong to the current login. You can close this window.\n")
		} else if cb.errCode != "" {
			io.WriteString(rw, "gsendmail: the login was not completed. You can close this window.\n")
		} else {
			io.WriteString(rw, "gsendmail: login received. You can close this window.\n")
		}
		select {
		case results <- cb:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	fmt.Fprintf(w, "To authorise gsendmail for account %q, open this address in a browser on this machine:\n\n  %s\n\n", c.Account, u)
	if open == nil {
		open = OpenBrowser
	}
	if err := open(u); err != nil {
		fmt.Fprintf(w, "(No browser could be started; open the address by hand. Over ssh, use the paste flow.)\n")
	}
	fmt.Fprintf(w, "Waiting for the browser to return to %s ...\n", redirect)

	lctx, cancel := c.loginCtx(ctx)
	defer cancel()
	var cb callback
	select {
	case cb = <-results:
	case <-lctx.Done():
		return sysexits.New(sysexits.TempFail, fmt.Errorf("no login redirect arrived in time: run %q again (over ssh, use the paste flow)", c.loginCommand()))
	}
	return c.complete(lctx, w, p, redirect, cb, state, verifier)
}

// complete ends both browser flows: the state must match, then the code is
// exchanged (with the PKCE verifier) and the tokens stored.
func (c *Config) complete(ctx context.Context, w io.Writer, p Provider, redirect string, cb callback, state, verifier string) error {
	if err := c.check(cb, state); err != nil {
		return err
	}
	tok, err := c.exchange(ctx, p, redirect, cb.code, verifier)
	if err != nil {
		return err
	}
	if err := c.finish(ctx, tok); err != nil {
		return err
	}
	fmt.Fprintf(w, "Logged in; the refresh token is in %s.\n", c.where())
	return nil
}

func (c *Config) where() string {
	s, err := c.store()
	if err != nil {
		return "the token store"
	}
	return s.Where()
}

// pasteRedirect is the redirect URI of the paste flow: nothing listens
// there, so the browser shows an error page whose address holds the code.
// PKCE makes a code caught by anything else that listens there useless.
func pasteRedirect() string {
	n, err := rand.Int(rand.Reader, big.NewInt(65535-49152))
	port := 49152
	if err == nil {
		port += int(n.Int64())
	}
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/"
}

// LoginPaste runs the authorization code flow for machines without a local
// browser (ssh sessions): it prints the URL, and the user pastes the address
// the browser ended on (which fails to load) into in.
func (c *Config) LoginPaste(ctx context.Context, w io.Writer, in io.Reader) error {
	p, err := c.loginProvider()
	if err != nil {
		return err
	}
	redirect := c.pasteRedirectURI()
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	u := authURL(c.oauth2Config(p, redirect), p, state, verifier)
	fmt.Fprintf(w, "To authorise gsendmail for account %q, open this address in any browser:\n\n  %s\n\n", c.Account, u)
	fmt.Fprintf(w, "After you approve, the browser goes to %s... and shows an error page.\nCopy the whole address from its address bar and paste it here, then press Enter:\n", redirect)

	lctx, cancel := c.loginCtx(ctx)
	defer cancel()
	lines := make(chan string, 1)
	errs := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(io.LimitReader(in, 64<<10), 4096)
		for {
			line, err := br.ReadString('\n')
			if strings.TrimSpace(line) != "" {
				lines <- line
				return
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	var line string
	select {
	case line = <-lines:
	case <-errs:
		return sysexits.New(sysexits.Usage, fmt.Errorf("no redirect address was pasted: run %q again and paste the address", c.loginCommand()))
	case <-lctx.Done():
		return sysexits.New(sysexits.TempFail, fmt.Errorf("no redirect address was pasted in time: run %q again", c.loginCommand()))
	}
	cb, err := parseRedirect(line)
	if err != nil {
		return sysexits.New(sysexits.Usage, fmt.Errorf("%v: run %q again and paste the whole address from the browser's address bar", err, c.loginCommand()))
	}
	return c.complete(lctx, w, p, redirect, cb, state, verifier)
}

// deviceGrant is the RFC 8628 3.4 grant type.
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// LoginDevice runs the device authorization grant (RFC 8628): it prints the
// verification address and user code to w and polls the token endpoint,
// honouring authorization_pending and slow_down (3.5).
func (c *Config) LoginDevice(ctx context.Context, w io.Writer) error {
	p, err := c.Resolve()
	if err != nil {
		return err
	}
	if !p.DeviceFlow {
		return c.configErr(errors.New(p.DeviceRefusal))
	}
	if p.DeviceURL == "" {
		return c.configErr(errors.New("oauth_device_url is not set: set it, or use the browser login"))
	}
	oc := c.oauth2Config(p, "")
	hctx, st := c.httpContext(ctx)
	da, err := oc.DeviceAuth(hctx)
	if err != nil {
		pd := p
		pd.TokenURL = p.DeviceURL
		return c.classify(err, st, pd, opDevice)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return temp(fmt.Errorf("device endpoint %s sent an incomplete response: try again later, or use the browser login", endpointHost(p.DeviceURL)))
	}
	fmt.Fprintf(w, "To authorise gsendmail for account %q, open %s in any browser and enter the code %s\n", c.Account, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(w, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintf(w, "Waiting for approval ...\n")

	expiry := da.Expiry
	if expiry.IsZero() {
		expiry = time.Now().Add(15 * time.Minute)
	}
	pctx, cancel := context.WithDeadline(ctx, expiry)
	defer cancel()
	unit := c.pollUnit
	if unit <= 0 {
		unit = time.Second
	}
	wait := c.pollWait
	if wait == nil {
		wait = sleepCtx
	}
	interval := da.Interval
	if interval <= 0 {
		interval = 5 // RFC 8628 3.2: default 5 seconds
	}
	for {
		if err := wait(pctx, time.Duration(interval)*unit); err != nil {
			if ctx.Err() != nil {
				return temp(fmt.Errorf("login was interrupted: run %q again", c.loginCommand()))
			}
			return sysexits.New(sysexits.NoPerm, fmt.Errorf("the device code expired before it was approved: run %q again", c.loginCommand()))
		}
		tok, err := c.pollDevice(pctx, p, da.DeviceCode)
		if err == nil {
			if err := c.finish(ctx, tok); err != nil {
				return err
			}
			fmt.Fprintf(w, "Logged in; the refresh token is in %s.\n", c.where())
			return nil
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			switch re.ErrorCode {
			case "authorization_pending":
				continue
			case "slow_down":
				interval += 5 // RFC 8628 3.5
				continue
			}
		}
		if pctx.Err() != nil && ctx.Err() == nil {
			return sysexits.New(sysexits.NoPerm, fmt.Errorf("the device code expired before it was approved: run %q again", c.loginCommand()))
		}
		return err
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pollDevice makes one device access token request (RFC 8628 3.4).
// x/oauth2's DeviceAccessToken polls in whole seconds only; this loop is
// ours so tests can poll fast.
func (c *Config) pollDevice(ctx context.Context, p Provider, deviceCode string) (*oauth2.Token, error) {
	hctx, st := c.httpContext(ctx)
	v := url.Values{
		"grant_type":  {deviceGrant},
		"device_code": {deviceCode},
		"client_id":   {c.ClientID},
	}
	if c.ClientSecret != "" {
		v.Set("client_secret", c.ClientSecret)
	}
	req, err := http.NewRequestWithContext(hctx, http.MethodPost, p.TokenURL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, c.configErr(fmt.Errorf("token_url: %v", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	cl := hctx.Value(oauth2.HTTPClient).(*http.Client)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, c.classify(err, st, p, opDevice)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, c.classify(err, st, p, opDevice)
	}
	tok, err := parseTokenResponse(resp, body)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "authorization_pending" || re.ErrorCode == "slow_down") {
			return nil, err
		}
		return nil, c.classify(err, st, p, opDevice)
	}
	return tok, nil
}

// tokenJSON is RFC 6749 5.1 (success) and 5.2 (error) in one.
type tokenJSON struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	RefreshToken     string          `json:"refresh_token"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	ErrorCode        string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// parseTokenResponse decodes a token endpoint response. Errors are
// *oauth2.RetrieveError (server said no) or a plain error (unusable body).
func parseTokenResponse(resp *http.Response, body []byte) (*oauth2.Token, error) {
	failed := resp.StatusCode < 200 || resp.StatusCode > 299
	var tj tokenJSON
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" || ct == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		if err != nil && !failed {
			return nil, errors.New("unparseable token response")
		}
		tj = tokenJSON{AccessToken: vals.Get("access_token"), TokenType: vals.Get("token_type"), RefreshToken: vals.Get("refresh_token"),
			ExpiresIn: json.RawMessage(vals.Get("expires_in")), ErrorCode: vals.Get("error"), ErrorDescription: vals.Get("error_description")}
	} else if err := json.Unmarshal(body, &tj); err != nil && !failed {
		return nil, errors.New("unparseable token response")
	}
	if failed || tj.ErrorCode != "" {
		return nil, &oauth2.RetrieveError{Response: resp, ErrorCode: tj.ErrorCode, ErrorDescription: tj.ErrorDescription}
	}
	if tj.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	tok := &oauth2.Token{AccessToken: tj.AccessToken, TokenType: tj.TokenType, RefreshToken: tj.RefreshToken}
	// Some servers send expires_in as a string.
	if s := strings.Trim(string(tj.ExpiresIn), `"`); s != "" {
		if n, err := strconv.ParseInt(s, 10, 32); err == nil && n > 0 {
			tok.ExpiresIn = n
		}
	}
	return tok, nil
}

// Import stores an existing refresh token read from in (surrounding
// whitespace ignored) after validating it with one refresh, so a bad token
// is reported now rather than at the next unattended send.
func (c *Config) Import(ctx context.Context, in io.Reader) error {
	p, err := c.Resolve()
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(in, 64<<10+1))
	if err != nil {
		return sysexits.New(sysexits.IOErr, fmt.Errorf("cannot read the refresh token from standard input: %v", err))
	}
	if len(data) > 64<<10 {
		return sysexits.New(sysexits.DataErr, errors.New("standard input is too large to be a refresh token: pipe in only the token"))
	}
	rt := strings.TrimSpace(string(data))
	if rt == "" {
		return sysexits.New(sysexits.Usage, fmt.Errorf("no refresh token on standard input: pipe the token in, e.g. gsendmail auth import %s < token.txt", shellQuote(c.Account)))
	}
	if !plausibleToken(rt) {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("standard input does not look like one refresh token (it contains spaces or control characters): pipe in only the token"))
	}
	tok, err := c.refresh(ctx, p, rt, opImport)
	if err != nil {
		return err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = rt
	}
	return c.finish(ctx, tok)
}
