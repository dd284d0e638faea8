// Package oauth drives the built gsendmail binary through OAuth2 end to
// end: a real Postfix whose SASL backend is a real Dovecot with the oauth2
// passdb, validating XOAUTH2/OAUTHBEARER tokens against the fake
// authorization server of internal/testkit/oauthtest, which is also the
// token endpoint gsendmail refreshes from. Refresh tokens enter through the
// real CLI (gsendmail auth import).
//
// It owns only tests. The OAuth2 client logic is internal/oauth's, the
// AUTH exchange internal/smtp's and internal/submit's; their unit tests
// live with them. One mail server and one authorization server are shared
// by all tests of this package (starting Postfix+Dovecot takes seconds);
// every test uses its own account, state directory and refresh token, and
// the tests do not run in parallel, so token-endpoint request counts are
// taken as differences around what each test does.
package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// testUser is the mailbox the tokens are issued to; Dovecot requires the
// tokeninfo "email" to equal the SASL user name.
const testUser = "user@gsendmail.test"

// shared is the one mail server and authorization server of the package.
var shared = fixture.New(fixture.Options{TokenUser: testUser})

func TestMain(m *testing.M) { shared.Main(m) }

// servers returns the shared authorization server and mail server,
// starting them on first use.
func servers(t *testing.T) *fixture.Servers { return shared.Get(t) }

// account is one gsendmail account with its own config, state directory
// (token cache) and refresh token, registered with the authorization server.
type account struct {
	t       *testing.T
	fx      *fixture.Servers
	name    string
	cfg     string // config file
	home    string // HOME and XDG_STATE_HOME
	rt      string // the refresh token imported
	logfile string
	env     []string // extra environment
}

type accountOpts struct {
	auth       string // auth = ...; default "oauth2"
	provider   string // oauth_provider; default "generic"
	tokenStore string // token_store; default "file"
}

func newAccount(t *testing.T, o accountOpts) *account {
	t.Helper()
	f := servers(t)
	if o.auth == "" {
		o.auth = "oauth2"
	}
	if o.provider == "" {
		o.provider = "generic"
	}
	if o.tokenStore == "" {
		o.tokenStore = "file"
	}
	dir := t.TempDir()
	a := &account{
		t:       t,
		fx:      f,
		name:    "work",
		cfg:     filepath.Join(dir, "config.toml"),
		home:    filepath.Join(dir, "home"),
		rt:      "rt-" + strings.ReplaceAll(t.Name(), "/", "-"),
		logfile: filepath.Join(dir, "gsendmail.log"),
	}
	if err := os.Mkdir(a.home, 0o700); err != nil {
		t.Fatal(err)
	}
	id, secret := f.Auth.Client()
	port := f.Mail.SubmissionAddr[strings.LastIndex(f.Mail.SubmissionAddr, ":")+1:]
	body := fmt.Sprintf(`default_account = %q
[account.%s]
host = "localhost"
port = %s
tls = "starttls"
tls_trust_file = %q
user = %q
from = %q
logfile = %q
auth = %q
oauth_provider = %q
oauth_client_id = %q
oauth_client_secret = %q
oauth_auth_url = %q
oauth_token_url = %q
token_store = %q
`, a.name, a.name, port, f.Mail.CAFile, testUser, testUser, a.logfile, o.auth, o.provider, id, secret,
		f.Auth.AuthURL(), f.Auth.TokenURL(), o.tokenStore)
	if err := os.WriteFile(a.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Auth.AddRefreshToken(a.rt, testUser)
	t.Cleanup(func() { f.Auth.Revoke(a.rt) })
	return a
}

type result = testbin.Result

// command builds a gsendmail process for the account. The environment has
// no D-Bus session, like cron.
func (a *account) command(args ...string) *exec.Cmd {
	env := testbin.Environ([]string{"DBUS_SESSION_BUS_ADDRESS="}, "GSENDMAIL_CONFIG="+a.cfg, "HOME="+a.home, "XDG_STATE_HOME="+a.home)
	return testbin.Command(a.t, append(env, a.env...), args...)
}

func (a *account) run(stdin string, args ...string) result {
	a.t.Helper()
	return testbin.Exec(a.t, a.command(args...), strings.NewReader(stdin))
}

// importToken stores the account's refresh token through the real CLI
// path; the import refreshes once to check the token, filling the cache.
func (a *account) importToken() {
	a.t.Helper()
	if r := a.run(a.rt+"\n", "auth", "import", a.name); r.Code != 0 {
		a.t.Fatalf("gsendmail auth import %s:\n%s", a.name, r)
	}
}

// message is a small message whose Subject identifies it among the shared
// server's deliveries.
func message(subject string) string {
	return "From: " + testUser + "\nTo: someone@example.org\nSubject: " + subject + "\n\nsent with an OAuth2 token\n"
}

func (a *account) send(subject string, args ...string) result {
	a.t.Helper()
	return a.run(message(subject), append(args, "-i", "someone@example.org")...)
}

func (a *account) cachePath() string {
	return filepath.Join(a.home, "gsendmail", "cache", a.name+".json")
}

func (a *account) tokenPath() string {
	return filepath.Join(a.home, "gsendmail", "tokens", a.name+".json")
}

type cacheFile struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
	TokenType   string    `json:"token_type,omitempty"`
}

