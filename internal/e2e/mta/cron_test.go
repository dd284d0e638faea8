package mta_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cronJobs is a crontab whose three jobs print one line each, with
// MAILTO unset, one address, and a comma list.
func cronJobs(who string) string {
	return "* * * * * echo " + who + " job, MAILTO unset\n" +
		"MAILTO=ops@gsendmail.test\n" +
		"* * * * * echo " + who + " job, MAILTO=addr\n" +
		"MAILTO=\"a@gsendmail.test,b@gsendmail.test\"\n" +
		"* * * * * echo " + who + " job, MAILTO=a,b\n"
}

// wantCron is what each job's mail must arrive as: envelope recipients
// (sorted) by the job's output line.
func wantCron() map[string][]string {
	return map[string][]string{
		"root job, MAILTO unset":     {"root@gsendmail.test"},
		"root job, MAILTO=addr":      {"ops@gsendmail.test"},
		"root job, MAILTO=a,b":       {"a@gsendmail.test", "b@gsendmail.test"},
		alice + " job, MAILTO unset": {alice + "@gsendmail.test"},
		alice + " job, MAILTO=addr":  {"ops@gsendmail.test"},
		alice + " job, MAILTO=a,b":   {"a@gsendmail.test", "b@gsendmail.test"},
	}
}

// startCron starts Debian's cron in the foreground as systemd does:
// "cron -f" with the manager's clean environment (PATH and LANG only; no
// HOME, no USER).
func (m *machine) startCron() {
	m.daemon([]string{"PATH=" + systemPath, "LANG=C.UTF-8"}, "/usr/sbin/cron", "-f")
}

// checkCronMail checks that every job's mail arrived once, through the
// system account, with the user's name on the account's address.
func (m *machine) checkCronMail(t *testing.T) {
	want := wantCron()
	got := map[string]bool{}
	ds := m.deliveries(len(want), cronWait)
	for _, d := range ds {
		body := strings.TrimSpace(string(d.Original()[strings.Index(string(d.Original()), "\n\n")+2:]))
		rcpts, ok := want[body]
		if !ok {
			t.Errorf("unexpected mail %q to %v", body, d.Recipients)
			continue
		}
		if got[body] {
			continue // a second cron round
		}
		got[body] = true
		t.Logf("%q: from %s to %v, From: %s", body, d.Sender, d.Recipients, header(d, "From"))
		if !slices.Equal(d.Recipients, rcpts) {
			t.Errorf("%q: envelope recipients %v, want %v", body, d.Recipients, rcpts)
		}
		if d.Sender != account {
			t.Errorf("%q: envelope sender %q, want the system account %s", body, d.Sender, account)
		}
		name := "root"
		if strings.HasPrefix(body, alice) {
			name = aliceName
		}
		if from := header(d, "From"); from != `"`+name+`" <`+account+`>` {
			t.Errorf("%q: From: %q, want %q", body, from, `"`+name+`" <`+account+`>`)
		}
	}
	for body := range want {
		if !got[body] {
			t.Errorf("no mail for %q", body)
		}
	}
	// Every submission authenticated as the system account, and only as it.
	sasl := m.saslUsers()
	if sasl[account] < len(want) || len(sasl) != 1 {
		t.Errorf("Postfix saw sasl_username %v; want %d or more as %s and no one else", sasl, len(want), account)
	}
}

// TestCronMailOfRootAndAUserArrivesThroughTheDaemonWithTheSystemAccount
// is the system MTA's main promise: Debian's cron, started as systemd
// starts it, mails the output of root's and an ordinary user's jobs (MAILTO
// unset, one address, a comma list) through /usr/sbin/sendmail; the user
// cannot read the configuration, root is not the daemon user, so both
// hand their mail to the daemon over its socket, and all of it arrives
// sent with the system account's credentials, with the user's name on
// the account's address.
func TestCronMailOfRootAndAUserArrivesThroughTheDaemonWithTheSystemAccount(t *testing.T) {
	m := newMachine(t)
	m.startServe()
	m.crontab("root", 0, cronJobs("root"))
	m.crontab(alice, m.aliceU, cronJobs(alice))
	m.startCron()
	m.checkCronMail(t)
	if ents, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop")); len(ents) != 0 {
		t.Errorf("%d messages went to the maildrop with the daemon running", len(ents))
	}
	if out := m.output(); !strings.Contains(out, "listening on") {
		t.Errorf("daemon output lacks its start line:\n%s", out)
	}
}

