package mta_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// pickupUntil runs the daemon's pickup until n messages arrived (the
// callers below run with the daemon stopped, so their mail waits in the
// maildrop) and returns what arrived.
func (m *machine) pickupUntil(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if out, err := m.as(daemonUsr, m.bin+" pickup"); err != nil {
			t.Fatalf("pickup: %v\n%s", err, out)
		}
		if len(m.srv.Deliveries()) >= n || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Second)
	}
}

// TestAtdSudoAndPHPMailOfOrdinaryUsersArrivesThroughTheSystemAccount runs,
// with the daemon on its socket,
// the other daemons that mail for users: atd mailing the output of an
// ordinary user's job, sudo's mail_always for a command an ordinary user
// runs, and PHP's mail() as www-data. None of these users can read the
// system configuration; each message must arrive sent by the system
// account, with the user's name on it.
func TestAtdSudoAndPHPMailOfOrdinaryUsersArrivesThroughTheSystemAccount(t *testing.T) {
	require(t, "/usr/sbin/atd", "at", "sudo", "php")
	m := newMachine(t)
	// sudo: mail every use to ops, as root's mailer (sudo's default).
	out, err := m.ns([]string{"PATH=" + systemPath}, "/bin/sh", "-c",
		`printf 'Defaults mail_always, mailto="ops@gsendmail.test"\n`+alice+` ALL=(root) NOPASSWD: /bin/true\n' > /etc/sudoers.d/gsm && chmod 0440 /etc/sudoers.d/gsm`).CombinedOutput()
	if err != nil {
		t.Fatalf("sudoers: %v\n%s", err, out)
	}
	m.startServe()
	m.daemon([]string{"PATH=" + systemPath}, "/usr/sbin/atd", "-f")

	if out, err := m.as(alice, "echo 'echo at job output' | at now 2>&1"); err != nil {
		t.Fatalf("at: %v\n%s", err, out)
	}
	if out, err := m.as(alice, "sudo -n /bin/true"); err != nil {
		t.Fatalf("sudo: %v\n%s", err, out)
	}
	if out, err := m.as("www-data", `php -r 'exit(mail("ops@gsendmail.test", "php subject", "php body") ? 0 : 1);'`); err != nil {
		t.Fatalf("php mail() failed: %v\n%s", err, out)
	}
	// sudo may mail more than once for one command; wait until each
	// caller's mail is there.
	var ds []mailserver.Delivery
	deadline := time.Now().Add(cronWait)
	for n := 3; ; n++ {
		ds = m.deliveries(n, time.Until(deadline))
		if hasAll(ds) || time.Now().After(deadline) {
			break
		}
	}
	seen := map[string]bool{}
	for _, d := range ds {
		body := string(mailserver.LF(d.Original()))
		from := header(d, "From")
		switch {
		case strings.Contains(body, "at job output"):
			seen["atd"] = true
			if d.Recipients[0] != alice+"@gsendmail.test" || from != `"`+aliceName+`" <`+account+`>` {
				t.Errorf("atd mail to %v From %q", d.Recipients, from)
			}
		case strings.Contains(header(d, "Subject"), "php subject"):
			seen["php"] = true
			if d.Recipients[0] != "ops@gsendmail.test" || from != `"www-data" <`+account+`>` {
				t.Errorf("php mail to %v From %q", d.Recipients, from)
			}
		case strings.Contains(body, "/bin/true"):
			if seen["sudo"] {
				continue // sudo's second notice
			}
			seen["sudo"] = true
			if d.Recipients[0] != "ops@gsendmail.test" || !strings.Contains(body, alice) {
				t.Errorf("sudo mail to %v:\n%s", d.Recipients, body)
			}
		default:
			t.Errorf("unexpected mail to %v:\n%s", d.Recipients, body)
		}
		if d.Sender != account {
			t.Errorf("envelope sender %q, want %s", d.Sender, account)
		}
	}
	for _, k := range []string{"atd", "sudo", "php"} {
		if !seen[k] {
			t.Errorf("no mail from %s\ndaemons: %s", k, m.output())
		}
	}
	if sasl := m.saslUsers(); sasl[account] < 3 || len(sasl) != 1 {
		t.Errorf("Postfix saw sasl_username %v", sasl)
	}
	if ents, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop")); len(ents) != 0 {
		t.Errorf("%d messages went to the maildrop with the daemon running", len(ents))
	}
}

