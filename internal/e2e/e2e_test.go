// Package e2e drives the built gsendmail binary against a real Postfix +
// Dovecot started by the test (internal/testkit/testenv/mailserver) with strict
// HELO restrictions, and checks what the server received byte for byte.
package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	testUser = "user@gsendmail.test"
	testPass = "s3cret-Pa55word-for-tests"
)

type result = testbin.Result

func run(t *testing.T, cfg string, stdin string, args ...string) result {
	t.Helper()
	return testbin.Run(t, cfg, nil, stdin, args...)
}

func writeConfig(t *testing.T, body string) string { return testbin.WriteConfig(t, body) }

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func accountConfig(s *mailserver.Server, addr, tls string, extra string) string {
	return fmt.Sprintf(`default_account = "t"
[account.t]
host = "localhost"
port = %s
tls = %q
user = %q
password_command = "printf %%s %s"
from = %q
%s
`, port(addr), tls, testUser, testPass, testUser, extra) + fmt.Sprintf("tls_trust_file = %q\n", s.CAFile)
}

func startServer(t *testing.T) *mailserver.Server {
	t.Helper()
	mailserver.Require(t)
	return mailserver.Start(t, mailserver.Options{Users: map[string]string{testUser: testPass}})
}

// patch is shaped like `git format-patch` output: lines starting with ".",
// "From ", trailing whitespace, a line of 998 octets (the longest RFC 5322
// 2.1.1 allows; a longer one is re-encoded, see internal/e2e/interop) and
// 8-bit text.
var patch = "From: Dev Eloper <user@gsendmail.test>\n" +
	"Date: Sat, 21 Nov 2026 10:00:00 +0000\n" +
	"Message-ID: <20261121100000.1-1@gsendmail.test>\n" +
	"Subject: [PATCH 1/1] strict servers\n" +
	"To: someone@example.org\n" +
	"\n" +
	"Commit message with trailing space   \n" +
	".dotfile line\n" +
	"..double dot\n" +
	".\n" +
	"From the beginning, a line that mbox would mangle\n" +
	"---\n" +
	" f.txt | 1 +\n" +
	"diff --git a/f.txt b/f.txt\n" +
	"+" + strings.Repeat("x", 997) + "\n" +
	"+caf\xc3\xa9 \xe2\x9c\x93\n" +
	"-- \n" +
	"2.39.5\n"

func TestSubmissionThroughStrictPostfixArrivesByteIdenticalWithDefaultEHLO(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct{ name, addr, tls string }{
		{"starttls-587", s.SubmissionAddr, "starttls"},
		{"implicit-tls-465", s.SMTPSAddr, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Deliveries())
			cfg := writeConfig(t, accountConfig(s, tc.addr, tc.tls, ""))
			r := run(t, cfg, patch, "-i", "someone@example.org")
			if r.Code != 0 || r.Stderr != "" || r.Stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want silent success", r.Code, r.Stdout, r.Stderr)
			}
			ds := s.WaitDeliveries(t, before+1, 20*time.Second)
			d := ds[len(ds)-1]
			if got := string(d.Original()); got != patch {
				t.Fatalf("message changed in transit:\n got %q\nwant %q", got, patch)
			}
			if d.Sender != testUser || strings.Join(d.Recipients, ",") != "someone@example.org" {
				t.Fatalf("envelope %q -> %v", d.Sender, d.Recipients)
			}
		})
	}
}

// The same server refuses the EHLO name msmtp still sends by default, which
// is what makes the test above meaningful.
func TestMsmtpDefaultEHLOLocalhostIsRefusedBySameServer(t *testing.T) {
	s := startServer(t)
	msmtp := fixture.RequireProgram(t, "msmtp", "msmtp")
	rc := filepath.Join(t.TempDir(), "msmtprc")
	os.WriteFile(rc, []byte(fmt.Sprintf("account t\nhost localhost\nport %s\ntls on\ntls_starttls on\ntls_trust_file %s\nauth plain\nuser %s\npassword %s\nfrom %s\naccount default : t\n",
		port(s.SubmissionAddr), s.CAFile, testUser, testPass, testUser)), 0o600)
	cmd := exec.Command(msmtp, "-C", rc, "someone@example.org")
	cmd.Stdin = strings.NewReader("Subject: x\n\nbody\n")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("msmtp with EHLO localhost was accepted; the server is not strict:\n%s", out)
	}
	if !strings.Contains(string(out)+s.Log(), "need fully-qualified hostname") {
		t.Fatalf("expected the HELO rejection, got:\n%s", out)
	}
}

func TestTFlagSendsToBccRecipientAndStripsTheBccHeader(t *testing.T) {
	s := startServer(t)
	cfg := writeConfig(t, accountConfig(s, s.SubmissionAddr, "starttls", ""))
	msg := "From: user@gsendmail.test\nTo: a@example.org\nCc: b@example.org\nBcc: hidden@example.org,\n  hidden2@example.org\nSubject: bcc\n\nbody\n"
	r := run(t, cfg, msg, "-t", "-i")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	d := s.WaitDeliveries(t, 1, 20*time.Second)[0]
	got := strings.Join(d.Recipients, ",")
	for _, want := range []string{"a@example.org", "b@example.org", "hidden@example.org", "hidden2@example.org"} {
		if !strings.Contains(got, want) {
			t.Errorf("recipient %s missing from envelope %s", want, got)
		}
	}
	if bytes.Contains(bytes.ToLower(d.Data), []byte("bcc:")) || bytes.Contains(d.Data, []byte("hidden")) {
		t.Fatalf("Bcc leaked into the delivered message:\n%s", d.Data)
	}
	for _, h := range []string{"Date:", "Message-ID:"} {
		if !bytes.Contains(d.Original(), []byte(h)) {
			t.Errorf("missing header %s was not added:\n%s", h, d.Original())
		}
	}
}

