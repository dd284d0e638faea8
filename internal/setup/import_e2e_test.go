package setup_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/nss/nsstest"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// receivedHelo returns the EHLO name Postfix recorded in its Received:
// header ("from NAME (localhost [127.0.0.1])").
func receivedHelo(d mailserver.Delivery) string {
	m := regexp.MustCompile(`(?m)^Received: from (\S+)`).FindSubmatch(d.Data)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(mailserver.RequireEnv) == "1" {
			t.Fatalf("%s not installed (%s=1): run internal/testkit/testenv/install-deps.sh", name, mailserver.RequireEnv)
		}
		t.Skipf("%s not installed: run internal/testkit/testenv/install-deps.sh", name)
	}
	return p
}

// TestImportedMsmtprcDeliversWhereMsmtpDoesAndFixesEHLOLocalhost sends
// through the real Postfix (strict HELO rules) with msmtp and with the
// configuration gsendmail imported from the same msmtprc: with msmtp's
// domain set both deliver; without it msmtp says EHLO localhost and is
// refused, while the imported account sends a sane name and delivers.
func TestImportedMsmtprcDeliversWhereMsmtpDoesAndFixesEHLOLocalhost(t *testing.T) {
	msmtp := needProgram(t, "msmtp")
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home := t.TempDir()
	rc := fmt.Sprintf(`# as a user would have it
defaults
host localhost
port %s
tls on
tls_starttls on
tls_trust_file %s
auth on
user %s
password %s
from %s

account named
domain client.gsendmail.test

account bare

account default : named
`, port(s.SubmissionAddr), s.CAFile, e2eUser, e2ePass, e2eUser)
	rcPath := filepath.Join(home, ".msmtprc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(cmd *exec.Cmd, subject string) (int, string) {
		cmd.Stdin = strings.NewReader("Subject: " + subject + "\n\nbody\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		return exitCode(t, cmd.Run()), stderr.String()
	}
	lastHelo := func(n int, subject string) string {
		t.Helper()
		ds := s.WaitDeliveries(t, n, 20*time.Second)
		d := ds[len(ds)-1]
		if !strings.Contains(string(d.Original()), "Subject: "+subject) {
			t.Fatalf("delivery %d is not %q", n, subject)
		}
		return receivedHelo(d)
	}

	// msmtp itself.
	if code, errs := send(exec.Command(msmtp, "-C", rcPath, "-a", "named", "rcpt@example.org"), "msmtp named"); code != 0 {
		t.Fatalf("msmtp with domain set: exit %d: %s", code, errs)
	}
	if h := lastHelo(1, "msmtp named"); h != "client.gsendmail.test" {
		t.Fatalf("msmtp's EHLO name %q", h)
	}
	code, errs := send(exec.Command(msmtp, "-C", rcPath, "-a", "bare", "rcpt@example.org"), "msmtp bare")
	if code == 0 || !strings.Contains(errs, "localhost") {
		t.Fatalf("msmtp without domain: exit %d (want a refusal of EHLO localhost): %s", code, errs)
	}

	// The import: no question asked, the password moved to 0600 files.
	cfg := filepath.Join(home, "gsendmail.toml")
	cmd := gsendmailCmd(t, home, "setup", "-C", cfg, "--from-msmtprc", rcPath, "--yes", "--password-store", "file", "--no-doctor")
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("setup --from-msmtprc: exit %d:\n%s", code, stderr.String())
	}
	t.Logf("setup said:\n%s", stderr.String())
	if !strings.Contains(stderr.String(), "msmtp sends EHLO localhost") || !strings.Contains(stderr.String(), "Server check passed") {
		t.Errorf("setup did not report the EHLO localhost default or the server check:\n%s", stderr.String())
	}
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text)+stderr.String()+stdout.String(), e2ePass) {
		t.Fatal("the msmtp password was copied into the config or printed")
	}
	if !strings.Contains(string(text), `default_account = "named"`) || !strings.Contains(string(text), `ehlo_name = "client.gsendmail.test"`) {
		t.Fatalf("imported config:\n%s", text)
	}
	for i, acct := range []string{"named", "bare"} {
		subject := "gsendmail " + acct
		if code, errs := send(gsendmailCmd(t, home, "-C", cfg, "-a", acct, "rcpt@example.org"), subject); code != 0 {
			t.Fatalf("gsendmail -a %s: exit %d: %s", acct, code, errs)
		}
		h := lastHelo(2+i, subject)
		switch {
		case acct == "named" && h != "client.gsendmail.test":
			t.Errorf("imported account %s sent EHLO %q, want msmtp's domain", acct, h)
		case acct == "bare" && (h == "localhost" || h == ""):
			t.Errorf("imported account %s sent EHLO %q", acct, h)
		}
		t.Logf("account %s: EHLO %s", acct, h)
	}

	// Importing again keeps the existing accounts unless --force.
	cmd = gsendmailCmd(t, home, "setup", "-C", cfg, "--from-msmtprc", rcPath, "--yes", "--password-store", "file", "--no-doctor")
	cmd.Stderr = &stderr
	stderr.Reset()
	if code := exitCode(t, cmd.Run()); code != 78 || !strings.Contains(stderr.String(), "kept the existing one") {
		t.Fatalf("second import without --force: exit %d: %s", code, stderr.String())
	}
	if now, _ := os.ReadFile(cfg); !bytes.Equal(now, text) {
		t.Fatal("the second import changed the file")
	}
}

