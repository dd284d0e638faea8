package mta_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSetupSystemWritesTheDaemonOwnedConfigAndPasswordAndUsersMailGoesThroughIt
// runs "gsendmail setup --system" as root, non-interactively: the
// password it reads must land in a file of the daemon user's, the
// configuration in /etc/gsendmail.toml (0600, the daemon user's) with a
// [system] table, and an ordinary user's mail must then go out through
// that account.
func TestSetupSystemWritesTheDaemonOwnedConfigAndPasswordAndUsersMailGoesThroughIt(t *testing.T) {
	m := newMachine(t)
	if out, err := m.ns([]string{"PATH=" + systemPath}, "rm", "-f", "/etc/gsendmail.toml").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	_, port, _ := strings.Cut(m.srv.SubmissionAddr, ":")
	setup := m.ns([]string{"PATH=" + systemPath, "HOME=/root"}, m.bin, "setup", "--system", "--yes", "--no-doctor",
		"--account", "sys", "--address", account, "--host", "localhost", "--port", port, "--tls", "starttls",
		"--tls-trust-file", "/etc/gsendmail/ca.pem", "--user", account, "--password-store", "file")
	setup.Stdin = strings.NewReader(m.secret + "\n")
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("setup --system: %v\n%s", err, out)
	} else if strings.Contains(string(out), m.secret) {
		t.Errorf("setup printed the password:\n%s", out)
	}
	// Inspect from inside the namespace (/etc is an overlay there).
	out, err := m.ns([]string{"PATH=" + systemPath}, "stat", "-c", "%a %U %G", "/etc/gsendmail.toml", "/var/lib/gsendmail/sys.password").CombinedOutput()
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "600 gsendmail gsendmail 600 gsendmail gsendmail" {
		t.Errorf("config and password file: %q, want both 0600 gsendmail:gsendmail", out)
	}
	cfg, _ := m.ns([]string{"PATH=" + systemPath}, "cat", "/etc/gsendmail.toml").CombinedOutput()
	if !strings.Contains(string(cfg), "\n[system]\n") || strings.Contains(string(cfg), m.secret) {
		t.Errorf("/etc/gsendmail.toml lacks [system] or holds the password:\n%s", cfg)
	}
	if _, err := os.Stat(filepath.Join(m.spool, "gsendmail", "maildrop")); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(m.spool, "gsendmail", "maildrop"))
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm()|fi.Mode()&os.ModeSticky != os.ModeSticky|0o733 || int(st.Uid) != m.daemonU {
		t.Errorf("maildrop mode %v owner %d", fi.Mode(), st.Uid)
	}

	if out, err := m.as(alice, "printf 'Subject: after setup\\n\\nhello\\n' | GSENDMAIL_SUBMIT_WAIT=200ms /usr/sbin/sendmail ops@gsendmail.test"); err != nil {
		t.Fatalf("sendmail as %s: %v\n%s", alice, err, out)
	}
	m.pickupUntil(t, 1, 30*time.Second)
	d := m.deliveries(1, 10*time.Second)[0]
	if d.Sender != account || header(d, "Subject") != "after setup" || header(d, "From") != `"`+aliceName+`" <`+account+`>` {
		t.Errorf("delivered from %q, Subject %q, From %q", d.Sender, header(d, "Subject"), header(d, "From"))
	}
	if sasl := m.saslUsers(); sasl[account] != 1 {
		t.Errorf("sasl_username %v", sasl)
	}
}
