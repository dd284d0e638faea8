package mta_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bob is a second ordinary user, for what one user may see of another's.
const bob = "gsm-bob"

// ensureBob adds the second user. Call it before newMachine: the
// namespace's /etc overlay does not see later changes to /etc/passwd.
func ensureBob(t *testing.T) (uid, gid int) {
	t.Helper()
	return ensureUser(t, bob, "--create-home", "--user-group", "--shell", "/bin/sh")
}

// addBob gives the second user a private home of the test's, mounted
// over /home/gsm-bob inside the namespace.
func (m *machine) addBob(t *testing.T, uid, gid int) {
	t.Helper()
	home := filepath.Join(m.dir, "bob-home")
	mkdir(t, home, 0o750, uid, gid)
	if out, err := m.ns(nil, "mount", "--bind", home, "/home/"+bob).CombinedOutput(); err != nil {
		t.Fatalf("mounting bob's home: %v\n%s", err, out)
	}
}

// queueIDs are the queue IDs in a mailq listing, by the recipient line
// that follows each.
func queueIDs(listing string) map[string]string {
	ids := map[string]string{} // recipient -> ID
	id := ""
	for _, l := range strings.Split(listing, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, " ") {
			id = ""
			if len(f[0]) == 29 && f[0][16] == '-' {
				id = f[0]
			}
		}
		if r, ok := strings.CutPrefix(l, "    -> "); ok && id != "" {
			ids[r] = id
		}
	}
	return ids
}

