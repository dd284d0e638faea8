package setup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const gitGlobal = `[user]
	email = joe@example.org
[sendemail]
	smtpServer = smtp.example.org
	smtpServerPort = 465
	smtpEncryption = ssl
	smtpUser = joe
	smtpPass = git-secret-pw
	smtpDomain = laptop.example.org
	smtpAuth = PLAIN LOGIN
[sendemail "Work"]
	smtpServer = mail.corp.example
	smtpEncryption = tls
	from = Joe at Work <joe@corp.example>
	smtpUser = joe@corp.example
`

const gitRepo = `[sendemail]
	smtpServerPort = 587
	smtpEncryption = tls
[sendemail "oss"]
	from = joe@oss.example
`

// gitRepoWithConfig makes a repository with its own sendemail settings
// and points git's global configuration at a fixture, so the test reads
// neither the machine's nor the user's git config.
func gitRepoWithConfig(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv(mailserver.RequireEnv) == "1" {
			t.Fatalf("git not installed (%s=1)", mailserver.RequireEnv)
		}
		t.Skip("git not installed")
	}
	global := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(global, []byte(gitGlobal), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	if out, err := exec.Command(git, "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(repo, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(gitRepo)
	f.Close()
	return repo
}

func TestGitConfigRepositoryOverridesGlobalAndIdentitiesInherit(t *testing.T) {
	repo := gitRepoWithConfig(t)
	g, err := ReadGitConfig(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	ims, notes := g.Import("/home/joe")
	got := map[string]Imported{}
	for _, im := range ims {
		got[im.Account.Name] = im
	}
	if len(ims) != 3 {
		t.Fatalf("accounts %v, want git, Work, oss", ims)
	}
	for _, tc := range []struct {
		name, host, tls, user, from, ehlo string
		port                              int
		password                          string
	}{
		// The repository's port and encryption override the global ones.
		{"git", "smtp.example.org", "starttls", "joe", "joe@example.org", "laptop.example.org", 587, "git-secret-pw"},
		// An identity inherits what it does not set.
		{"Work", "mail.corp.example", "starttls", "joe@corp.example", "joe@corp.example", "laptop.example.org", 587, "git-secret-pw"},
		{"oss", "smtp.example.org", "starttls", "joe", "joe@oss.example", "laptop.example.org", 587, "git-secret-pw"},
	} {
		im, ok := got[tc.name]
		if !ok {
			t.Errorf("no account %q", tc.name)
			continue
		}
		a := im.Account
		ehlo := ""
		for _, x := range a.Extra {
			if x.Key == "ehlo_name" {
				ehlo = x.Value.(string)
			}
		}
		if a.Host != tc.host || a.TLS.String() != tc.tls || a.Port != tc.port || a.User != tc.user || a.Address != tc.from || ehlo != tc.ehlo || im.Password != tc.password {
			t.Errorf("%s: got host=%s tls=%s port=%d user=%s from=%s ehlo=%s password-set=%v", tc.name, a.Host, a.TLS, a.Port, a.User, a.Address, ehlo, im.Password != "")
		}
	}
	if !got["git"].Account.Default {
		t.Error("the identity-less settings are not the default account")
	}
	var reported string
	for _, n := range notes {
		reported += n.String() + "\n"
		if strings.Contains(n.String(), "git-secret-pw") {
			t.Fatalf("the password is in a report line: %s", n)
		}
	}
	for _, want := range []string{"sendemail.smtpauth", "sendemail.smtppass", "--unset sendemail.smtpPass"} {
		if !strings.Contains(reported, want) {
			t.Errorf("report lacks %q:\n%s", want, reported)
		}
	}
	lines := strings.Join(GitPointers("/usr/bin/gsendmail", ims), "\n")
	for _, want := range []string{
		"git config --global sendemail.sendmailCmd '/usr/bin/gsendmail -a git'",
		"git config --global sendemail.Work.sendmailCmd '/usr/bin/gsendmail -a Work'",
		"sendemail.smtpServer /usr/bin/gsendmail",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("git pointers lack %q:\n%s", want, lines)
		}
	}
}

func TestGitConfigLocalProgramIsNotAServer(t *testing.T) {
	g := parseGitConfig([]byte("file:/g\x00sendemail.smtpserver\n/usr/bin/msmtp\x00"))
	ims, notes := g.Import("")
	if len(ims) != 0 || len(notes) != 1 || !strings.Contains(notes[0].Did, "--from-msmtprc") {
		t.Fatalf("imported %v, notes %v", ims, notes)
	}
}
