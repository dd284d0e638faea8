// Package doctor_test drives "gsendmail doctor", "probe" and
// "--serverinfo" (the built binary) against a real Postfix + Dovecot with
// strict HELO rules (internal/testkit/testenv/mailserver) and checks that each
// common failure produces the right error line, fix and exit code.
package doctor_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	user = "user@gsendmail.test"
	pass = "s3cret-Pa55word-for-doctor"
)

type result = testbin.Result

func run(t *testing.T, cfg, stdin string, args ...string) result {
	t.Helper()
	return testbin.Run(t, cfg, nil, stdin, args...)
}

func writeConfig(t *testing.T, body string) string { return testbin.WriteConfig(t, body) }

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// account is a password account on the server's STARTTLS port; extra
// lines override or add keys.
func account(s *mailserver.Server, addr, tls, password, extra string) string {
	return fmt.Sprintf(`[account.t]
host = "localhost"
port = %s
tls = %q
user = %q
password_command = "printf %%s %s"
from = %q
%s
`, port(addr), tls, user, password, user, extra)
}

func trust(s *mailserver.Server) string { return fmt.Sprintf("tls_trust_file = %q\n", s.CAFile) }

// jsonReport mirrors the documented JSON output.
type jsonReport struct {
	Command string `json:"command"`
	Subject string `json:"subject"`
	Checks  []struct {
		Step     string `json:"step"`
		Status   string `json:"status"`
		Message  string `json:"message"`
		Fix      string `json:"fix"`
		ExitCode int    `json:"exit_code"`
	} `json:"checks"`
	Transcript []struct {
		ElapsedMS float64 `json:"elapsed_ms"`
		Line      string  `json:"line"`
	} `json:"transcript"`
	Summary struct {
		OK, Warnings, Errors int
	} `json:"summary"`
	ExitCode int `json:"exit_code"`
}

func doctorJSON(t *testing.T, cfg string, args ...string) (jsonReport, result) {
	t.Helper()
	r := run(t, cfg, "", append([]string{"doctor", "--json"}, args...)...)
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json output does not parse: %v\n%s", err, r)
	}
	if rep.ExitCode != r.Code {
		t.Errorf("JSON exit_code %d, process exit %d", rep.ExitCode, r.Code)
	}
	if strings.Contains(r.Stdout+r.Stderr, pass) {
		t.Fatalf("the password appears in the output:\n%s", r)
	}
	return rep, r
}

// firstError returns the first check with status error.
func firstError(rep jsonReport) (step, msg, fix string, code int) {
	for _, c := range rep.Checks {
		if c.Status == "error" {
			return c.Step, c.Message, c.Fix, c.ExitCode
		}
	}
	return "", "", "", 0
}

func startServer(t *testing.T, o mailserver.Options) *mailserver.Server {
	t.Helper()
	mailserver.Require(t)
	if o.Users == nil {
		o.Users = map[string]string{user: pass}
	}
	return mailserver.Start(t, o)
}

func TestDoctorOnGoodAccountIsAllOKOnBothPorts(t *testing.T) {
	s := startServer(t, mailserver.Options{})
	for _, tc := range []struct{ name, addr, tls string }{
		{"starttls", s.SubmissionAddr, "starttls"},
		{"implicit-tls", s.SMTPSAddr, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, account(s, tc.addr, tc.tls, pass, trust(s)))
			rep, r := doctorJSON(t, cfg, "--rcpt", "someone@example.org")
			if r.Code != 0 {
				t.Fatalf("want exit 0:\n%s", r)
			}
			steps := map[string]string{}
			for _, c := range rep.Checks {
				if c.Status == "error" {
					t.Errorf("error line %s: %s (fix: %s)", c.Step, c.Message, c.Fix)
				}
				steps[c.Step] = c.Status
			}
			for _, want := range []string{"config", "account", "dns", "tcp", "tls", "certificate", "verify", "fingerprint", "ehlo", "ehlo postfix", "capabilities", "auth method", "credentials", "auth", "envelope"} {
				if steps[want] != "ok" {
					t.Errorf("step %q is %q, want ok", want, steps[want])
				}
			}
			if rep.Summary.Errors != 0 || rep.Summary.OK < 15 {
				t.Errorf("summary %+v", rep.Summary)
			}
			var fp string
			for _, c := range rep.Checks {
				if c.Step == "fingerprint" {
					fp = c.Message
				}
			}
			want := strings.ToUpper(s.Fingerprint)
			if !strings.Contains(strings.ReplaceAll(fp, ":", ""), want) {
				t.Errorf("fingerprint line %q does not carry the server's %s", fp, want)
			}
			if n := len(s.Deliveries()); n != 0 {
				t.Errorf("doctor delivered %d messages; it must send nothing", n)
			}
		})
	}
	// The text form ends with a summary and exit 0.
	cfg := writeConfig(t, account(s, s.SubmissionAddr, "starttls", pass, trust(s)))
	r := run(t, cfg, "", "doctor", "t")
	if r.Code != 0 || !strings.Contains(r.Stdout, "summary: ") || strings.Contains(r.Stdout, "\x1b[") {
		t.Fatalf("text doctor: want exit 0, a summary and no colour on a pipe:\n%s", r)
	}
}