// TestMailqShowsEachUserTheirOwnQueuedMailAndRootAllAndUsersDropOnlyTheirOwn:
// with the smarthost down the daemon queues mail from two ordinary users
// and root (queue = true). Each user's mailq (sendmail -bp, "gsendmail
// queue list") shows exactly their own entries, root's shows all with
// who sent them. A user dropping another user's ID, or an unknown one,
// is refused with 77 and one line, and the message stays queued; dropping
// their own works. With the daemon stopped a user's mailq says so with 69
// and lists the user's own messages waiting in the maildrop.
func TestMailqShowsEachUserTheirOwnQueuedMailAndRootAllAndUsersDropOnlyTheirOwn(t *testing.T) {
	bobU, bobG := ensureBob(t)
	m := newMachine(t)
	m.addBob(t, bobU, bobG)
	daemon := m.startServe()
	if err := m.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	rcpt := map[string]string{alice: "for-alice@gsendmail.test", bob: "for-bob@gsendmail.test", "root": "for-root@gsendmail.test"}
	for _, u := range []string{alice, bob, "root"} {
		if r := m.runAs(t, u, mailCmd+rcpt[u]); r.Code != 0 {
			t.Fatalf("%s's sendmail with the smarthost down and queue = true: exit %d %q, want 0 (queued by the daemon)", u, r.Code, r.Stderr)
		}
	}

	all := m.runAs(t, "root", "/usr/sbin/sendmail -bp")
	t.Logf("root's mailq:\n%s", all.Stdout)
	rootIDs := queueIDs(all.Stdout)
	if all.Code != 0 || len(rootIDs) != 3 {
		t.Fatalf("root's mailq: exit %d, IDs %v\nstdout %s\nstderr %s; want all three messages", all.Code, rootIDs, all.Stdout, all.Stderr)
	}
	for _, u := range []string{alice, bob} {
		if !strings.Contains(all.Stdout, "user "+u) {
			t.Errorf("root's mailq does not say which user sent %s's message:\n%s", u, all.Stdout)
		}
	}
	for _, tc := range []struct{ user, cmd string }{
		{alice, "/usr/sbin/sendmail -bp"},
		{bob, "/usr/sbin/sendmail -bp"},
		{alice, m.bin + " queue list"},
	} {
		r := m.runAs(t, tc.user, tc.cmd)
		got := queueIDs(r.Stdout)
		if r.Code != 0 || len(got) != 1 || got[rcpt[tc.user]] != rootIDs[rcpt[tc.user]] {
			t.Errorf("%s's %q: exit %d, IDs %v\nstdout %s\nstderr %s\nwant only their own message %s", tc.user, tc.cmd, r.Code, got, r.Stdout, r.Stderr, rootIDs[rcpt[tc.user]])
		}
		if !strings.Contains(r.Stdout, "last error:") || !strings.Contains(r.Stdout, "-- 1 message") {
			t.Errorf("%s's mailq lacks the last error or the summary:\n%s", tc.user, r.Stdout)
		}
	}

	bobsID, alicesID := rootIDs[rcpt[bob]], rootIDs[rcpt[alice]]
	other := m.runAs(t, alice, m.bin+" queue drop "+bobsID)
	otherLine := oneLine(t, other.Stderr)
	if other.Code != 77 || !strings.Contains(otherLine, "not one of your queued messages") {
		t.Errorf("%s dropping %s's message: exit %d %q, want 77 and one line", alice, bob, other.Code, otherLine)
	}
	unknown := m.runAs(t, alice, m.bin+" queue drop 18ea0d5da831100b-000000000000")
	if unknown.Code != 77 || strings.ReplaceAll(unknown.Stderr, "18ea0d5da831100b-000000000000", "ID") != strings.ReplaceAll(other.Stderr, bobsID, "ID") {
		t.Errorf("an unknown ID is answered differently from another user's (it must not tell whether one exists):\n%q (exit %d)\n%q (exit %d)", unknown.Stderr, unknown.Code, other.Stderr, other.Code)
	}
	if r := m.runAs(t, bob, "/usr/sbin/sendmail -bp"); queueIDs(r.Stdout)[rcpt[bob]] != bobsID {
		t.Errorf("%s's message is gone after %s's refused drop:\n%s", bob, alice, r.Stdout)
	}
	if r := m.runAs(t, alice, m.bin+" queue drop "+alicesID); r.Code != 0 {
		t.Errorf("%s dropping her own %s: exit %d %q", alice, alicesID, r.Code, r.Stderr)
	}
	if r := m.runAs(t, alice, "/usr/sbin/sendmail -bp"); r.Code != 0 || !strings.Contains(r.Stdout, "Mail queue is empty") {
		t.Errorf("%s's mailq after dropping her message: exit %d\n%s%s", alice, r.Code, r.Stdout, r.Stderr)
	}
	if got := queueIDs(m.runAs(t, "root", "/usr/sbin/sendmail -bp").Stdout); len(got) != 2 || got[rcpt[alice]] != "" {
		t.Errorf("root's mailq after %s's drop: %v, want bob's and root's", alice, got)
	}

	// The daemon stops: alice's next message waits in the maildrop.
	m.stopServe(daemon)
	if r := m.runAs(t, alice, "GSENDMAIL_SUBMIT_WAIT=500ms "+mailCmd+"while-down@gsendmail.test"); r.Code != 0 || !strings.Contains(r.Stderr, "maildrop") {
		t.Fatalf("%s's sendmail with the daemon stopped: exit %d %q, want 0 and the maildrop", alice, r.Code, r.Stderr)
	}
	drops, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop"))
	if len(drops) != 1 {
		t.Fatalf("maildrop holds %d files, want alice's one", len(drops))
	}
	r := m.runAs(t, alice, "/usr/sbin/sendmail -bp")
	t.Logf("%s's mailq with the daemon stopped:\n%s", alice, r.Stdout)
	line := oneLine(t, r.Stderr)
	if r.Code != 69 || !strings.Contains(line, "not running") || !strings.Contains(line, "systemctl start") {
		t.Errorf("%s's mailq with the daemon stopped: exit %d %q, want 69 and one line saying so and how to start it", alice, r.Code, line)
	}
	if !strings.Contains(r.Stdout, drops[0].Name()) || !strings.Contains(r.Stdout, "-> while-down@gsendmail.test") {
		t.Errorf("%s's mailq with the daemon stopped does not list her maildrop file %s:\n%s", alice, drops[0].Name(), r.Stdout)
	}
	if r := m.runAs(t, bob, "/usr/sbin/sendmail -bp"); r.Code != 69 || strings.Contains(r.Stdout, drops[0].Name()) {
		t.Errorf("%s's mailq with the daemon stopped: exit %d, stdout %q; want 69 and not alice's file", bob, r.Code, r.Stdout)
	}
	if r := m.runAs(t, "root", "/usr/sbin/sendmail -bp"); !strings.Contains(r.Stdout, drops[0].Name()) || !strings.Contains(r.Stdout, "user "+alice) {
		t.Errorf("root's mailq does not show what waits in the maildrop:\n%s%s", r.Stdout, r.Stderr)
	}

	// A maildrop file is dropped by its owner (bob may not), or by root.
	if r := m.runAs(t, bob, m.bin+" queue drop "+drops[0].Name()); r.Code != 77 {
		t.Errorf("%s dropping %s's maildrop file: exit %d %q, want 77", bob, alice, r.Code, r.Stderr)
	}
	if r := m.runAs(t, alice, "GSENDMAIL_SUBMIT_WAIT=500ms "+mailCmd+"second@gsendmail.test"); r.Code != 0 {
		t.Fatalf("second drop: exit %d %q", r.Code, r.Stderr)
	}
	if r := m.runAs(t, alice, m.bin+" queue drop "+drops[0].Name()); r.Code != 0 {
		t.Errorf("%s dropping her maildrop file: exit %d %q", alice, r.Code, r.Stderr)
	}
	left, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop"))
	if len(left) != 1 || left[0].Name() == drops[0].Name() {
		t.Fatalf("maildrop after alice's drop: %v, want only her second message", left)
	}
	if r := m.runAs(t, "root", m.bin+" queue drop "+left[0].Name()); r.Code != 0 {
		t.Errorf("root dropping a maildrop file: exit %d %q", r.Code, r.Stderr)
	}
	if left, _ := os.ReadDir(filepath.Join(m.spool, "gsendmail", "maildrop")); len(left) != 0 {
		t.Errorf("maildrop after root's drop: %v", left)
	}
}

