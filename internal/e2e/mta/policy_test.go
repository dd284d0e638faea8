package mta_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// runAs runs a shell script as user inside the machine's namespace
// (runuser) and returns what it printed and its exit code.
func (m *machine) runAs(t *testing.T, user, script string) testbin.Result {
	t.Helper()
	return testbin.Exec(t, m.ns([]string{"PATH=" + systemPath}, "runuser", "-u", user, "--", "/bin/sh", "-c", script), nil)
}

// oneLine returns the only line of s, failing when there are more.
func oneLine(t *testing.T, s string) string {
	t.Helper()
	t.Logf("stderr: %s", strings.TrimSpace(s))
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("want exactly one line, got %q", s)
	}
	return lines[0]
}

const mailCmd = "printf 'Subject: policy\\n\\nhello\\n' | /usr/sbin/sendmail "

// TestPolicyRefusesChoosingAnotherSenderDeniedUsersAndRateLimitsWithOneLineAndTheRightCode
// drives the daemon's per-user policy through /usr/sbin/sendmail as
// users run it: an ordinary user may not send as someone else with -f
// (77, one line), may name themselves (cronie's "-f USER"), root may
// choose; a denied user is refused (77); beyond max_messages_per_hour a
// user gets a temporary refusal (75). Nothing refused reaches Postfix or
// the maildrop.
func TestPolicyRefusesChoosingAnotherSenderDeniedUsersAndRateLimitsWithOneLineAndTheRightCode(t *testing.T) {
	m := newMachineWith(t, "deny_users = [\"www-data\"]\nmax_messages_per_hour = 2\n")
	m.startServe()

	r := m.runAs(t, alice, mailCmd+"-f bob@example.org ops@gsendmail.test")
	line := oneLine(t, r.Stderr)
	if r.Code != 77 || !strings.Contains(line, "may not choose the sender bob@example.org") || !strings.Contains(line, "from_override_users") {
		t.Errorf("%s -f bob@example.org: exit %d, %q; want 77 and one line saying why and what to do", alice, r.Code, line)
	}
	r = m.runAs(t, "www-data", mailCmd+"ops@gsendmail.test")
	if line := oneLine(t, r.Stderr); r.Code != 77 || !strings.Contains(line, "www-data may not send mail") {
		t.Errorf("denied www-data: exit %d, %q; want 77", r.Code, line)
	}
	if n := len(m.srv.Deliveries()); n != 0 {
		t.Fatalf("%d refused messages were delivered", n)
	}

	// Allowed: alice naming herself, twice (the hourly limit), and root
	// choosing a sender.
	for i := 0; i < 2; i++ {
		if r := m.runAs(t, alice, mailCmd+"-f "+alice+" ops@gsendmail.test"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("%s -f %s (message %d): exit %d, %q", alice, alice, i+1, r.Code, r.Stderr)
		}
	}
	if r := m.runAs(t, "root", mailCmd+"-f ops@gsendmail.test ops@gsendmail.test"); r.Code != 0 {
		t.Fatalf("root -f ops@gsendmail.test: exit %d, %q", r.Code, r.Stderr)
	}
	ds := m.deliveries(3, 30*time.Second)
	senders := map[string]int{}
	for _, d := range ds {
		senders[d.Sender]++
	}
	if senders[account] != 2 || senders["ops@gsendmail.test"] != 1 {
		t.Errorf("envelope senders %v; want alice's two as %s and root's as ops@gsendmail.test", senders, account)
	}

	r = m.runAs(t, alice, mailCmd+"ops@gsendmail.test")
	if line := oneLine(t, r.Stderr); r.Code != 75 || !strings.Contains(line, "max_messages_per_hour = 2") {
		t.Errorf("third message in the hour: exit %d, %q; want 75 naming the limit", r.Code, line)
	}
	time.Sleep(2 * time.Second)
	if n := len(m.srv.Deliveries()); n != 3 {
		t.Errorf("%d messages delivered, want 3", n)
	}
}

// TestSendmailBsOfAUserIsTheDaemonsDialogueUnderTheUsersPolicy: "sendmail
// -bs" (Symfony Mailer's sendmail transport) run by www-data, who cannot
// read the configuration, speaks to the daemon through the socket: the
// message arrives through the system account with www-data's sender, and
// a sender www-data may not choose gets the daemon's 550 in the dialogue.
func TestSendmailBsOfAUserIsTheDaemonsDialogueUnderTheUsersPolicy(t *testing.T) {
	m := newMachine(t)
	m.startServe()
	dialogue := `printf 'EHLO app.example\r\nMAIL FROM:<shop@example.com>\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<ops@gsendmail.test>\r\nDATA\r\nSubject: bs\r\n\r\nhello over -bs\r\n.\r\nQUIT\r\n' | /usr/sbin/sendmail -bs`
	r := m.runAs(t, "www-data", dialogue)
	if r.Code != 0 || !strings.Contains(r.Stdout, "550 5.7.1") || !strings.Contains(r.Stdout, "may not choose the sender shop@example.com") || !strings.Contains(r.Stdout, "221") {
		t.Fatalf("-bs as www-data: exit %d\nstdout:\n%s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	d := m.deliveries(1, 30*time.Second)[0]
	if d.Sender != account || header(d, "From") != `"www-data" <`+account+`>` || header(d, "Subject") != "bs" {
		t.Errorf("delivered from %q From %q Subject %q", d.Sender, header(d, "From"), header(d, "Subject"))
	}
}