// cached returns the access-token cache gsendmail wrote.
func (a *account) cached() cacheFile {
	a.t.Helper()
	b, err := os.ReadFile(a.cachePath())
	if err != nil {
		a.t.Fatalf("reading the access-token cache: %v", err)
	}
	var c cacheFile
	if err := json.Unmarshal(b, &c); err != nil || c.AccessToken == "" {
		a.t.Fatalf("access-token cache %s is unusable (%v): %s", a.cachePath(), err, b)
	}
	return c
}

// expireCache rewrites the cached access token as expired an hour ago, as
// if the machine had been asleep.
func (a *account) expireCache() {
	a.t.Helper()
	c := a.cached()
	c.Expiry = time.Now().Add(-time.Hour).UTC().Round(time.Second)
	b, _ := json.Marshal(c)
	if err := os.WriteFile(a.cachePath(), b, 0o600); err != nil {
		a.t.Fatal(err)
	}
}

// storedRefreshToken returns the refresh token in the 0600 token file, or
// "" when there is none.
func (a *account) storedRefreshToken() string {
	a.t.Helper()
	b, err := os.ReadFile(a.tokenPath())
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		a.t.Fatal(err)
	}
	var v struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		a.t.Fatalf("token file %s: %v", a.tokenPath(), err)
	}
	return v.RefreshToken
}

func (a *account) tokenRequests() int { return a.fx.Auth.Requests(oauthtest.PathToken) }

// deliveredWithSubject counts the shared server's deliveries of message(subject).
func deliveredWithSubject(f *fixture.Servers, subject string) int {
	n := 0
	for _, d := range f.Mail.Deliveries() {
		if bytes.Contains(d.Data, []byte("\nSubject: "+subject+"\n")) {
			n++
		}
	}
	return n
}

// waitDelivered waits until n messages with subject arrived.
func waitDelivered(t *testing.T, f *fixture.Servers, subject string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for deliveredWithSubject(f, subject) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages %q arrived; maillog tail:\n%s", deliveredWithSubject(f, subject), n, subject, tail(f.Mail.Log(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notDelivered checks, after the server had time to deliver, that no
// message with subject arrived.
func notDelivered(t *testing.T, f *fixture.Servers, subject string) {
	t.Helper()
	if n := deliveredWithSubject(f, subject); n != 0 {
		t.Fatalf("%d messages %q arrived; want none", n, subject)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// saslMethods counts the successful SASL logins per mechanism in Postfix's
// log ("sasl_method=XOAUTH2, sasl_username=...").
func saslMethods(f *fixture.Servers, mech string) int {
	return strings.Count(f.Mail.Log(), "sasl_method="+mech+",")
}

// oneLine fails unless s is exactly one line of text.
func oneLine(t *testing.T, what, s string) {
	t.Helper()
	if s == "" || strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("%s should be one line, got %q", what, s)
	}
}
