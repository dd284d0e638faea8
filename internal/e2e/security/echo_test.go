package security

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

// Promise 4, hostile server: a server that answers AUTH with
// "535 ... <what it received>" (debug servers, proxies, honeypots) must
// not get the password, the access token or their PLAIN/LOGIN/XOAUTH2/
// OAUTHBEARER base64 forms into stderr, the -v transcript, the log file,
// syslog or doctor's report, whether it echoes the payload whole, split
// across the lines of a multi-line reply, or decoded.
func TestServerEchoingAuthPayloadsLeaksNoSecret(t *testing.T) {
	as := oauthtest.NewServer(t)
	as.SetUser(sentUser)
	as.SetClient(sentClientI, sentClient)
	sys := captureSyslog(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	logfile := filepath.Join(dir, "gsendmail.log")

	type echo struct {
		name  string
		reply func(payloads []string) string
	}
	echoes := []echo{
		{"whole", func(p []string) string {
			return "535 5.7.8 Authentication failed for " + strings.Join(p, " ") + "\r\n"
		}},
		{"split", func(p []string) string {
			all := strings.Join(p, "")
			h := len(all) / 2
			return "535-5.7.8 got " + all[:h] + "\r\n535 5.7.8 " + all[h:] + " refused\r\n"
		}},
		{"decoded", func(p []string) string {
			var d []string
			for _, x := range p {
				d = append(d, strings.ReplaceAll(decode64(x), "\x00", "^@"))
			}
			return "535 5.7.8 you said " + strings.Join(d, " | ") + "\r\n"
		}},
	}
	var outputs []string
	var tokens []string
	checked := 0
	for _, ec := range echoes {
		f := newFake(t)
		f.starttls = "ok"
		f.authEcho = ec.reply
		tokenFile := filepath.Join(dir, "tokens-"+ec.name, "refresh.json")
		rt := "rt-Echo" + ec.name + "Zq81Lm4Xw"
		as.AddRefreshToken(rt, sentUser)
		tokens = append(tokens, rt)
		common := fmt.Sprintf("host = \"127.0.0.1\"\nport = %s\ntls = \"starttls\"\ntls_trust_file = %q\nuser = %q\nfrom = %q\nlogfile = %q\nsyslog = \"mail\"\ntimeout = \"5s\"\n",
			port(f.addr()), f.ca, sentUser, sentUser, logfile)
		oauthCommon := fmt.Sprintf("oauth_provider = \"generic\"\noauth_client_id = %q\noauth_client_secret = %q\noauth_auth_url = %q\noauth_token_url = %q\noauth_scopes = [\"mail\"]\ntoken_store = \"file\"\ntoken_file = %q\n",
			sentClientI, sentClient, as.AuthURL(), as.TokenURL(), tokenFile)
		cfg := writeFile(t, "c.toml", fmt.Sprintf(`default_account = "plain"
[account.plain]
%[1]sauth = "plain"
password = %[3]q
[account.login]
%[1]sauth = "login"
password = %[3]q
[account.xoauth2]
%[1]sauth = "xoauth2"
%[2]s
[account.oauthbearer]
%[1]sauth = "oauthbearer"
%[2]s
`, common, oauthCommon, sentPass), 0o600)
		if r := run(t, runOpts{cfg: cfg, state: state, stdin: strings.NewReader(rt + "\n")}, "auth", "import", "xoauth2"); r.Code != 0 {
			t.Fatalf("auth import:\n%s", r)
		}
		for _, acct := range []string{"plain", "login", "xoauth2", "oauthbearer"} {
			name := ec.name + "/" + acct
			r := run(t, runOpts{cfg: cfg, state: state}, "-v", "-a", acct, "someone@example.org")
			if r.Code != 77 {
				t.Errorf("%s: want exit 77 for the refused AUTH:\n%s", name, r)
			}
			if !strings.Contains(r.Stderr, "535") {
				t.Errorf("%s: the server's refusal should still be shown:\n%s", name, r)
			}
			outputs = append(outputs, name+" -v stderr:\n"+r.Stderr+r.Stdout)
			d := run(t, runOpts{cfg: cfg, state: state}, "doctor", acct)
			outputs = append(outputs, name+" doctor:\n"+d.Stdout+d.Stderr)
			checked += 2
		}
		tokens = append(tokens, cacheAccessTokens(t, state)...)
		f.mu.Lock()
		n := len(f.echoed)
		f.mu.Unlock()
		if n == 0 {
			t.Fatalf("%s: the hostile server received no AUTH payload; nothing was tested", ec.name)
		}
	}
	if b, err := os.ReadFile(logfile); err != nil || len(b) == 0 {
		t.Errorf("no log file written (%v); the log path was not exercised", err)
	} else {
		outputs = append(outputs, "logfile:\n"+string(b))
	}
	if sys.ok {
		outputs = append(outputs, "syslog:\n"+sys.String())
	}
	if len(tokens) < 4 {
		t.Errorf("found only %d tokens to hunt for; the OAuth2 paths did not run", len(tokens))
	}
	all := append([]string{sentPass, sentClient}, tokens...)
	secrets := forms(all...)
	frags := fragments(all, 12)
	for _, o := range outputs {
		for _, sec := range secrets {
			if strings.Contains(o, sec) {
				t.Errorf("secret form %q leaked in %s", sec, o)
			}
		}
		for _, fr := range frags {
			if strings.Contains(o, fr) {
				t.Errorf("a 12-character piece %q of a secret or of its base64 leaked in %s", fr, o)
			}
		}
	}
	t.Logf("checked %d outputs (+ log file, syslog captured: %v) for %d secret forms and %d fragments; 3 echo styles x 4 mechanisms", checked, sys.ok, len(secrets), len(frags))
}

func decode64(s string) string {
	b, err := base64Decode(s)
	if err != nil {
		return s
	}
	return string(b)
}

var base64Decode = base64.StdEncoding.DecodeString

// fragments returns every n-character piece of each secret and of the part
// of its base64 encoding that does not depend on the neighbouring bytes,
// at each of the three byte alignments: what survives of a secret when a
// server splits or cuts the base64 of a payload that contains it.
func fragments(secrets []string, n int) []string {
	var out []string
	add := func(s string) {
		for i := 0; i+n <= len(s); i++ {
			out = append(out, s[i:i+n])
		}
	}
	for _, s := range secrets {
		add(s)
		for k := 0; k < 3; k++ {
			e := base64.StdEncoding.EncodeToString(append(make([]byte, k), s...))
			from := (8*k + 5) / 6
			to := 8 * (k + len(s)) / 6
			if to > from {
				add(e[from:to])
			}
		}
	}
	return out
}
