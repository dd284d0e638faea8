package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/oauth"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// keyringTimeout bounds every keyring call: a locked Secret Service can
// block forever, and under cron there is no D-Bus session at all.
const keyringTimeout = 5 * time.Second

// newKeyring is replaceable in tests.
var newKeyring = func() secret.Keyring { return secret.NewKeyring(keyringTimeout) }

func deps(env *Env, inv *cli.Invocation, file *config.File) submit.Deps {
	kr := newKeyring()
	d := submit.Deps{
		Keyring: kr,
		Warn:    env.Stderr,
		OAuth: func(a *config.Account) (submit.TokenSource, error) {
			return oauthConfig(context.Background(), env, file, a, kr)
		},
	}
	if inv != nil && inv.Verbose {
		d.Transcript = env.Stderr
	}
	return d
}

// accountErr names the account in an error of oauthConfig, internal/oauth
// or internal/secret, which leave that to their caller, for the commands
// that print it without submit's prefix (auth, setup's login). A send's
// errors get the name from submit (account "NAME" (host:port): ...), so
// the send path must not use this.
func accountErr(a *config.Account, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("account %q: %w", a.Name, err)
}

// oauthConfig builds the OAuth2 token source of an account: provider
// endpoints, client credentials, where the refresh token lives and where
// the access token is cached.
func oauthConfig(ctx context.Context, env *Env, file *config.File, a *config.Account, kr secret.Keyring) (*oauth.Config, error) {
	clientSecret := a.OAuthClientSecret
	if a.OAuthClientSecretCommand != "" {
		s, err := secret.Password(ctx, secret.PasswordSource{Account: a.Name, Command: a.OAuthClientSecretCommand, CommandKey: "oauth_client_secret_command"}, nil)
		if err != nil {
			return nil, err
		}
		clientSecret = s
	}
	state := oauth.DefaultStateDir(file.System, env.Getenv)
	if state == "" {
		// Not the account's fault, and its callers name the account
		// around this (submit's "account %q (host:port): ", accountErr):
		// the line says it once.
		return nil, sysexits.New(sysexits.Config, errors.New("cannot find a directory for OAuth2 tokens (HOME is not set): set HOME or XDG_STATE_HOME"))
	}
	tokenFile := a.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(state, "tokens", a.Name+".json")
	}
	var store oauth.TokenStore
	switch a.TokenStore {
	case "keyring":
		store = oauth.NewKeyringStore(kr, a.Name)
	case "file":
		store = oauth.NewFileStore(tokenFile)
	default:
		store = oauth.NewAutoStore(kr, a.Name, tokenFile)
	}
	return &oauth.Config{
		Account:      a.Name,
		Provider:     a.OAuthProvider,
		Tenant:       a.OAuthTenant,
		ClientID:     a.OAuthClientID,
		ClientSecret: clientSecret,
		AuthURL:      a.OAuthAuthURL,
		TokenURL:     a.OAuthTokenURL,
		DeviceURL:    a.OAuthDeviceURL,
		RedirectURI:  a.OAuthRedirectURI,
		Scopes:       a.OAuthScopes,
		Store:        store,
		CacheFile:    filepath.Join(state, "cache", a.Name+".json"),
		System:       file.System,
	}, nil
}