// TestNoUserCanReadTheSystemAccountsSecrets tries, as an ordinary user,
// every file of the install that holds or could hold a secret, and then
// searches every file the user can read for the sentinel password.
func TestNoUserCanReadTheSystemAccountsSecrets(t *testing.T) {
	m := newMachine(t)
	// What an OAuth2 system account keeps (gsendmail auth login run as
	// the daemon user): refresh token and access-token cache, 0600 in
	// 0700 directories of /var/lib/gsendmail.
	out, err := m.ns([]string{"PATH=" + systemPath}, "runuser", "-u", daemonUsr, "--", "/bin/sh", "-c",
		"umask 077 && mkdir -p /var/lib/gsendmail/tokens /var/lib/gsendmail/cache && echo '{\"refresh_token\":\""+m.secret+"\"}' > /var/lib/gsendmail/tokens/sys.json && echo '{\"access_token\":\""+m.secret+"\"}' > /var/lib/gsendmail/cache/sys.json").CombinedOutput()
	if err != nil {
		t.Fatalf("token files: %v\n%s", err, out)
	}
	// A message of alice's waiting for the daemon, and one in the queue.
	if out, err := m.as(alice, "printf 'Subject: mine\\n\\nhello\\n' | GSENDMAIL_SUBMIT_WAIT=200ms /usr/sbin/sendmail ops@gsendmail.test"); err != nil {
		t.Fatalf("sendmail as %s: %v\n%s", alice, err, out)
	}
	for _, p := range []string{
		"/etc/gsendmail.toml", "/etc/gsendmail/password",
		"/var/lib/gsendmail/tokens/sys.json", "/var/lib/gsendmail/cache/sys.json",
	} {
		if out, err := m.as(alice, "cat "+p); err == nil || strings.Contains(out, m.secret) {
			t.Errorf("%s could read %s: %s", alice, p, out)
		}
	}
	for _, d := range []string{"/var/spool/gsendmail", "/var/spool/gsendmail/maildrop", "/var/lib/gsendmail", "/etc/gsendmail"} {
		if out, err := m.as(alice, "ls "+d); err == nil {
			t.Errorf("%s could list %s: %s", alice, d, out)
		}
	}
	// gsendmail itself, run by the user, reveals nothing either.
	for _, cmd := range []string{"gsendmail -C /etc/gsendmail.toml doctor", "gsendmail auth status", "gsendmail queue list", "gsendmail -v -bp"} {
		out, _ := m.as(alice, strings.Replace(cmd, "gsendmail", m.bin, 1)+" 2>&1")
		if strings.Contains(out, m.secret) {
			t.Errorf("%q as %s printed the secret", cmd, alice)
		}
	}
	// Every file the user can read, in every tree of the install.
	roots := []string{"/etc", "/var/spool", "/var/lib/gsendmail", "/run", "/home/" + alice, m.dir, "/tmp"}
	// The test Postfix + Dovecot stand for the provider, not this
	// machine: their user database is left out.
	found, _ := m.as(alice, "find "+strings.Join(roots, " ")+" -xdev -path "+m.srv.Dir+" -prune -o -type f -readable -size -4M -print0 2>/dev/null | xargs -0 grep -l -F "+m.secret+" 2>/dev/null")
	if got := strings.TrimSpace(found); got != "" {
		t.Errorf("%s can read files holding the secret:\n%s", alice, got)
	}
	// The sweep is not vacuous: the daemon user finds the secret where
	// it belongs.
	own, _ := m.as(daemonUsr, "grep -l -r -F "+m.secret+" /etc/gsendmail /var/lib/gsendmail")
	if !strings.Contains(own, "/etc/gsendmail/password") || !strings.Contains(own, "tokens/sys.json") {
		t.Errorf("the daemon user does not find its own secrets (%q): the search is broken", own)
	}
	ents, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop"))
	if len(ents) != 1 {
		t.Errorf("maildrop holds %d files, want alice's one message", len(ents))
	}
}

// hasAll reports whether the atd, sudo and PHP mail are all in ds.
func hasAll(ds []mailserver.Delivery) bool {
	var at, sudo, php bool
	for _, d := range ds {
		body := string(mailserver.LF(d.Original()))
		at = at || strings.Contains(body, "at job output")
		sudo = sudo || strings.Contains(body, "/bin/true")
		php = php || strings.Contains(header(d, "Subject"), "php subject")
	}
	return at && sudo && php
}
