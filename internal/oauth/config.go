package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Config describes one account's OAuth2 client. The zero values of the
// optional fields give the documented defaults.
type Config struct {
	Account  string // account name, used in messages and default file names
	Provider string // preset name: "google", "microsoft" or "generic"
	Tenant   string // Microsoft tenant (default "common")

	ClientID, ClientSecret string

	// AuthURL, TokenURL and DeviceURL override the preset's endpoints.
	AuthURL, TokenURL, DeviceURL string
	// RedirectURI is the exact redirect registered with the provider
	// (oauth_redirect_uri): the browser login listens on its loopback
	// host and port and path; the paste flow sends it as is. "" means a
	// random loopback port.
	RedirectURI string
	// Scopes override the preset's scopes when non-empty.
	Scopes []string

	// Store holds the refresh token. Default: a FileStore at
	// DefaultStateDir(System)/oauth/ACCOUNT.refresh.json.
	Store TokenStore
	// CacheFile holds the access token and its expiry (0600). Default:
	// DefaultStateDir(System)/oauth/ACCOUNT.access.json. Its lock file is
	// CacheFile+".lock".
	CacheFile string
	// HTTPClient talks to the token endpoint. Default: 30 s timeout. Its
	// transport is wrapped to cap response bodies.
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RefreshMargin: a cached access token is refreshed this long before it
	// expires (default 5 minutes), but never earlier than half-way through
	// its lifetime.
	RefreshMargin time.Duration
	// System selects the system state directory (/var/lib/gsendmail).
	System bool
	// LoginCommand is the command shown to re-authorise (default
	// `gsendmail auth login ACCOUNT`).
	LoginCommand string

	// pollUnit scales the device-flow polling interval (tests shorten it).
	pollUnit time.Duration
	// pollWait waits between device-flow polls (tests record the waits).
	pollWait func(ctx context.Context, d time.Duration) error
	// loginTimeout bounds the interactive flows (default 5 minutes).
	loginTimeout time.Duration
}

// DefaultStateDir is gsendmail's state directory: $XDG_STATE_HOME/gsendmail
// (XDG_STATE_HOME defaults to ~/.local/state), or /var/lib/gsendmail for a
// system account. It returns "" when no home directory is known.
func DefaultStateDir(system bool, getenv func(string) string) string {
	if system {
		return "/var/lib/gsendmail"
	}
	// XDG Base Directory: a relative XDG_STATE_HOME is invalid and ignored.
	if x := getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "gsendmail")
	}
	if h := getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "gsendmail")
	}
	return ""
}

const (
	defaultHTTPTimeout   = 30 * time.Second
	defaultRefreshMargin = 5 * time.Minute
	defaultLoginTimeout  = 5 * time.Minute
	keyringService       = "gsendmail-oauth"
	// maxTokenResponse caps a token endpoint's response body. x/oauth2 reads
	// at most 1 MiB; one byte less makes an oversized body an error here
	// instead of a silently truncated JSON document there.
	maxTokenResponse = 1<<20 - 1
)

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) margin() time.Duration {
	if c.RefreshMargin > 0 {
		return c.RefreshMargin
	}
	return defaultRefreshMargin
}

func (c *Config) stateFile(suffix string) (string, error) {
	dir := DefaultStateDir(c.System, os.Getenv)
	if dir == "" {
		return "", c.configErr(errors.New("cannot find a state directory (HOME is not set): set HOME, or set token_file (and XDG_STATE_HOME)"))
	}
	return filepath.Join(dir, "oauth", fileName(c.Account)+suffix), nil
}

// fileName turns an account name into a safe file name: characters other
// than [A-Za-z0-9_.@+-] and a leading dot become %XX.
func fileName(account string) string {
	if account == "" {
		return "default"
	}
	var b strings.Builder
	for i := 0; i < len(account); i++ {
		ch := account[i]
		safe := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '_' || ch == '-' || ch == '@' || ch == '+' || (ch == '.' && i > 0)
		if safe {
			b.WriteByte(ch)
		} else {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

// CachePath is the access-token cache file in use.
func (c *Config) CachePath() (string, error) {
	if c.CacheFile != "" {
		return c.CacheFile, nil
	}
	return c.stateFile(".access.json")
}

func (c *Config) store() (TokenStore, error) {
	if c.Store != nil {
		return c.Store, nil
	}
	p, err := c.stateFile(".refresh.json")
	if err != nil {
		return nil, err
	}
	return NewFileStore(p), nil
}

func (c *Config) loginCommand() string {
	if c.LoginCommand != "" {
		return c.LoginCommand
	}
	return "gsendmail auth login " + shellQuote(c.Account)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// oauth2Config builds the x/oauth2 configuration for p.
func (c *Config) oauth2Config(p Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		RedirectURL:  redirect,
		Scopes:       p.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:       p.AuthURL,
			TokenURL:      p.TokenURL,
			DeviceAuthURL: p.DeviceURL,
			// Google and Microsoft take client credentials in the body;
			// probing both styles would send the secret twice.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// call carries per-request state from the capped transport back to the
// error classifier (x/oauth2 flattens transport errors into strings).
type call struct {
	tooLarge atomic.Bool
}

type callKey struct{}

// httpContext returns ctx carrying the capped HTTP client for x/oauth2, and
// the call record the transport reports into.
func (c *Config) httpContext(ctx context.Context) (context.Context, *call) {
	base := c.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: defaultHTTPTimeout}
	}
	cl := *base
	rt := cl.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cl.Transport = &cappedTransport{base: rt, max: maxTokenResponse}
	st := &call{}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &cl)
	ctx = context.WithValue(ctx, callKey{}, st)
	return ctx, st
}

var errTooLarge = errors.New("token endpoint response exceeds 1 MiB")

// cappedTransport limits response bodies so a hostile or broken endpoint
// cannot make gsendmail buffer an unbounded body.
type cappedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	st, _ := req.Context().Value(callKey{}).(*call)
	if resp.ContentLength > t.max {
		resp.Body.Close()
		if st != nil {
			st.tooLarge.Store(true)
		}
		return nil, errTooLarge
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, st: st}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
	st   *call
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe one byte: EOF means the body fit exactly.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			if b.st != nil {
				b.st.tooLarge.Store(true)
			}
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// temp marks err temporary (exit 75): the caller keeps the message.
func temp(err error) error { return sysexits.New(sysexits.TempFail, err) }
