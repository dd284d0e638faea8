package mta_test

import (
	"strings"
	"testing"
)

// TestMailqShowsRootTheDaemonsQueueAndTellsUsersWhereTheirMailIs: with
// the smarthost down the daemon queues a user's message (queue = true);
// root's mailq lists it (run as the daemon user, whose queue it is) and
// root can drop it; the user's mailq cannot read that queue and says so
// in one line, and the user cannot drop it.
func TestMailqShowsRootTheDaemonsQueueAndTellsUsersWhereTheirMailIs(t *testing.T) {
	m := newMachine(t)
	m.startServe()
	if err := m.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if r := m.runAs(t, alice, mailCmd+"ops@gsendmail.test"); r.code != 0 {
		t.Fatalf("sendmail with the smarthost down and queue = true: exit %d %q, want 0 (queued by the daemon)", r.code, r.stderr)
	}
	r := m.runAs(t, "root", "/usr/sbin/sendmail -bp")
	if r.code != 0 || !strings.Contains(r.stdout, "ops@gsendmail.test") {
		t.Fatalf("root's mailq: exit %d\nstdout %q\nstderr %q; want the queued message", r.code, r.stdout, r.stderr)
	}
	id := ""
	for _, f := range strings.Fields(r.stdout) {
		if len(f) == 29 && f[16] == '-' {
			id = f
		}
	}
	if id == "" {
		t.Fatalf("no queue ID in root's mailq output:\n%s", r.stdout)
	}
	u := m.runAs(t, alice, "/usr/sbin/sendmail -bp")
	if line := oneLine(t, u.stderr); !strings.Contains(line, "only root can list") || strings.Contains(u.stdout, id) {
		t.Errorf("%s's mailq: stdout %q stderr %q", alice, u.stdout, u.stderr)
	}
	if d := m.runAs(t, alice, m.bin+" queue drop "+id); d.code == 0 {
		t.Errorf("%s dropped a message from the daemon's queue", alice)
	}
	if d := m.runAs(t, "root", m.bin+" queue drop "+id); d.code != 0 {
		t.Errorf("root's queue drop %s: exit %d %q", id, d.code, d.stderr)
	}
	if r := m.runAs(t, "root", "/usr/sbin/sendmail -bp"); strings.Contains(r.stdout, id) {
		t.Errorf("%s still listed after drop:\n%s", id, r.stdout)
	}
}
