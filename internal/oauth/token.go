package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// cacheEntry is the access-token cache file's content.
type cacheEntry struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
	TokenType   string    `json:"token_type,omitempty"`
	// Issued is when the token was received; with Expiry it gives the
	// lifetime that caps the refresh margin. Zero in older caches.
	Issued time.Time `json:"issued,omitzero"`
}

// parseCache decodes a cache file; anything unusable is "no cache".
func parseCache(data []byte) (cacheEntry, bool) {
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return cacheEntry{}, false
	}
	if !plausibleToken(e.AccessToken) || e.Expiry.IsZero() {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *Config) readCache(path string) (cacheEntry, bool) {
	// A cache others can read is not trusted; the next refresh replaces
	// it with a 0600 file.
	data, err := readPrivateFile(path, 64<<10)
	if err != nil {
		return cacheEntry{}, false
	}
	return parseCache(data)
}

func (e cacheEntry) validAt(t time.Time) bool {
	return e.AccessToken != "" && e.Expiry.After(t)
}

// unknownLifetime is assumed when a token response has no expires_in
// (RFC 6749 5.1 makes it RECOMMENDED, not REQUIRED).
const unknownLifetime = 10 * time.Minute

func (c *Config) writeCache(path string, tok *oauth2.Token) error {
	exp := time.Time{}
	if tok.ExpiresIn > 0 {
		exp = c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	} else if !tok.Expiry.IsZero() {
		exp = tok.Expiry
	} else {
		exp = c.now().Add(unknownLifetime)
	}
	data, err := json.Marshal(cacheEntry{AccessToken: tok.AccessToken, Expiry: exp.UTC().Round(time.Second), TokenType: tok.TokenType, Issued: c.now().UTC().Round(time.Second)})
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// AccessToken returns an access token for the account: from the cache when
// it stays valid beyond RefreshMargin, capped at half its lifetime (no request), otherwise by refreshing
// with the stored refresh token under an exclusive lock shared by all
// gsendmail processes, so concurrent senders refresh once. A rotated
// refresh token is persisted before the lock is released.
//
// Errors carry exit codes: 75 for network trouble and server errors (the
// refresh token is kept), 77 when the grant is refused or no token is
// stored, 78 for configuration problems.
func (c *Config) AccessToken(ctx context.Context) (string, error) {
	p, err := c.Resolve()
	if err != nil {
		return "", err
	}
	path, err := c.CachePath()
	if err != nil {
		return "", err
	}
	redact.Add(c.ClientSecret)
	// The cache directory also holds the lock: refuse one others can
	// write to before trusting anything in it.
	if err := checkDir("token cache directory", path); err != nil {
		return "", err
	}
	if e, ok := c.readCache(path); ok && e.fresh(c.now(), c.margin()) {
		redact.Add(e.AccessToken)
		return e.AccessToken, nil
	}
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have refreshed while we waited.
	if e, ok := c.readCache(path); ok && e.fresh(c.now(), c.margin()) {
		redact.Add(e.AccessToken)
		return e.AccessToken, nil
	}
	store, err := c.store()
	if err != nil {
		return "", err
	}
	rt, err := store.Load()
	if err != nil {
		if isNotFound(err) {
			return "", sysexits.New(sysexits.NoPerm, fmt.Errorf("no OAuth2 token stored: run %q", c.loginCommand()))
		}
		return "", err
	}
	tok, err := c.refreshPersisted(ctx, p, store, path, rt)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// refresh exchanges rt for a new token (RFC 6749 6).
func (c *Config) refresh(ctx context.Context, p Provider, rt string, o op) (*oauth2.Token, error) {
	hctx, st := c.httpContext(ctx)
	redact.Add(rt)
	tok, err := c.oauth2Config(p, "").TokenSource(hctx, &oauth2.Token{RefreshToken: rt}).Token()
	if tok != nil {
		redact.Add(tok.AccessToken, tok.RefreshToken)
	}
	if err != nil {
		return nil, c.classify(err, st, p, o)
	}
	if !plausibleToken(tok.AccessToken) {
		return nil, temp(fmt.Errorf("token endpoint %s sent a malformed access token: try again later; if it persists, check token_url", endpointHost(p.TokenURL)))
	}
	return tok, nil
}

// persist saves a rotated refresh token (before anything else: the old one
// may already be dead) and then the access-token cache. Callers hold the
// lock. A cache write failure is not fatal: the token is good, the next
// run refreshes again.
func (c *Config) persist(store TokenStore, cachePath, oldRT string, tok *oauth2.Token) error {
	if nt := tok.RefreshToken; nt != "" && nt != oldRT {
		if !plausibleToken(nt) {
			return temp(errors.New("token endpoint sent a malformed refresh token: try again later"))
		}
		if err := store.Save(nt); err != nil {
			return fmt.Errorf("the provider rotated the refresh token but it could not be saved: %w", err)
		}
	}
	_ = c.writeCache(cachePath, tok)
	return nil
}

// Invalidate drops the cached access token, after the server refused it
// (SMTP 334 JSON challenge with status 400/401). The next AccessToken call
// refreshes.
func (c *Config) Invalidate() error {
	path, err := c.CachePath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return temp(fmt.Errorf("cannot remove token cache %s: %v: remove it by hand", path, err))
	}
	return nil
}

// StatusInfo describes an account's OAuth2 state without any secret.
type StatusInfo struct {
	HasRefreshToken   bool
	Where             string    // where the refresh token is (or would be) stored
	AccessTokenExpiry time.Time // zero without a cached access token
	Valid             bool      // the cached access token is valid at the given time
	Problem           string    // why the store could not be read, if it could not
}

// Status reports the account's state at now.
func (c *Config) Status(now time.Time) StatusInfo {
	var si StatusInfo
	if store, err := c.store(); err != nil {
		si.Problem = err.Error()
	} else {
		_, err := store.Load()
		si.HasRefreshToken = err == nil
		if err != nil && !isNotFound(err) {
			si.Problem = err.Error()
		}
		si.Where = store.Where()
	}
	if path, err := c.CachePath(); err == nil {
		if e, ok := c.readCache(path); ok {
			si.AccessTokenExpiry = e.Expiry
			si.Valid = e.validAt(now)
		}
	}
	return si
}

// Logout removes the refresh token and the access-token cache.
func (c *Config) Logout() error {
	var msgs []string
	if store, err := c.store(); err != nil {
		msgs = append(msgs, err.Error())
	} else if err := store.Delete(); err != nil {
		msgs = append(msgs, err.Error())
	}
	if path, err := c.CachePath(); err == nil {
		// The lock file stays: removing it under a holder would let a
		// second process lock a new inode.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			msgs = append(msgs, fmt.Sprintf("cannot remove %s: %v: remove it by hand", path, err))
		}
	}
	if len(msgs) > 0 {
		return sysexits.New(sysexits.CantCreat, errors.New(strings.Join(msgs, "; ")))
	}
	return nil
}
