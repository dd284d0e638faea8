package oauth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// auth = "oauth2" takes XOAUTH2 when Dovecot offers both; forcing either
// mechanism uses it. The token cached by the import is used as is.
func TestDovecotAcceptsFreshTokenWithEachOAuthMechanism(t *testing.T) {
	for _, tc := range []struct{ auth, mech string }{
		{"oauth2", "XOAUTH2"},
		{"xoauth2", "XOAUTH2"},
		{"oauthbearer", "OAUTHBEARER"},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			a := newAccount(t, accountOpts{auth: tc.auth})
			before := a.tokenRequests()
			a.importToken()
			if n := a.tokenRequests() - before; n != 1 {
				t.Fatalf("auth import made %d token requests; want 1 (it checks the token)", n)
			}
			logins := saslMethods(a.fx, tc.mech)
			before = a.tokenRequests()
			subject := "fresh " + t.Name()
			if r := a.send(subject); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
				t.Fatalf("want silent success:\n%s", r)
			}
			waitDelivered(t, a.fx, subject, 1)
			if n := a.tokenRequests() - before; n != 0 {
				t.Errorf("sending with a valid cached token made %d token requests; want 0", n)
			}
			if saslMethods(a.fx, tc.mech) != logins+1 {
				t.Errorf("Postfix did not log a %s login; maillog tail:\n%s", tc.mech, tail(a.fx.Mail.Log(), 10))
			}
		})
	}
}

// The access token is revoked at the provider while gsendmail's cache still
// thinks it valid: Dovecot answers with the 334 JSON challenge, gsendmail
// answers it, drops the cache, refreshes once and retries AUTH once.
func TestRevokedCachedAccessTokenIsRefreshedOnceAndAuthRetried(t *testing.T) {
	for _, auth := range []string{"xoauth2", "oauthbearer"} {
		t.Run(auth, func(t *testing.T) {
			a := newAccount(t, accountOpts{auth: auth})
			a.importToken()
			old := a.cached()
			if !old.Expiry.After(time.Now().Add(30 * time.Minute)) {
				t.Fatalf("cached token expires %v; the test needs one valid locally", old.Expiry)
			}
			a.fx.Auth.Revoke(old.AccessToken)
			before := a.tokenRequests()
			subject := "retry " + t.Name()
			r := a.send(subject, "-v")
			if r.Code != 0 {
				t.Fatalf("want success after refresh:\n%s", r)
			}
			waitDelivered(t, a.fx, subject, 1)
			if n := a.tokenRequests() - before; n != 1 {
				t.Errorf("token endpoint got %d requests; want exactly 1 refresh", n)
			}
			if got := strings.Count(r.Stderr, "-> AUTH "+strings.ToUpper(auth)); got != 2 {
				t.Errorf("transcript shows %d AUTH commands; want 2 (first try, one retry):\n%s", got, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "<- 334 ") {
				t.Errorf("transcript does not show Dovecot's 334 error challenge:\n%s", r.Stderr)
			}
			if nw := a.cached().AccessToken; nw == old.AccessToken || !a.fx.Auth.Valid(nw) {
				t.Error("the cache does not hold a new, valid access token after the retry")
			}
		})
	}
}

func TestRevokedRefreshTokenExitsNoPermNamingTheLoginCommand(t *testing.T) {
	a := newAccount(t, accountOpts{})
	a.importToken()
	a.expireCache()
	a.fx.Auth.Revoke(a.rt)
	subject := "revoked refresh " + t.Name()
	r := a.send(subject)
	if r.Code != 77 {
		t.Fatalf("want exit 77 (EX_NOPERM):\n%s", r)
	}
	oneLine(t, "stderr", r.Stderr)
	if want := "gsendmail auth login " + a.name; !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr does not name %q: %q", want, r.Stderr)
	}
	if strings.Contains(r.Stderr, a.rt) {
		t.Error("stderr contains the refresh token")
	}
	notDelivered(t, a.fx, subject)
}

