package serve

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// oauthEnv is an env whose account "t" authenticates with OAuth2 against
// Dovecot's oauth2 passdb; its refresh token is imported through the CLI
// and the cached access token then marked expired, so the next send must
// refresh.
func oauthEnv(t *testing.T, auth string) *env {
	t.Helper()
	e := newEnv(t, accountOpts{auth: auth})
	rt := "rt-serve-" + strings.ReplaceAll(t.Name(), "/", "-")
	e.fx.Auth.AddRefreshToken(rt, testUser)
	t.Cleanup(func() { e.fx.Auth.Revoke(rt) })
	if r := e.run(rt+"\n", "auth", "import", "t"); r.Code != 0 {
		t.Fatalf("gsendmail auth import t:\n%s", r)
	}
	e.expireCache()
	return e
}

func (e *env) cachePath() string { return filepath.Join(e.home, "gsendmail", "cache", "t.json") }

// expireCache rewrites the cached access token as expired an hour ago.
func (e *env) expireCache() {
	e.t.Helper()
	b, err := os.ReadFile(e.cachePath())
	if err != nil {
		e.t.Fatalf("reading the access-token cache: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		e.t.Fatalf("access-token cache: %v", err)
	}
	c["expiry"] = time.Now().Add(-time.Hour).UTC().Round(time.Second)
	b, _ = json.Marshal(c)
	if err := os.WriteFile(e.cachePath(), b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func tokenRequests(f *fixture.Servers) int { return f.Auth.Requests(oauthtest.PathToken) }

// saslLogins counts Postfix's successful logins with mech.
func saslLogins(f *fixture.Servers, mech string) int {
	return strings.Count(f.Mail.Log(), "sasl_method="+mech+",")
}

// The daemon refreshes the expired access token itself (one request to the
// token endpoint) and authenticates upstream with XOAUTH2 or OAUTHBEARER,
// which Dovecot validates; a second message reuses the token.
func TestServeRefreshesTheTokenAndRelaysWithEachOAuthMechanism(t *testing.T) {
	for _, tc := range []struct{ auth, mech string }{{"xoauth2", "XOAUTH2"}, {"oauthbearer", "OAUTHBEARER"}} {
		t.Run(tc.auth, func(t *testing.T) {
			e := oauthEnv(t, tc.auth)
			d := e.startServe()
			before, logins := tokenRequests(e.fx), saslLogins(e.fx, tc.mech)
			subjects := []string{"oauth one " + t.Name(), "oauth two " + t.Name()}
			for _, s := range subjects {
				if code, text := sendOne(t, d.Addr, s); code != 250 {
					t.Fatalf("through serve with %s: %q", tc.mech, text)
				}
			}
			for _, s := range subjects {
				ds := waitSubject(t, e.fx, s, 1)
				checkEnvelope(t, ds[0], testUser, rcptAddr)
				checkExact(t, ds[0], []byte(message(s)))
			}
			if n := tokenRequests(e.fx) - before; n != 1 {
				t.Errorf("token endpoint got %d requests for two messages with an expired cache; want 1 refresh", n)
			}
			if saslLogins(e.fx, tc.mech) <= logins {
				t.Errorf("Postfix logged no %s login; maillog tail:\n%s", tc.mech, tailLines(e.fx.Mail.Log(), 10))
			}
		})
	}
}

// Twenty sendmail invocations and the daemon, all starting with an
// expired access token at once, refresh it exactly once between them (the
// token file lock), and every message arrives.
func TestTwentySendmailsAndTheDaemonRefreshAnExpiredTokenOnce(t *testing.T) {
	const procs, smtpClients = 20, 5
	e := oauthEnv(t, "xoauth2")
	d := e.startServe()
	before := tokenRequests(e.fx)
	subject := "refresh once " + t.Name()
	var wg sync.WaitGroup
	errs := make(chan string, procs+smtpClients)
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = testbin.Command(t, e.environ(), "-i", rcptAddr)
	}
	for i := 0; i < smtpClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dialRaw(d.Addr)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer s.c.Close()
			if code, text := s.transaction(testUser, rcptAddr, message(subject)); code != 250 {
				errs <- "serve client: " + text
			}
		}()
	}
	started := make([]*testbin.Proc, procs)
	for i, c := range cmds {
		started[i] = testbin.Start(t, c, strings.NewReader(message(subject)))
	}
	for i, p := range started {
		if r := p.Wait(0); r.Code != 0 {
			errs <- "sendmail " + itoa(i) + ": " + r.String()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	waitSubject(t, e.fx, subject, procs+smtpClients)
	if n := tokenRequests(e.fx) - before; n != 1 {
		t.Errorf("%d sendmail processes + the daemon (%d clients) made %d token-endpoint requests; want exactly 1", procs, smtpClients, n)
	}
}

// The token endpoint is down while the access token is expired: the
// client gets 451 (retry later), nothing is relayed, and once the endpoint
// is back the next message goes through.
func TestTokenEndpointDownIs451(t *testing.T) {
	e := oauthEnv(t, "xoauth2")
	d := e.startServe()
	e.fx.Auth.SetFail(oauthtest.PathToken, 503)
	defer e.fx.Auth.SetFail(oauthtest.PathToken, 0)
	subject := "endpoint down " + t.Name()
	code, text := sendOne(t, d.Addr, subject)
	checkReply(t, "end of data with the token endpoint down", code, text, 451, "4.4.")
	e.fx.Auth.SetFail(oauthtest.PathToken, 0)
	back := "endpoint back " + t.Name()
	if code, text := sendOne(t, d.Addr, back); code != 250 {
		t.Fatalf("after the endpoint came back: %q", text)
	}
	waitSubject(t, e.fx, back, 1)
	noneWithSubject(t, e.fx, subject)
}