// TestSetupChecksTheServerBeforeWriting plays a new user against a server
// whose CA the system does not trust: setup shows the certificate, pins
// the fingerprint when told to, asks again after a refused password,
// confirms a relative password file path, and only then writes.
func TestSetupChecksTheServerBeforeWriting(t *testing.T) {
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home := t.TempDir()
	work := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--host", "localhost", "--port", port(s.SubmissionAddr),
		"--tls", "starttls", "--account", "corp", "--auth", "password", "--user", e2eUser, "--password-store", "file", e2eUser)
	cmd.Dir = work
	// Answers: password file (relative), confirm its absolute path,
	// password (wrong), then: pin, confirm pin, password again.
	cmd.Stdin = strings.NewReader("pw.txt\ny\nwrong-password\npin\ny\n" + e2ePass + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := exitCode(t, cmd.Run())
	out := stderr.String()
	t.Logf("setup said:\n%s", out)
	if code != 0 {
		t.Fatalf("setup exit %d", code)
	}
	for _, want := range []string{
		filepath.Join(work, "pw.txt"),
		"not trusted",
		"SHA-256:",
		"refused the login",
		"Server check passed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("setup's output lacks %q", want)
		}
	}
	if strings.Index(out, "Server check passed") > strings.Index(out, "Wrote ") {
		t.Error("the configuration was written before the server check passed")
	}
	cfg, err := os.ReadFile(filepath.Join(home, ".config", "gsendmail", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ToLower(strings.ReplaceAll(s.Fingerprint, ":", ""))
	if !strings.Contains(string(cfg), `tls_fingerprint = "`+want+`"`) {
		t.Fatalf("config does not pin %s:\n%s", want, cfg)
	}
	if pw, err := os.ReadFile(filepath.Join(work, "pw.txt")); err != nil || string(pw) != e2ePass+"\n" {
		t.Fatalf("password file %q, %v (the second, accepted password must be stored)", pw, err)
	}
	sendThroughAccount(t, s, home, "corp")
}

// TestSetupWithYesRefusesAnUntrustedServerAndWritesNothing: a script
// cannot check a fingerprint, so --yes stops with the fix, before
// writing.
func TestSetupWithYesRefusesAnUntrustedServerAndWritesNothing(t *testing.T) {
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--yes", "--host", "localhost", "--port", port(s.SubmissionAddr),
		"--tls", "starttls", "--account", "corp", "--auth", "password", "--user", e2eUser, "--password-store", "file", e2eUser)
	cmd.Stdin = strings.NewReader(e2ePass + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := exitCode(t, cmd.Run())
	if code != 76 || !strings.Contains(stderr.String(), "--tls-trust-file") {
		t.Fatalf("setup --yes against an untrusted certificate: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "gsendmail", "config.toml")); err == nil {
		t.Fatal("a configuration was written")
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "gsendmail", "corp.password")); err == nil {
		t.Fatal("a password file was written")
	}
}

// thunderbirdProfile writes a profile whose one outgoing server is the
// test Postfix, with logins encrypted by NSS itself (nsstest).
func thunderbirdProfile(t *testing.T, hostPort string, trySSL, authMethod int, primary string, logins []nsstest.Login) string {
	t.Helper()
	dir := t.TempDir()
	prefs := fmt.Sprintf(`// Mozilla User Preferences
user_pref("mail.identity.id1.fullName", "Test User");
user_pref("mail.identity.id1.smtpServer", "smtp1");
user_pref("mail.identity.id1.useremail", "%s");
user_pref("mail.smtp.defaultserver", "smtp1");
user_pref("mail.smtpserver.smtp1.authMethod", %d);
user_pref("mail.smtpserver.smtp1.hostname", "localhost");
user_pref("mail.smtpserver.smtp1.port", %s);
user_pref("mail.smtpserver.smtp1.try_ssl", %d);
user_pref("mail.smtpserver.smtp1.username", "%s");
user_pref("mail.smtpservers", "smtp1");
`, e2eUser, authMethod, port(hostPort), trySSL, e2eUser)
	if err := os.WriteFile(filepath.Join(dir, "prefs.js"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	nsstest.Profile(t, dir, primary, logins)
	return dir
}

// TestThunderbirdSavedPasswordIsImportedAndSends: the profile has a
// primary password; setup asks for it, decrypts the SMTP password NSS
// encrypted, stores it in a 0600 file, checks the server and writes an
// account that delivers to the real Postfix.
func TestThunderbirdSavedPasswordIsImportedAndSends(t *testing.T) {
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	const primary = "Thunderbird-Primary-1"
	profile := thunderbirdProfile(t, s.SubmissionAddr, 2, 3, primary, []nsstest.Login{
		{Origin: "smtp://localhost", Realm: "smtp://localhost", Username: e2eUser, Password: e2ePass},
	})
	home := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--from-thunderbird", profile, "--with-token", "--password-store", "file",
		"--tls-trust-file", s.CAFile, "--no-doctor")
	// Answers: the primary password (wrong once, then right).
	cmd.Stdin = strings.NewReader("not-it\n" + primary + "\n")
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	code := exitCode(t, cmd.Run())
	t.Logf("setup said:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("setup --from-thunderbird: exit %d", code)
	}
	if strings.Contains(stderr.String()+stdout.String(), e2ePass) {
		t.Fatal("the decrypted password was printed")
	}
	cfg, err := os.ReadFile(filepath.Join(home, ".config", "gsendmail", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), e2ePass) {
		t.Fatal("the password is in the configuration")
	}
	sendThroughAccount(t, s, home, "localhost")
}

// TestThunderbirdOAuthRefreshTokenIsImportedAndWorks: the refresh token
// Thunderbird saved (NSS-encrypted) goes into the token store with the
// client ID the user gives, is proven by one refresh, and doctor and a
// real XOAUTH2 submission then work.
func TestThunderbirdOAuthRefreshTokenIsImportedAndWorks(t *testing.T) {
	mailserver.Require(t)
	as := oauthtest.NewServer(t)
	as.SetUser(e2eUser)
	const refresh = "1//thunderbird-refresh-token-for-the-test"
	as.AddRefreshToken(refresh, e2eUser)
	clientID, clientSecret := as.Client()
	s := mailserver.Start(t, mailserver.Options{OAuthTokenInfoURL: as.TokenInfoURL()})
	profile := thunderbirdProfile(t, s.SMTPSAddr, 3, 10, "", []nsstest.Login{
		{Origin: "oauth://auth.gsendmail.test", Realm: "mail", Username: e2eUser, Password: refresh},
	})
	home := t.TempDir()
	cmd := gsendmailCmd(t, home, "setup", "--from-thunderbird", profile, "--with-token",
		"--tls-trust-file", s.CAFile, "--oauth-provider", "generic", "--oauth-client-id", clientID,
		"--oauth-auth-url", as.AuthURL(), "--oauth-token-url", as.TokenURL(), "--oauth-scopes", "mail")
	// Answer: the client secret (hidden).
	cmd.Stdin = strings.NewReader(clientSecret + "\n")
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	code := exitCode(t, cmd.Run())
	out := stderr.String() + stdout.String()
	t.Logf("setup said:\n%s", out)
	if code != 0 {
		t.Fatalf("setup --from-thunderbird --with-token: exit %d", code)
	}
	if strings.Contains(out, refresh) {
		t.Fatal("the refresh token was printed")
	}
	if !strings.Contains(out, "bound to Thunderbird's own OAuth2 client ID") || !strings.Contains(out, "refresh token imported") {
		t.Errorf("setup did not explain the client ID or did not import the token")
	}
	if as.Requests("/token") == 0 {
		t.Error("the imported token was never proven with a refresh")
	}
	sendThroughAccount(t, s, home, "localhost")
}

// TestFromGitReadsRepositoryAndGlobalConfigAndPrintsTheGitLines runs the
// built binary inside a repository with GIT_CONFIG_GLOBAL pointing at a
// fixture.
func TestFromGitReadsRepositoryAndGlobalConfigAndPrintsTheGitLines(t *testing.T) {
	git := needProgram(t, "git")
	home := t.TempDir()
	global := filepath.Join(home, "gitconfig")
	os.WriteFile(global, []byte("[user]\n\temail = joe@example.org\n[sendemail]\n\tsmtpServer = smtp.example.org\n\tsmtpEncryption = ssl\n\tsmtpUser = joe\n\tsmtpPass = git-pw-in-clear\n"), 0o600)
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	if out, err := exec.Command(git, "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	if out, err := exec.Command(git, "-C", repo, "config", "sendemail.smtpServerPort", "2465").CombinedOutput(); err != nil {
		t.Fatalf("git config: %v: %s", err, out)
	}
	cmd := gsendmailCmd(t, home, "setup", "--from-git", "--dry-run", "--yes", "--password-store", "file")
	cmd.Dir = repo
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("setup --from-git: exit %d: %s", code, stderr.String())
	}
	cfg := stdout.String()
	if !strings.Contains(cfg, `host = "smtp.example.org"`) || !strings.Contains(cfg, "port = 2465") || !strings.Contains(cfg, `tls = "tls"`) {
		t.Fatalf("config:\n%s", cfg)
	}
	if strings.Contains(cfg+stderr.String(), "git-pw-in-clear") {
		t.Fatal("git's password was printed")
	}
	if !strings.Contains(stderr.String(), "sendemail.sendmailCmd") || !strings.Contains(stderr.String(), "-a git") {
		t.Fatalf("no git config lines:\n%s", stderr.String())
	}
}

// TestSetupOffersACAFileForAnUntrustedCertificate: the other answer to an
// untrusted certificate, the company's CA file, typed as a relative path
// and confirmed resolved.
func TestSetupOffersACAFileForAnUntrustedCertificate(t *testing.T) {
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home, work := t.TempDir(), t.TempDir()
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "company-ca.pem"), ca, 0o644)
	cmd := gsendmailCmd(t, home, "setup", "--host", "localhost", "--port", port(s.SMTPSAddr),
		"--tls", "tls", "--account", "corp", "--auth", "password", "--user", e2eUser, "--password-store", "file", e2eUser)
	cmd.Dir = work
	// Answers: password file (default), password, trust-file, the CA
	// file (relative), confirm its absolute path.
	cmd.Stdin = strings.NewReader("\n" + e2ePass + "\ntrust-file\ncompany-ca.pem\ny\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	code := exitCode(t, cmd.Run())
	t.Logf("setup said:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("setup exit %d", code)
	}
	cfg, err := os.ReadFile(filepath.Join(home, ".config", "gsendmail", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `tls_trust_file = "` + filepath.Join(work, "company-ca.pem") + `"`; !strings.Contains(string(cfg), want) {
		t.Fatalf("config lacks %s:\n%s", want, cfg)
	}
	sendThroughAccount(t, s, home, "corp")
}

// TestGitSendEmailUsesGsendmailAfterFromGit: the git settings a user has
// (server, STARTTLS, user, password in clear) are imported, the git
// config lines setup prints are run as printed (they also remove git's
// own copy of the password), and git send-email then delivers a patch
// through gsendmail to the real Postfix. git could not have sent it
// itself: its password is gone.
func TestGitSendEmailUsesGsendmailAfterFromGit(t *testing.T) {
	git := needProgram(t, "git")
	execPath, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(execPath)), "git-send-email")); err != nil {
		needProgram(t, "git-send-email")
	}
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{e2eUser: e2ePass}})
	home := t.TempDir()
	global := filepath.Join(home, ".gitconfig")
	os.WriteFile(global, []byte(fmt.Sprintf("[user]\n\tname = Test User\n\temail = %s\n[sendemail]\n\tsmtpServer = localhost\n\tsmtpServerPort = %s\n\tsmtpEncryption = tls\n\tsmtpUser = %s\n\tsmtpPass = %s\n\tsmtpSSLCertPath = %s\n\tconfirm = never\n",
		e2eUser, port(s.SubmissionAddr), e2eUser, e2ePass, s.CAFile)), 0o600)
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	g := func(args ...string) {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	g("init", "-q")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("a change\n"), 0o644)
	g("add", "a.txt")
	g("commit", "-q", "-m", "the patch sent through gsendmail")
	g("format-patch", "-q", "-1", "-o", "out")

	cmd := gsendmailCmd(t, home, "setup", "--from-git", "--yes", "--password-store", "file", "--no-doctor")
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("setup --from-git: exit %d: %s", code, stderr.String())
	}
	t.Logf("setup said:\n%s", stderr.String())
	ran := 0
	for _, l := range strings.Split(stderr.String(), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "git config ") {
			continue
		}
		sh := exec.Command("/bin/sh", "-c", l)
		sh.Dir = repo
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", l, err, out)
		}
		ran++
	}
	if ran < 2 {
		t.Fatalf("setup printed %d git config lines", ran)
	}
	send := exec.Command(git, "send-email", "--to=maintainer@example.test", "--suppress-cc=all", "out/0001-the-patch-sent-through-gsendmail.patch")
	send.Dir = repo
	send.Env = append(os.Environ(), "HOME="+home)
	send.Stdin = strings.NewReader("")
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("git send-email: %v: %s", err, out)
	}
	ds := s.WaitDeliveries(t, 1, 20*time.Second)
	if !strings.Contains(string(ds[0].Original()), "the patch sent through gsendmail") || ds[0].Sender != e2eUser {
		t.Fatalf("delivered %q from %q", ds[0].Original(), ds[0].Sender)
	}
	if h := receivedHelo(ds[0]); h == "localhost" || h == "" {
		t.Errorf("EHLO %q", h)
	}
}