func TestDoctorReportsBadPasswordAsAuthRefusedWithServerWords(t *testing.T) {
	s := startServer(t, mailserver.Options{})
	cfg := writeConfig(t, account(s, s.SubmissionAddr, "starttls", "wrong-password", trust(s)))
	rep, r := doctorJSON(t, cfg)
	step, msg, fix, code := firstError(rep)
	if r.Code != 77 || step != "auth" || code != 77 {
		t.Fatalf("want the auth step to fail with 77:\n%s", r)
	}
	if !strings.Contains(msg, "535") || !strings.Contains(fix, "password set t") {
		t.Errorf("auth line %q / fix %q: want the server's 535 and how to store a new password", msg, fix)
	}
	if strings.Contains(r.Stdout, "wrong-password") {
		t.Error("the password appears in the output")
	}
}

func TestDoctorReportsWrongPortAsUnreachable(t *testing.T) {
	s := startServer(t, mailserver.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, account(s, closed, "starttls", pass, trust(s)))
	rep, r := doctorJSON(t, cfg)
	step, msg, fix, code := firstError(rep)
	if r.Code != 75 || step != "tcp" || code != 75 {
		t.Fatalf("want the tcp step to fail with 75:\n%s", r)
	}
	if !strings.Contains(msg, "refused") || !strings.Contains(fix, "587") {
		t.Errorf("tcp line %q / fix %q", msg, fix)
	}
}

func TestDoctorReportsSelfSignedCertificateWithoutTrustFile(t *testing.T) {
	s := startServer(t, mailserver.Options{CertKind: mailserver.CertSelfSigned})
	cfg := writeConfig(t, account(s, s.SMTPSAddr, "tls", pass, ""))
	rep, r := doctorJSON(t, cfg)
	step, msg, fix, code := firstError(rep)
	if r.Code != 76 || step != "verify" || code != 76 {
		t.Fatalf("want the verify step to fail with 76:\n%s", r)
	}
	if !strings.Contains(msg, "unknown authority") || !strings.Contains(fix, "tls_trust_file") || !strings.Contains(fix, "tls_fingerprint = ") {
		t.Errorf("verify line %q / fix %q: want unknown authority, tls_trust_file and a pin", msg, fix)
	}
	// The certificate is still described, for the user to judge.
	for _, c := range rep.Checks {
		if c.Step == "certificate" && !strings.Contains(c.Message, "subject") {
			t.Errorf("certificate line %q", c.Message)
		}
	}
}

func TestDoctorReportsEHLONamePostfixRejectsAtRCPT(t *testing.T) {
	// Postfix evaluates smtpd_helo_restrictions at RCPT TO
	// (smtpd_delay_reject = yes), after a successful AUTH: only the
	// envelope check reveals the refusal, as with Invalid HeloHost.
	s := startServer(t, mailserver.Options{ExtraMain: map[string]string{
		"smtpd_helo_restrictions": "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, check_helo_access inline:{ { refused.gsendmail.test = 550 5.5.0 Invalid HeloHost } }",
	}})
	cfg := writeConfig(t, account(s, s.SubmissionAddr, "starttls", pass, trust(s)+"ehlo_name = \"refused.gsendmail.test\"\n"))
	rep, r := doctorJSON(t, cfg, "--rcpt", "someone@example.org")
	step, msg, fix, code := firstError(rep)
	if r.Code != 78 || step != "envelope" || code != 78 {
		t.Fatalf("want the envelope step to fail with 78 (fix ehlo_name):\n%s", r)
	}
	if !strings.Contains(msg, "Invalid HeloHost") || !strings.Contains(fix, "ehlo_name") {
		t.Errorf("envelope line %q / fix %q", msg, fix)
	}
	for _, c := range rep.Checks {
		if c.Step == "auth" && c.Status != "ok" {
			t.Errorf("auth should pass before the HELO refusal: %+v", c)
		}
		if c.Step == "ehlo" && !strings.Contains(c.Message, "configured") {
			t.Errorf("ehlo line should name the configured rule: %q", c.Message)
		}
	}
	if len(s.Deliveries()) != 0 {
		t.Error("a message was delivered")
	}
}

