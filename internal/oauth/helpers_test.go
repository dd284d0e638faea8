package oauth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

// newTestConfig returns a Config against srv with a file store and cache in
// a fresh directory.
func newTestConfig(t *testing.T, srv *oauthtest.Server, provider string) *Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	id, secret := srv.Client()
	c := &Config{
		Account:      "gmail",
		Provider:     provider,
		ClientID:     id,
		ClientSecret: secret,
		AuthURL:      srv.AuthURL(),
		TokenURL:     srv.TokenURL(),
		DeviceURL:    srv.DeviceURL(),
		Store:        NewFileStore(filepath.Join(dir, "refresh.json")),
		CacheFile:    filepath.Join(dir, "access.json"),
		pollUnit:     time.Millisecond,
		loginTimeout: 30 * time.Second,
	}
	if provider == "generic" {
		c.Scopes = []string{"mail"}
	}
	return c
}

// seed stores a refresh token known to srv and returns it.
func seed(t *testing.T, srv *oauthtest.Server, c *Config) string {
	t.Helper()
	rt := "rt_seed_" + strings.Repeat("x", 20)
	srv.AddRefreshToken(rt, "user@example.com")
	if err := c.Store.Save(rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

func stored(t *testing.T, c *Config) string {
	t.Helper()
	rt, err := c.Store.Load()
	if err != nil {
		t.Fatalf("stored refresh token: %v", err)
	}
	return rt
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want exit code %d", code)
	}
	if got := sysexits.Code(err); got != code {
		t.Fatalf("exit code = %d, want %d (error: %v)", got, code, err)
	}
}

// noSecrets fails when msg contains any of the secrets, or is not one line.
func noSecrets(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q contains a secret %q", msg, s)
		}
	}
}

// goKeyring adapts go-keyring's package functions (mocked in tests) to Keyring.
type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (goKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

var errNoDBus = errors.New("the name org.freedesktop.secrets was not provided by any .service files")
