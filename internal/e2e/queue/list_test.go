package queue_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestQueueOffOrPermanentFailureQueuesNothing pins the other half of the
// contract: without queue a temporary failure exits 75 and writes nothing;
// with queue a permanent failure is never queued and keeps its exit code.
func TestQueueOffOrPermanentFailureQueuesNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        fault
		queue    bool
		password string
		want     int
	}{
		{"temporary without queue", fault{point: ptMAIL, reply: "451"}, false, testPass, 75},
		{"connection dropped without queue", fault{point: ptDATA, reply: "drop"}, false, testPass, 75},
		{"5xx recipient with queue", fault{point: ptRCPT, reply: "554"}, true, testPass, 69},
		{"5xx end of data with queue", fault{point: ptDot, reply: "554"}, true, testPass, 69},
		{"auth refused with queue", fault{}, true, "wrong-password", 77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFaultServer(t, nil, false, tc.f)
			extra := ""
			if tc.queue {
				extra = "queue = true"
			}
			cfg := strings.Replace(plainConfig(srv.port(), extra), testPass, tc.password, 1)
			h := newHome(t, cfg)
			r := h.run(t, message("nq"), "-i", rcptAddr)
			if r.Code != tc.want {
				t.Errorf("exit %d, want %d; stderr %q", r.Code, tc.want, r.Stderr)
			}
			if strings.Contains(r.Stderr, "queued") {
				t.Errorf("stderr says queued: %q", r.Stderr)
			}
			if ids := h.queued(t); len(ids) != 0 {
				t.Errorf("queue holds %v, want nothing", ids)
			}
			if strings.Contains(r.Stderr, tc.password) {
				t.Errorf("stderr reveals the password: %q", r.Stderr)
			}
		})
	}
}

// TestMailqQueueListAndBpShowEntriesAndDropRemovesOne queues a message
// for two recipients and checks that all three ways of listing the queue
// show its ID, age, sender, recipients, attempts and last error, and that
// "gsendmail queue drop ID" removes exactly it.
func TestMailqQueueListAndBpShowEntriesAndDropRemovesOne(t *testing.T) {
	srv := startFaultServer(t, nil, false, fault{point: ptMAIL, reply: "451"})
	h := newHome(t, plainConfig(srv.port(), "queue = true"))
	for _, m := range []string{"listed-1", "listed-2"} {
		r := h.run(t, message(m), "-i", rcptAddr, "second@example.org")
		if r.Code != 0 {
			t.Fatalf("queueing: exit %d, stderr %q", r.Code, r.Stderr)
		}
	}
	ids := h.queued(t)
	if len(ids) != 2 {
		t.Fatalf("queue holds %v, want two entries", ids)
	}
	mailq := filepath.Join(t.TempDir(), "mailq")
	if err := os.Symlink(h.binPath(t), mailq); err != nil {
		t.Fatal(err)
	}
	age := regexp.MustCompile(`^\S+\s+\d+[smhd]`)
	views := map[string]result{
		"mailq":                h.runAs(t, mailq, ""),
		"gsendmail -bp":        h.run(t, "", "-bp"),
		"gsendmail queue list": h.run(t, "", "queue", "list"),
	}
	for name, r := range views {
		if r.Code != 0 {
			t.Errorf("%s: exit %d, stderr %q", name, r.Code, r.Stderr)
			continue
		}
		for _, id := range ids {
			line := ""
			for _, l := range strings.Split(r.Stdout, "\n") {
				if strings.HasPrefix(l, id) {
					line = l
				}
			}
			if line == "" || !age.MatchString(line) || !strings.Contains(line, testUser) {
				t.Errorf("%s: no line with ID %s, age and sender in:\n%s", name, id, r.Stdout)
			}
		}
		for _, want := range []string{"-> " + rcptAddr, "-> second@example.org", "attempts 1", "451", "2 messages"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("%s: output lacks %q:\n%s", name, want, r.Stdout)
			}
		}
	}

	r := h.run(t, "", "queue", "drop", ids[0])
	if r.Code != 0 {
		t.Fatalf("queue drop: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if left := h.queued(t); len(left) != 1 || left[0] != ids[1] {
		t.Errorf("after dropping %s the queue holds %v, want only %s", ids[0], left, ids[1])
	}
	if _, err := os.Stat(filepath.Join(h.queueDir(), ids[0]+".msg")); !os.IsNotExist(err) {
		t.Errorf("dropped message file still there: %v", err)
	}
	l := h.run(t, "", "queue", "list")
	if strings.Contains(l.Stdout, ids[0]) || !strings.Contains(l.Stdout, ids[1]) {
		t.Errorf("list after drop:\n%s", l.Stdout)
	}
	if r := h.run(t, "", "queue", "drop", ids[0]); r.Code == 0 {
		t.Errorf("dropping %s twice succeeded; want an error saying it is not queued", ids[0])
	}
	if r := h.run(t, "", "queue", "drop", "../../etc/passwd"); r.Code == 0 {
		t.Errorf("drop accepted a path as an ID")
	}
}
