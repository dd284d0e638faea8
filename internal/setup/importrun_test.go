package setup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func runImportArgs(t *testing.T, home, answers string, args ...string) (string, string, error) {
	t.Helper()
	var out, stdout bytes.Buffer
	err := Run(context.Background(), args, Options{
		In: strings.NewReader(answers), Out: &out, Stdout: &stdout,
		ConfigPath:   filepath.Join(home, "config.toml"),
		DefaultStore: StoreFile,
		Getenv: func(k string) string {
			return map[string]string{"HOME": home, "USER": "joe"}[k]
		},
	})
	return out.String(), stdout.String(), err
}

func writeRC(t *testing.T, home, rc string) string {
	t.Helper()
	p := filepath.Join(home, ".msmtprc")
	if err := os.WriteFile(p, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoAccounts = `account work
host mail.example.org
tls on
auth on
user joe
from joe@example.org
password pw-one

account new
host smtp.example.net
tls on
auth on
user joe
from joe@example.net
passwordeval pass show net
`

func TestImportFindsTheDefaultMsmtprcAndDryRunWritesNothing(t *testing.T) {
	home := t.TempDir()
	writeRC(t, home, twoAccounts)
	report, cfg, err := runImportArgs(t, home, "", "--from-msmtprc", "--dry-run", "--yes")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report, filepath.Join(home, ".msmtprc")) || !strings.Contains(cfg, "[account.work]") || !strings.Contains(cfg, "[account.new]") {
		t.Fatalf("report:\n%s\nconfig:\n%s", report, cfg)
	}
	if strings.Contains(cfg+report, "pw-one") {
		t.Fatal("the password appears in the dry run")
	}
	entries, _ := os.ReadDir(home)
	if len(entries) != 1 {
		t.Fatalf("dry run wrote files: %v", entries)
	}
}

func TestImportKeepsExistingAccountsUnlessForced(t *testing.T) {
	home := t.TempDir()
	rc := writeRC(t, home, twoAccounts)
	cfgPath := filepath.Join(home, "config.toml")
	old := "default_account = \"work\"\n\n[account.work]\nhost = \"old.example.org\"\nauth = \"none\"\n\n[account.other]\nhost = \"other.example.org\"\nauth = \"none\"\n"
	if err := os.WriteFile(cfgPath, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	report, _, err := runImportArgs(t, home, "", "--from-msmtprc", rc, "--yes", "--no-doctor")
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	f, err := loadExisting(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if f.Accounts["work"].Host != "old.example.org" || f.Accounts["new"] == nil || f.Accounts["other"] == nil {
		t.Fatalf("after a merge without --force: %v, work at %s", f.Order, f.Accounts["work"].Host)
	}
	if _, err := os.Stat(filepath.Join(home, "work.password")); err == nil {
		t.Fatal("the password of the kept account was stored anyway")
	}

	report, _, err = runImportArgs(t, home, "", "--from-msmtprc", rc, "--yes", "--force", "--no-doctor")
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	f, err = loadExisting(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if f.Accounts["work"].Host != "mail.example.org" || f.Accounts["other"] == nil || len(f.Order) != 4-1 {
		t.Fatalf("after --force: %v, work at %s", f.Order, f.Accounts["work"].Host)
	}
	if pw, err := os.ReadFile(filepath.Join(home, "work.password")); err != nil || string(pw) != "pw-one\n" {
		t.Fatalf("password file %q, %v", pw, err)
	}
}

func TestImportAsksBeforeReplacingAnAccount(t *testing.T) {
	home := t.TempDir()
	rc := writeRC(t, home, twoAccounts)
	cfgPath := filepath.Join(home, "config.toml")
	old := "[account.work]\nhost = \"old.example.org\"\nauth = \"none\"\n"
	os.WriteFile(cfgPath, []byte(old), 0o600)
	// Replace "work"? no. Store new's password? (command: not asked).
	// Write into the existing file? yes.
	report, _, err := runImportArgs(t, home, "n\ny\n", "--from-msmtprc", rc, "--password-store", "file", "--no-doctor")
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	if !strings.Contains(report, "Replace it with the imported one?") {
		t.Fatalf("not asked:\n%s", report)
	}
	f, _ := loadExisting(cfgPath)
	if f.Accounts["work"].Host != "old.example.org" || f.Accounts["new"] == nil {
		t.Fatalf("accounts %v", f.Order)
	}
}

func TestImportOAuthHelperIsRunOnceWithoutShowingItsToken(t *testing.T) {
	home := t.TempDir()
	marker := filepath.Join(home, "ran")
	rc := writeRC(t, home, `account default
host smtp.gmail.com
port 587
tls on
auth xoauth2
user me@gmail.com
from me@gmail.com
passwordeval printf '%s.%s\n' tok3n v4lue; touch `+marker+`
`)
	// Answers: run the helper? y; client secret: (empty); log in now? skip.
	report, _, err := runImportArgs(t, home, "y\n\nskip\n", "--from-msmtprc", rc, "--oauth-client-id", "my-app", "--no-doctor")
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the helper was not run")
	}
	if strings.Contains(report, "tok3n.v4lue") || !strings.Contains(report, "printed an access token") {
		t.Fatalf("report:\n%s", report)
	}
	f, _ := loadExisting(filepath.Join(home, "config.toml"))
	a := f.Accounts["default"]
	if a == nil || a.OAuthProvider != "google" || a.OAuthClientID != "my-app" || a.PasswordCommand != "" {
		t.Fatalf("account %v", a)
	}
	if !strings.Contains(report, "log in later with: gsendmail auth login default") {
		t.Fatalf("no login hint:\n%s", report)
	}
}

func TestImportFlagsAreUsageErrorsOutsideAnImport(t *testing.T) {
	for _, args := range [][]string{{"--force"}, {"--with-token"}, {"--from-git", "--with-token"}, {"--from-git", "--from-msmtprc"}, {"--from-git", "extra"}} {
		_, _, err := runImportArgs(t, t.TempDir(), "", args...)
		if sysexits.Code(err) != sysexits.Usage {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, sysexits.Code(err))
		}
	}
}

func TestJoinOptionalTakesTheNextArgumentUnlessItIsAnOption(t *testing.T) {
	got := strings.Join(joinOptional([]string{"--from-msmtprc", "rc", "--yes", "--from-thunderbird", "--dry-run", "-from-msmtprc", "x"}), " ")
	if got != "--from-msmtprc=rc --yes --from-thunderbird --dry-run -from-msmtprc=x" {
		t.Fatal(got)
	}
}

// runWithProbe runs the wizard with a scripted server check.
func runWithProbe(t *testing.T, home, answers string, probe func(ctx context.Context, a *config.Account) error, args ...string) (string, error) {
	t.Helper()
	var out, stdout bytes.Buffer
	err := Run(context.Background(), args, Options{
		In: strings.NewReader(answers), Out: &out, Stdout: &stdout,
		ConfigPath: filepath.Join(home, "config.toml"), DefaultStore: StoreFile,
		Getenv: func(k string) string { return map[string]string{"HOME": home}[k] },
		Hooks:  Hooks{Probe: probe},
	})
	return out.String(), err
}

func TestUnreachableServerWritesOnlyWhenTheUserSaysSo(t *testing.T) {
	down := func(ctx context.Context, a *config.Account) error {
		if a.Password != "pw" {
			t.Errorf("probe got password %q", a.Password)
		}
		return sysexits.New(sysexits.TempFail, errors.New("cannot connect to h.example:587: connection refused"))
	}
	args := []string{"--host", "h.example", "--tls", "starttls", "--port", "587", "--auth", "password", "--user", "me", "--password-store", "file", "--account", "a", "--no-doctor", "me@example.org"}
	home := t.TempDir()
	out, err := runWithProbe(t, home, "\npw\nn\n", down, args...)
	if sysexits.Code(err) != sysexits.TempFail || !strings.Contains(out, "could not be reached") {
		t.Fatalf("answer no: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "config.toml")); err == nil {
		t.Fatal("written after the user said no")
	}
	out, err = runWithProbe(t, home, "\npw\ny\n", down, args...)
	if err != nil {
		t.Fatalf("answer yes: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "config.toml")); err != nil {
		t.Fatal("not written after the user said yes")
	}
	// --yes never writes an unchecked configuration.
	home = t.TempDir()
	_, err = runWithProbe(t, home, "pw\n", down, append([]string{"--yes"}, args...)...)
	if sysexits.Code(err) != sysexits.TempFail {
		t.Fatalf("--yes: %v", err)
	}
}

func TestRemoveAccountSectionTakesItsCommentsAndNothingElse(t *testing.T) {
	text := "# file header\ndefault_account = \"a\"\n\n# about a\n[account.a]\nhost = \"a.example\"\n# a trailing note\n\n# about b\n[account.\"b.x\"] # inline\nhost = \"b.example\"\n\n[account.c]\nhost = \"c.example\"\n"
	got := removeAccountSection(text, "b.x")
	want := "# file header\ndefault_account = \"a\"\n\n# about a\n[account.a]\nhost = \"a.example\"\n# a trailing note\n\n[account.c]\nhost = \"c.example\"\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestImportRenamesAccountsWhoseNamesCollide(t *testing.T) {
	home := t.TempDir()
	rc := writeRC(t, home, "account x/y\nhost a.example\nfrom a@a.example\naccount x-y\nhost b.example\nfrom b@b.example\n")
	report, cfg, err := runImportArgs(t, home, "", "--from-msmtprc", rc, "--dry-run", "--yes")
	if err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	if !strings.Contains(cfg, "[account.x-y]") || !strings.Contains(cfg, "[account.x-y-2]") || !strings.Contains(report, "renamed") {
		t.Fatalf("report:\n%s\nconfig:\n%s", report, cfg)
	}
}