func TestTokenEndpointDownWithExpiredCacheIsTemporaryAndKeepsRefreshToken(t *testing.T) {
	a := newAccount(t, accountOpts{})
	a.importToken()
	a.expireCache()
	a.fx.Auth.SetFail(oauthtest.PathToken, 503)
	defer a.fx.Auth.SetFail(oauthtest.PathToken, 0)
	subject := "endpoint down " + t.Name()
	r := a.send(subject)
	if r.Code != 75 {
		t.Fatalf("want exit 75 (EX_TEMPFAIL) so the caller keeps the message:\n%s", r)
	}
	oneLine(t, "stderr", r.Stderr)
	if !strings.Contains(r.Stderr, "503") || !strings.Contains(r.Stderr, "try again later") {
		t.Errorf("stderr should say the endpoint failed with 503 and to try later: %q", r.Stderr)
	}
	if got := a.storedRefreshToken(); got != a.rt {
		t.Fatalf("refresh token file holds %q after a 503; want the imported token kept", got)
	}
	notDelivered(t, a.fx, subject)

	// Once the endpoint is back the same stored token works.
	a.fx.Auth.SetFail(oauthtest.PathToken, 0)
	subject = "endpoint back " + t.Name()
	if r := a.send(subject); r.Code != 0 {
		t.Fatalf("after the endpoint recovered:\n%s", r)
	}
	waitDelivered(t, a.fx, subject, 1)
}

var statusValid = regexp.MustCompile(`^work: refresh token in file (\S+); access token valid until (\S+)\n$`)

func TestAuthStatusShowsWhereAndExpiryWithoutTokensAndLogoutRemovesThem(t *testing.T) {
	a := newAccount(t, accountOpts{})
	if r := a.run("", "auth", "status", a.name); r.Code != 0 || !strings.Contains(r.Stdout, "no refresh token") ||
		!strings.Contains(r.Stdout, "gsendmail auth login "+a.name) {
		t.Fatalf("status before import should say there is no token and how to log in:\n%s", r)
	}
	a.importToken()
	access := a.cached()
	r := a.run("", "auth", "status", a.name)
	if r.Code != 0 {
		t.Fatalf("auth status:\n%s", r)
	}
	m := statusValid.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("status line %q does not match %v", r.Stdout, statusValid)
	}
	if m[1] != a.tokenPath() {
		t.Errorf("status names %s; the token is in %s", m[1], a.tokenPath())
	}
	exp, err := time.Parse(time.RFC3339, m[2])
	if err != nil || !exp.Equal(access.Expiry) {
		t.Errorf("status expiry %q (%v); the cache says %v", m[2], err, access.Expiry)
	}
	for _, secret := range []string{a.rt, access.AccessToken} {
		if strings.Contains(r.Stdout+r.Stderr, secret) {
			t.Fatalf("auth status printed a token:\n%s", r)
		}
	}

	a.expireCache()
	if r := a.run("", "auth", "status", a.name); !strings.Contains(r.Stdout, "access token expired at") {
		t.Errorf("status with an expired cache: %q", r.Stdout)
	}

	if r := a.run("", "auth", "logout", a.name); r.Code != 0 {
		t.Fatalf("auth logout:\n%s", r)
	}
	for _, p := range []string{a.tokenPath(), a.cachePath()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after logout (%v)", p, err)
		}
	}
	if r := a.run("", "auth", "status", a.name); !strings.Contains(r.Stdout, "no refresh token") {
		t.Errorf("status after logout: %q", r.Stdout)
	}
	r = a.send("after logout " + t.Name())
	if r.Code != 77 || !strings.Contains(r.Stderr, "gsendmail auth login "+a.name) {
		t.Errorf("sending after logout should exit 77 naming the login command:\n%s", r)
	}
}

