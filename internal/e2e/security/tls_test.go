package security

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

func realConfig(s *mailserver.Server, addr, tls, extra string) string {
	return fmt.Sprintf(`default_account = "t"
[account.t]
host = "localhost"
port = %s
tls = %q
user = %q
password = %q
from = %q
timeout = "10s"
%s
`, port(addr), tls, sentUser, sentPass, sentUser, extra)
}

// Promise 2: certificates are verified by default and each failure says
// which problem it is; tls_verify = false works only with a loud warning.
func TestCertificateProblemsAreRefusedWithTheReason(t *testing.T) {
	mailserver.Require(t)
	for _, tc := range []struct {
		kind, trust, extra, phrase string
		code                       int
		warn                       bool
	}{
		{kind: mailserver.CertWrongName, trust: "ca", phrase: "name mismatch", code: 76},
		{kind: mailserver.CertExpired, trust: "ca", phrase: "expired", code: 76},
		{kind: mailserver.CertSelfSigned, phrase: "unknown authority", code: 76},
		{kind: mailserver.CertGood, trust: "ca", extra: `tls_fingerprint = "` + strings.Repeat("ab", 32) + `"`, phrase: "fingerprint", code: 76},
		{kind: mailserver.CertGood, trust: "ca", code: 0},
		{kind: mailserver.CertSelfSigned, extra: "tls_verify = false", code: 0, warn: true},
	} {
		name := tc.kind
		if tc.extra != "" {
			name += "-" + strings.Fields(tc.extra)[0]
		}
		t.Run(name, func(t *testing.T) {
			s := mailserver.Start(t, mailserver.Options{Users: map[string]string{sentUser: sentPass}, CertKind: tc.kind})
			for _, addr := range []struct{ addr, tls string }{{s.SubmissionAddr, "starttls"}, {s.SMTPSAddr, "tls"}} {
				extra := tc.extra
				if tc.trust == "ca" {
					extra += fmt.Sprintf("\ntls_trust_file = %q", s.CAFile)
				}
				r := run(t, runOpts{cfg: writeFile(t, "c.toml", realConfig(s, addr.addr, addr.tls, extra), 0o600)}, "someone@example.org")
				if r.Code != tc.code {
					t.Fatalf("%s: want exit %d:\n%s", addr.tls, tc.code, r)
				}
				if tc.code != 0 {
					oneLine(t, r)
					if !strings.Contains(r.Stderr, tc.phrase) {
						t.Errorf("%s: stderr does not say %q: %q", addr.tls, tc.phrase, r.Stderr)
					}
				}
				if tc.warn != strings.Contains(r.Stderr, "WARNING: tls_verify = false") {
					t.Errorf("%s: WARNING line present=%v, want %v: %q", addr.tls, !tc.warn, tc.warn, r.Stderr)
				}
			}
			if n := len(s.Deliveries()); tc.code != 0 && n != 0 {
				t.Fatalf("refused certificate but %d messages were delivered", n)
			}
		})
	}
}

// Promise 6: a UTF-8 address reaches a real SMTPUTF8 server (Postfix with
// smtputf8_enable = yes) intact.
func TestUTF8AddressIsDeliveredThroughRealSMTPUTF8Server(t *testing.T) {
	mailserver.Require(t)
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{sentUser: sentPass}})
	cfg := realConfig(s, s.SubmissionAddr, "starttls", fmt.Sprintf("tls_trust_file = %q", s.CAFile))
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600)}, "jürgen@bücher.example")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	d := s.WaitDeliveries(t, 1, 20e9)[0]
	if strings.Join(d.Recipients, ",") != "jürgen@bücher.example" {
		t.Fatalf("envelope recipients %q", d.Recipients)
	}
}

// Promise 7: a token endpoint that streams a 100 MB body is cut off with a
// clear temporary error and bounded memory.
func TestHugeTokenEndpointBodyIsBounded(t *testing.T) {
	as, f := oauthOnFake(t)
	as.AddRefreshToken(sentRefresh, sentUser)
	state := t.TempDir()
	cfg := writeFile(t, "c.toml", fakeOAuthAccount(f, as, "o", state+"/refresh.json", "timeout = \"10s\"\n"), 0o600)
	o := runOpts{cfg: cfg, state: state, stdin: strings.NewReader(sentRefresh + "\n")}
	if r := run(t, o, "auth", "import", "o"); r.Code != 0 {
		t.Fatalf("auth import:\n%s", r)
	}
	// Drop the access token cached by the import so the send must refresh.
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "cache") {
			os.Remove(p)
		}
		return nil
	})
	as.SetHugeBody(true)
	r := run(t, runOpts{cfg: cfg, state: state}, "-a", "o", "someone@example.org")
	if r.Code == 0 {
		t.Fatalf("a 100 MB token response was accepted:\n%s", r)
	}
	oneLine(t, r)
	// The body is capped at 1 MiB (about 12 MB peak RSS seen).
	if r.maxRSSKB > 32*1024 {
		t.Errorf("peak RSS %d KB: the token response was not bounded", r.maxRSSKB)
	}
	if strings.Contains(f.received(), "MAIL FROM") {
		t.Error("mail was sent without a valid token")
	}
	t.Logf("exit %d, peak RSS %d KB: %s", r.Code, r.maxRSSKB, strings.TrimSpace(r.Stderr))
}