// TestMailqGoesThroughTheQuerySocketSystemdPassesByName starts the
// daemon the way gsendmail-submit.service is started: both sockets bound
// by the service manager (systemd-socket-activate here) and passed with
// LISTEN_FDNAMES submit:queue. A user's mailq reaches the daemon on the
// socket named "queue"; the daemon opens no socket of its own.
func TestMailqGoesThroughTheQuerySocketSystemdPassesByName(t *testing.T) {
	require(t, "systemd-socket-activate")
	m := newMachine(t)
	m.daemon([]string{"PATH=" + systemPath, "LANG=C.UTF-8"}, "runuser", "-u", daemonUsr, "--",
		"systemd-socket-activate", "-l", "/run/gsendmail/submit.sock", "-l", "/run/gsendmail/queue.sock", "--fdname=submit:queue", m.bin, "-C", "/etc/gsendmail.toml", "serve")
	sock := filepath.Join(m.dir, "run-gsendmail", "submit.sock")
	qsock := filepath.Join(m.dir, "run-gsendmail", "queue.sock")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			// systemd makes them 0666 (SocketMode= in the units);
			// systemd-socket-activate leaves them to the umask.
			must(t, os.Chmod(sock, 0o666))
			must(t, os.Chmod(qsock, 0o666))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket from systemd-socket-activate within 20s\n%s", m.output())
		}
	}
	if err := m.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if r := m.runAs(t, alice, mailCmd+"for-alice@gsendmail.test"); r.Code != 0 {
		t.Fatalf("sendmail through the socket-activated daemon: exit %d %q\n%s", r.Code, r.Stderr, m.output())
	}
	r := m.runAs(t, alice, "/usr/sbin/sendmail -bp")
	if got := queueIDs(r.Stdout); r.Code != 0 || got["for-alice@gsendmail.test"] == "" {
		t.Errorf("%s's mailq through the socket named queue: exit %d\n%s%s\ndaemon: %s", alice, r.Code, r.Stdout, r.Stderr, m.output())
	}
	if !strings.Contains(m.output(), "answering queue queries on /run/gsendmail/queue.sock") {
		t.Errorf("the daemon did not say it serves the passed queue socket:\n%s", m.output())
	}
}