// Twenty gsendmail processes started together with an expired cache must
// refresh once between them (file lock, re-read after locking), and all
// twenty messages must arrive; twenty more with the fresh cache make no
// request at all.
func TestConcurrentProcessesWithExpiredTokenRefreshOnce(t *testing.T) {
	const n = 20
	a := newAccount(t, accountOpts{})
	a.importToken()
	a.expireCache()
	round := func(label string) int {
		t.Helper()
		before := a.tokenRequests()
		subject := label + " " + t.Name()
		procs := make([]*testbin.Proc, n)
		for i := range procs {
			procs[i] = testbin.Start(t, a.command("-i", "someone@example.org"), strings.NewReader(message(subject)))
		}
		for i, p := range procs {
			if r := p.Wait(0); r.Code != 0 {
				t.Errorf("process %d: %s", i, r)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		waitDelivered(t, a.fx, subject, n)
		return a.tokenRequests() - before
	}
	expired := round("expired")
	valid := round("valid")
	t.Logf("%d concurrent processes with an expired access token: %d token-endpoint request(s)", n, expired)
	t.Logf("%d concurrent processes with a valid cached token: %d token-endpoint request(s)", n, valid)
	if expired != 1 {
		t.Errorf("expired cache: %d token requests; want exactly 1", expired)
	}
	if valid != 0 {
		t.Errorf("valid cache: %d token requests; want 0", valid)
	}
}

func TestVerboseTranscriptMasksXOAUTH2AndNeverShowsTheToken(t *testing.T) {
	a := newAccount(t, accountOpts{auth: "xoauth2"})
	a.importToken()
	at := a.cached().AccessToken
	subject := "verbose " + t.Name()
	r := a.send(subject, "-v")
	if r.Code != 0 {
		t.Fatalf("send -v:\n%s", r)
	}
	waitDelivered(t, a.fx, subject, 1)
	if !strings.Contains(r.Stderr, "-> AUTH XOAUTH2 ***\n") {
		t.Errorf("transcript lacks %q:\n%s", "-> AUTH XOAUTH2 ***", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "<- 235") {
		t.Errorf("transcript lacks the 235 reply:\n%s", r.Stderr)
	}
	logb, err := os.ReadFile(a.logfile)
	if err != nil || len(logb) == 0 {
		t.Fatalf("the account's logfile was not written (%v); the check below would be empty", err)
	}
	payload := "user=" + testUser + "\x01auth=Bearer " + at + "\x01\x01"
	secrets := map[string]string{
		"access token":            at,
		"base64 of access token":  base64.StdEncoding.EncodeToString([]byte(at)),
		"XOAUTH2 payload base64":  base64.StdEncoding.EncodeToString([]byte(payload)),
		"refresh token":           a.rt,
		"base64 of refresh token": base64.StdEncoding.EncodeToString([]byte(a.rt)),
	}
	for where, text := range map[string]string{"stdout": r.Stdout, "stderr": r.Stderr, "logfile": string(logb)} {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains the %s", where, what)
			}
		}
	}
}

// Under cron or ssh there is no D-Bus session: token_store = "keyring"
// must fail at once with one line that names the fix, not hang.
func TestKeyringTokenStoreWithoutDBusNamesFileStore(t *testing.T) {
	if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
		t.Skip("a systemd user bus exists here; the no-D-Bus path cannot be shown")
	}
	a := newAccount(t, accountOpts{tokenStore: "keyring"})
	for _, tc := range []struct {
		name  string
		run   func() result
		stdin string
	}{
		{"send", func() result { return a.send("keyring " + t.Name()) }, ""},
		{"import", func() result { return a.run(a.rt+"\n", "auth", "import", a.name) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			if r.Code != 78 {
				t.Fatalf("want exit 78 (EX_CONFIG):\n%s", r)
			}
			oneLine(t, "stderr", r.Stderr)
			for _, want := range []string{"no D-Bus session", `token_store = "file"`} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q: %q", want, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, a.rt) {
				t.Error("stderr contains the refresh token")
			}
		})
	}
	notDelivered(t, a.fx, "keyring "+t.Name())
}