// oauthDoctor is an oauth2 account on a real Postfix + Dovecot that checks
// tokens at a fake provider, with its refresh token imported. runIn runs
// gsendmail with the account's state directory.
type oauthDoctor struct {
	as         *oauthtest.Server
	secret, rt string
	state      string
	runIn      func(stdin string, args ...string) result
}

func newOAuthDoctor(t *testing.T) *oauthDoctor {
	t.Helper()
	mailserver.Require(t)
	as := oauthtest.NewServer(t)
	as.SetUser(user)
	id, secret := as.Client()
	s := startServer(t, mailserver.Options{OAuthTokenInfoURL: as.TokenInfoURL()})
	tokenFile := filepath.Join(t.TempDir(), "refresh.json")
	cfg := writeConfig(t, fmt.Sprintf(`[account.t]
host = "localhost"
port = %s
tls = "tls"
user = %q
from = %q
auth = "oauth2"
oauth_provider = "generic"
oauth_client_id = %q
oauth_client_secret = %q
oauth_auth_url = %q
oauth_token_url = %q
oauth_scopes = ["mail"]
token_store = "file"
token_file = %q
%s`, port(s.SMTPSAddr), user, user, id, secret, as.AuthURL(), as.TokenURL(), tokenFile, trust(s)))
	rt := "refresh-token-for-doctor"
	as.AddRefreshToken(rt, user)
	// One HOME/XDG_STATE_HOME for import and doctor, so they share the cache.
	state := t.TempDir()
	runIn := func(stdin string, args ...string) result {
		return testbin.Run(t, cfg, []string{"HOME=" + state, "XDG_STATE_HOME=" + state}, stdin, args...)
	}
	if r := runIn(rt+"\n", "auth", "import", "t"); r.Code != 0 {
		t.Fatalf("auth import:\n%s", r)
	}
	return &oauthDoctor{as: as, secret: secret, rt: rt, state: state, runIn: runIn}
}

// doctor runs doctor --json and decodes its report.
func (o *oauthDoctor) doctor(t *testing.T) (result, jsonReport) {
	t.Helper()
	r := o.runIn("", "doctor", "--json", "t")
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	return r, rep
}

// cachedAccessToken is the access token gsendmail cached for the account.
func (o *oauthDoctor) cachedAccessToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(o.state, "gsendmail", "cache", "t.json"))
	var c struct {
		AccessToken string `json:"access_token"`
	}
	if err != nil || json.Unmarshal(b, &c) != nil || c.AccessToken == "" {
		t.Fatalf("no cached access token (%v): %s", err, b)
	}
	return c.AccessToken
}

func TestDoctorReportsRevokedOAuthRefreshTokenWithLoginCommand(t *testing.T) {
	o := newOAuthDoctor(t)
	as, rt, secret, state, runIn := o.as, o.rt, o.secret, o.state, o.runIn
	r := runIn("", "doctor", "--json", "t")
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 {
		t.Fatalf("doctor with a good token: want exit 0 (%v):\n%s", err, r)
	}
	if c := findStep(rep, "auth"); c == nil || !strings.Contains(c.Message, "accepted") {
		t.Fatalf("auth line %+v", c)
	}

	// Revoke the refresh token and drop the cached access token: the next
	// refresh gets invalid_grant.
	as.Revoke(rt)
	os.RemoveAll(filepath.Join(state, "gsendmail", "cache"))
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "cache") {
			os.Remove(p)
		}
		return nil
	})
	r = runIn("", "doctor", "--json", "t")
	rep = jsonReport{}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	step, msg, fix, code := firstError(rep)
	if r.Code != 77 || code != 77 || step != "access token" {
		t.Fatalf("want the access token step to fail with 77:\n%s", r)
	}
	if !strings.Contains(msg, "invalid_grant") || !strings.Contains(fix, "gsendmail auth login t") {
		t.Errorf("access token line %q / fix %q", msg, fix)
	}
	if strings.Contains(r.Stdout, rt) || strings.Contains(r.Stdout, secret) {
		t.Error("a token or the client secret appears in the output")
	}
}