// TestCronMailWhileTheDaemonIsDownWaitsInTheMaildropAndArrivesAtPickup
// pins the unreachable-daemon contract: with no daemon on the socket,
// /usr/sbin/sendmail run by cron (for root and for an ordinary user, who
// cannot read the system config) retries briefly, then leaves the mail in
// the maildrop and exits 0, so cron keeps nothing and loses nothing; the
// daemon's pickup sends each message with its submitter's policy through
// the system account.
func TestCronMailWhileTheDaemonIsDownWaitsInTheMaildropAndArrivesAtPickup(t *testing.T) {
	m := newMachine(t)
	// The daemon ran, and was stopped (systemctl stop).
	m.stopServe(m.startServe())
	m.crontab("root", 0, cronJobs("root"))
	m.crontab(alice, m.aliceU, cronJobs(alice))
	m.startCron()

	drop := filepath.Join(m.spool, "gsendmail", "maildrop")
	deadline := time.Now().Add(cronWait)
	var files []string
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(drop)
		files = files[:0]
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, e.Name())
			}
		}
		if len(files) >= len(wantCron()) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(files) < len(wantCron()) {
		t.Fatalf("maildrop holds %d messages after %v, want %d\ncron/gsendmail output: %s", len(files), cronWait, len(wantCron()), m.output())
	}
	if n := len(m.srv.Deliveries()); n != 0 {
		t.Fatalf("%d messages delivered with no daemon running", n)
	}
	m.stopChildren()
	// The maildrop is not a way around the policy: the files belong to
	// their submitters.
	owners := map[int]int{}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(drop, f))
		must(t, err)
		owners[int(fi.Sys().(*syscall.Stat_t).Uid)]++
	}
	if owners[0] != 3 || owners[m.aliceU] != 3 {
		t.Errorf("maildrop file owners %v, want 3 of root (0) and 3 of %s (%d)", owners, alice, m.aliceU)
	}

	// systemctl start: the unit starts the daemon, then runs pickup.
	m.startServe()
	out, err := m.as(daemonUsr, m.bin+" -C /etc/gsendmail.toml pickup")
	if err != nil {
		t.Fatalf("pickup: %v\n%s", err, out)
	}
	m.checkCronMail(t)
	if ents, _ := os.ReadDir(drop); len(ents) != 0 {
		t.Errorf("maildrop still holds %d files after pickup", len(ents))
	}
}

// TestCronRunWithHOMEOfRootMailsAUsersJobThroughTheUsersOwnAccount is
// the lookup bug with the real daemon: cron started with
// HOME=/root runs the user's mailer with that HOME. gsendmail must ignore
// it, find the user's own ~/.config/gsendmail/config.toml from the
// password database, and send through the user's own account (no daemon
// involved: the user's file has no [system] table).
func TestCronRunWithHOMEOfRootMailsAUsersJobThroughTheUsersOwnAccount(t *testing.T) {
	m := newMachine(t)
	_, port, _ := strings.Cut(m.srv.SubmissionAddr, ":")
	cfgDir := filepath.Join(m.dir, "alice-home", ".config", "gsendmail")
	mkdir(t, filepath.Join(m.dir, "alice-home", ".config"), 0o700, m.aliceU, m.aliceG)
	mkdir(t, cfgDir, 0o700, m.aliceU, m.aliceG)
	copyFile(t, m.srv.CAFile, filepath.Join(cfgDir, "ca.pem"), 0o644)
	write(t, filepath.Join(cfgDir, "config.toml"), `[account.mine]
host = "localhost"
port = `+port+`
tls_trust_file = "~/.config/gsendmail/ca.pem"
user = "`+aliceAccount+`"
password_command = "printf %s `+alicePassword+`"
from = "`+aliceAccount+`"
local_domain = "gsendmail.test"
`, 0o600, m.aliceU, m.aliceG)
	m.crontab(alice, m.aliceU, "* * * * * echo alice with her own account\n")
	m.daemon([]string{"PATH=" + systemPath, "LANG=C.UTF-8", "HOME=/root"}, "/usr/sbin/cron", "-f")
	d := m.deliveries(1, cronWait)[0]
	if d.Sender != aliceAccount || len(d.Recipients) != 1 || d.Recipients[0] != alice+"@gsendmail.test" {
		t.Errorf("delivered from %q to %v, want from %s to %s@gsendmail.test", d.Sender, d.Recipients, aliceAccount, alice)
	}
	if sasl := m.saslUsers(); sasl[aliceAccount] < 1 || sasl[account] != 0 {
		t.Errorf("sasl_username %v: want alice's own account, not the system's", sasl)
	}
}