// Microsoft issues JWTs of several kilobytes. The one-line AUTH form would
// exceed Postfix's line limit, so the token goes after the 334: always for
// oauth_provider = "microsoft", and by fallback for any line over 512
// octets (RFC 4954 4).
func TestLongTokenAuthenticatesThroughPostfixWithTwoStepAuth(t *testing.T) {
	const size = 3000
	f := servers(t)
	f.Auth.AccessTokenSize(size)
	defer f.Auth.AccessTokenSize(0)
	for _, tc := range []struct{ provider, auth, mech string }{
		{"microsoft", "oauth2", "XOAUTH2"},
		{"generic", "xoauth2", "XOAUTH2"},
		{"generic", "oauthbearer", "OAUTHBEARER"},
	} {
		t.Run(tc.provider+"-"+tc.auth, func(t *testing.T) {
			a := newAccount(t, accountOpts{provider: tc.provider, auth: tc.auth})
			a.importToken()
			if got := len(a.cached().AccessToken); got != size {
				t.Fatalf("cached access token is %d bytes; want %d", got, size)
			}
			subject := "long token " + t.Name()
			r := a.send(subject, "-v")
			if r.Code != 0 {
				t.Fatalf("send with a %d-byte token:\n%s\nmaillog tail:\n%s", size, r, tail(f.Mail.Log(), 10))
			}
			waitDelivered(t, f, subject, 1)
			if !strings.Contains(r.Stderr, "-> AUTH "+tc.mech+"\n<- 334") {
				t.Errorf("transcript does not show the two-step form (AUTH %s alone, then 334):\n%s", tc.mech, r.Stderr)
			}
		})
	}
}

// The short-token Microsoft account uses the two-step form too (Microsoft
// requires it), which the transcript shows.
func TestMicrosoftProviderSendsXOAUTH2InTwoSteps(t *testing.T) {
	a := newAccount(t, accountOpts{provider: "microsoft"})
	a.importToken()
	subject := "microsoft " + t.Name()
	r := a.send(subject, "-v")
	if r.Code != 0 {
		t.Fatalf("send:\n%s", r)
	}
	waitDelivered(t, a.fx, subject, 1)
	if !strings.Contains(r.Stderr, "-> AUTH XOAUTH2\n<- 334 \n-> ***\n<- 235") {
		t.Errorf("transcript does not show AUTH XOAUTH2 / 334 / *** / 235:\n%s", r.Stderr)
	}
}

// Why the two-step form matters: the same valid multi-kilobyte token sent
// on the AUTH line itself (what a naive client does) is not accepted by
// Postfix, whose line_length_limit is 2048.
func TestLongTokenOnTheAUTHLineIsNotAcceptedByPostfix(t *testing.T) {
	const size = 3000
	f := servers(t)
	f.Auth.AccessTokenSize(size)
	defer f.Auth.AccessTokenSize(0)
	a := newAccount(t, accountOpts{auth: "xoauth2"})
	a.importToken()
	at := a.cached().AccessToken
	if !f.Auth.Valid(at) || len(at) != size {
		t.Fatalf("need a valid %d-byte token, have %d bytes", size, len(at))
	}
	pem, err := os.ReadFile(f.Mail.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", f.Mail.SMTPSAddr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tc := textproto.NewConn(conn)
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	tc.PrintfLine("EHLO client.gsendmail.test")
	if _, _, err := tc.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	ir := base64.StdEncoding.EncodeToString([]byte("user=" + testUser + "\x01auth=Bearer " + at + "\x01\x01"))
	tc.PrintfLine("AUTH XOAUTH2 %s", ir)
	code, msg, err := tc.ReadResponse(235)
	if code == 235 {
		t.Fatal("Postfix accepted the one-line form; the two-step fallback would not be needed")
	}
	if code/100 != 5 {
		t.Fatalf("one-line AUTH got %d %q (%v); want a 5xx refusal", code, msg, err)
	}
	t.Logf("one-line AUTH XOAUTH2 with a %d-byte token: %d %s (%v)", size, code, msg, err)
}
