package setup_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	e2eUser = "user@gsendmail.test"
	e2ePass = "s3cret-Pa55word-for-setup"
)

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// gsendmailCmd runs the built binary in a private HOME with no keyring
// session, so nothing outside the test is read or written.
func gsendmailCmd(t *testing.T, home string, args ...string) *exec.Cmd {
	t.Helper()
	drop := []string{"GSENDMAIL_CONFIG=", "DBUS_SESSION_BUS_ADDRESS=", "XDG_", "HOME=", "DISPLAY="}
	return testbin.Command(t, testbin.Environ(drop, "HOME="+home), args...)
}

func exitCode(t *testing.T, err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// checkDoctorOrSend accepts the wizard's ending: doctor passed (exit 0
// already checked) or, where doctor is not in this build, the hint to run
// it. Either way a real message must then go through the new account.
func sendThroughAccount(t *testing.T, s *mailserver.Server, home, account string) {
	t.Helper()
	before := len(s.Deliveries())
	msg := "Subject: sent after gsendmail setup\n\nhello from the wizard\n"
	cmd := gsendmailCmd(t, home, "-a", account, "someone@example.org")
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("sending through account %q: exit %d: %s", account, code, stderr.String())
	}
	ds := s.WaitDeliveries(t, before+1, 20*time.Second)
	d := ds[len(ds)-1]
	if d.Sender != e2eUser || !strings.Contains(string(d.Original()), "hello from the wizard") {
		t.Fatalf("delivered envelope %q, message %q", d.Sender, d.Original())
	}
}

func TestSetupWizardPasswordAccountSendsThroughRealPostfix(t *testing.T) {
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--host", "localhost", "--port", port(s.SubmissionAddr),
		"--tls", "starttls", "--tls-trust-file", s.CAFile, "--account", "test")
	// Answers, in the order asked: address, auth, user, password store,
	// password file, password.
	cmd.Stdin = strings.NewReader(e2eUser + "\npassword\n\nfile\n\n" + e2ePass + "\n")
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	code := exitCode(t, cmd.Run())
	t.Logf("setup said:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("setup exit %d", code)
	}
	if strings.Contains(stderr.String()+stdout.String(), e2ePass) {
		t.Fatal("the password was echoed")
	}
	cfg := filepath.Join(home, ".config", "gsendmail", "config.toml")
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config %v mode %v", err, fi)
	}
	pw, err := os.ReadFile(filepath.Join(home, ".config", "gsendmail", "test.password"))
	if err != nil || string(pw) != e2ePass+"\n" {
		t.Fatalf("password file: %q, %v", pw, err)
	}
	doctorRan := !strings.Contains(stderr.String(), "Check the account with: gsendmail doctor")
	t.Logf("doctor ran inside setup: %v", doctorRan)
	sendThroughAccount(t, s, home, "test")

	out, err := gsendmailCmd(t, home, "accounts").Output()
	if err != nil || string(out) != "test\n" {
		t.Errorf("gsendmail accounts = %q, %v", out, err)
	}
}

func TestSetupWizardOAuthAccountLogsInByPasteAndSendsThroughRealPostfix(t *testing.T) {
	mailserver.Require(t)
	as := oauthtest.NewServer(t)
	as.SetUser(e2eUser)
	clientID, clientSecret := as.Client()
	s := mailserver.Start(t, mailserver.Options{OAuthTokenInfoURL: as.TokenInfoURL()})
	home := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--host", "localhost", "--port", port(s.SMTPSAddr),
		"--tls", "tls", "--tls-trust-file", s.CAFile, "--account", "oauth",
		"--auth", "oauth2", "--oauth-provider", "generic", "--oauth-client-id", clientID,
		"--oauth-auth-url", as.AuthURL(), "--oauth-token-url", as.TokenURL(), "--oauth-scopes", "mail",
		"--login", "paste", "--user", e2eUser, e2eUser)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The client secret is asked first (hidden input).
	io.WriteString(stdin, clientSecret+"\n")
	var transcript strings.Builder
	sc := bufio.NewScanner(stderrPipe)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pasted := false
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if u := strings.TrimSpace(line); !pasted && strings.HasPrefix(u, as.AuthURL()) {
			// Play the browser: approve, then paste where it ended up.
			loc, err := as.Authorize(u)
			if err != nil {
				t.Errorf("authorize: %v", err)
				break
			}
			io.WriteString(stdin, loc+"\n")
			pasted = true
		}
	}
	stdin.Close()
	code := exitCode(t, cmd.Wait())
	t.Logf("setup said:\n%s", transcript.String())
	if !pasted || code != 0 {
		t.Fatalf("setup exit %d, login URL seen: %v", code, pasted)
	}
	if strings.Contains(transcript.String(), clientSecret) {
		t.Fatal("the client secret was echoed")
	}
	sendThroughAccount(t, s, home, "oauth")
}