func findStep(rep jsonReport, step string) *struct {
	Step     string `json:"step"`
	Status   string `json:"status"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
	ExitCode int    `json:"exit_code"`
} {
	for i := range rep.Checks {
		if rep.Checks[i].Step == step {
			return &rep.Checks[i]
		}
	}
	return nil
}

func TestProbePrintsTimedTranscriptAndCapabilitiesWithoutAuth(t *testing.T) {
	s := startServer(t, mailserver.Options{})
	cfg := writeConfig(t, account(s, s.SubmissionAddr, "starttls", pass, trust(s)))
	r := run(t, cfg, "", "probe", "localhost:"+port(s.SubmissionAddr), "--tls-trust-file", s.CAFile, "--json",
		"--from", user, "--to", "someone@example.org")
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, r)
	}
	// Without AUTH, Postfix on the submission port refuses to relay: the
	// envelope line shows the server's words and the exit code is 69.
	if c := findStep(rep, "capabilities"); c == nil || !strings.Contains(c.Message, "AUTH PLAIN") || !strings.Contains(c.Message, "PIPELINING") {
		t.Fatalf("capabilities: %+v\n%s", c, r)
	}
	if c := findStep(rep, "envelope"); c == nil || c.Status != "error" || !strings.Contains(c.Message, "RCPT") {
		t.Errorf("envelope line: %+v", c)
	}
	var sawSTARTTLS, sawEHLO bool
	last := -1.0
	for _, l := range rep.Transcript {
		if l.ElapsedMS < last {
			t.Errorf("transcript times go backwards at %q", l.Line)
		}
		last = l.ElapsedMS
		sawSTARTTLS = sawSTARTTLS || l.Line == "-> STARTTLS"
		sawEHLO = sawEHLO || strings.HasPrefix(l.Line, "-> EHLO ")
	}
	if !sawSTARTTLS || !sawEHLO {
		t.Errorf("transcript lacks STARTTLS or EHLO: %+v", rep.Transcript)
	}
	// Text form prints the transcript.
	r = run(t, cfg, "", "probe", "localhost:"+port(s.SMTPSAddr), "--tls", "--tls-trust-file", s.CAFile)
	if r.Code != 0 || !strings.Contains(r.Stdout, "transcript") || !strings.Contains(r.Stdout, "-> EHLO") {
		t.Fatalf("probe text:\n%s", r)
	}
}

func TestServerInfoShowsCapabilitiesOfTheAccountsServer(t *testing.T) {
	s := startServer(t, mailserver.Options{})
	cfg := writeConfig(t, account(s, s.SMTPSAddr, "tls", pass, trust(s)))
	r := run(t, cfg, "", "--serverinfo", "-a", "t")
	if !strings.HasPrefix(r.Stdout, "gsendmail serverinfo") || r.Code != 0 || !strings.Contains(r.Stdout, "capabilities") || !strings.Contains(r.Stdout, "AUTH PLAIN") {
		t.Fatalf("--serverinfo:\n%s", r)
	}
}

// Doctor authenticates by submit's own steps: a cached access token that
// the provider revoked early is refused with Dovecot's JSON challenge,
// dropped, refreshed once and AUTH retried, as a send does; when that
// refresh fails, doctor names the access token step and the login
// command instead of reporting the first AUTH refusal.
func TestDoctorRetriesARevokedAccessTokenOnceAndReportsAFailedRefresh(t *testing.T) {
	o := newOAuthDoctor(t)
	if r, _ := o.doctor(t); r.Code != 0 {
		t.Fatalf("doctor with a good token: want exit 0:\n%s", r)
	}
	auths := func(rep jsonReport) int {
		n := 0
		for _, l := range rep.Transcript {
			if strings.HasPrefix(l.Line, "-> AUTH ") {
				n++
			}
		}
		return n
	}

	o.as.Revoke(o.cachedAccessToken(t))
	r, rep := o.doctor(t)
	if c := findStep(rep, "auth"); r.Code != 0 || c == nil || !strings.Contains(c.Message, "accepted") {
		t.Fatalf("doctor after the access token was revoked: want AUTH accepted after one refresh:\n%s", r)
	}
	if n := auths(rep); n != 2 {
		t.Errorf("transcript shows %d AUTH commands; want 2 (the revoked token, then the refreshed one)", n)
	}

	o.as.Revoke(o.cachedAccessToken(t))
	o.as.SetError(oauthtest.PathToken, 400, "invalid_grant", "Token has been expired or revoked.")
	r, rep = o.doctor(t)
	step, msg, fix, code := firstError(rep)
	if r.Code != 77 || code != 77 || step != "access token" {
		t.Fatalf("want the access token step to fail with 77 when the retry's refresh fails:\n%s", r)
	}
	if !strings.Contains(msg, "refused the access token") || !strings.Contains(msg, "invalid_grant") || !strings.Contains(fix, "gsendmail auth login t") {
		t.Errorf("access token line %q / fix %q", msg, fix)
	}
	if n := auths(rep); n != 1 {
		t.Errorf("transcript shows %d AUTH commands; want 1 (no token to retry with)", n)
	}
	if strings.Contains(r.Stdout, o.rt) || strings.Contains(r.Stdout, o.secret) {
		t.Error("a token or the client secret appears in the output")
	}
}