func TestFailuresExitWithTheRightCodeAndOneLine(t *testing.T) {
	s := startServer(t)
	cases := []struct {
		name   string
		cfg    string
		code   int
		phrase string
	}{
		{"wrong-password", strings.Replace(accountConfig(s, s.SubmissionAddr, "starttls", ""), testPass, "wrong", 1), 77, "535"},
		{"closed-port", accountConfig(s, "127.0.0.1:1", "starttls", ""), 75, "127.0.0.1"},
		{"untrusted-certificate", strings.Replace(accountConfig(s, s.SubmissionAddr, "starttls", ""), "tls_trust_file", "# tls_trust_file", 1), 76, "certificate"},
		{"fingerprint-mismatch", strings.Replace(accountConfig(s, s.SubmissionAddr, "starttls", `tls_fingerprint = "`+strings.Repeat("ab", 32)+`"`), "tls_trust_file", "# tls_trust_file", 1), 76, "fingerprint"},
		{"unknown-key", accountConfig(s, s.SubmissionAddr, "starttls", `hots = "x"`), 78, "hots"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, writeConfig(t, tc.cfg), "Subject: x\n\nbody\n", "someone@example.org")
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.Code, tc.code, r.Stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(r.Stderr, tc.phrase) {
				t.Fatalf("want one line mentioning %q, got %q", tc.phrase, r.Stderr)
			}
			if strings.Contains(r.Stderr, testPass) {
				t.Fatal("password in error output")
			}
		})
	}
}

func TestFingerprintPinReplacesTrustFile(t *testing.T) {
	s := startServer(t)
	cfg := strings.Replace(accountConfig(s, s.SubmissionAddr, "starttls", `tls_fingerprint = "`+s.Fingerprint+`"`), "tls_trust_file", "# tls_trust_file", 1)
	if r := run(t, writeConfig(t, cfg), "Subject: x\n\nbody\n", "someone@example.org"); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	s.WaitDeliveries(t, 1, 20*time.Second)
}

func TestVerboseTranscriptShowsTheConversationButNoSecret(t *testing.T) {
	s := startServer(t)
	logfile := filepath.Join(t.TempDir(), "gsendmail.log")
	cfg := writeConfig(t, accountConfig(s, s.SubmissionAddr, "starttls", fmt.Sprintf("logfile = %q", logfile)))
	r := run(t, cfg, "Subject: x\n\nbody\n", "-v", "someone@example.org")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"EHLO ", "STARTTLS", "AUTH PLAIN", "***", "MAIL FROM:<" + testUser + ">"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, r.Stderr)
		}
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))
	logData, _ := os.ReadFile(logfile)
	for _, secret := range []string{testPass, plain} {
		if strings.Contains(r.Stderr, secret) || strings.Contains(string(logData), secret) {
			t.Fatalf("secret %q leaked into the transcript or log", secret)
		}
	}
	if strings.Count(string(logData), "\n") != 1 || !strings.Contains(string(logData), "exitcode=0") || !strings.Contains(string(logData), "recipients=someone@example.org") {
		t.Fatalf("log file: want one success record, got %q", logData)
	}
}

func TestPretendShowsThePlanAndSendsNothing(t *testing.T) {
	s := startServer(t)
	cfg := writeConfig(t, accountConfig(s, s.SubmissionAddr, "starttls", ""))
	r := run(t, cfg, "Subject: x\n\nbody\n", "--pretend", "someone@example.org")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"account:     t", "ehlo:", "recipients:  someone@example.org", "Date", "Message-ID", "nothing was sent"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--pretend output lacks %q:\n%s", want, r.Stdout)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(s.Deliveries()); n != 0 {
		t.Fatalf("--pretend delivered %d messages", n)
	}
}

// A message of several BDAT chunks goes out with its wire size declared,
// chunk by chunk straight from the spool file (no chunk buffer): Postfix
// must get it byte for byte, with and without -i, CRLF and bare-LF lines
// and a last line without a newline.
func TestAMultiChunkMessageArrivesByteIdentical(t *testing.T) {
	s := startServer(t)
	var b strings.Builder
	b.WriteString("From: Dev Eloper <user@gsendmail.test>\nDate: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <big.1@gsendmail.test>\nSubject: big\nTo: someone@example.org\n\n")
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "line %06d %s\n", i, strings.Repeat("y", i%90))
		if i%7 == 0 {
			b.WriteString("a CRLF line\r\n")
		}
	}
	b.WriteString("no newline at the end")
	msg := b.String()
	want := strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
	cfg := writeConfig(t, accountConfig(s, s.SubmissionAddr, "starttls", ""))
	for _, args := range [][]string{{"-i", "someone@example.org"}, {"someone@example.org"}} {
		before := len(s.Deliveries())
		r := run(t, cfg, msg, args...)
		if r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
		ds := s.WaitDeliveries(t, before+1, 20*time.Second)
		if got := strings.ReplaceAll(string(ds[len(ds)-1].Original()), "\r\n", "\n"); got != strings.ReplaceAll(want, "\r\n", "\n") {
			t.Fatalf("%v: the message changed in transit (%d bytes arrived, %d sent)", args, len(got), len(want))
		}
	}
}
