package queue_test

import (
	"testing"
)

// TestPlainQHonoursBackoffAndQfForcesARetry pins the split between the
// timer's "gsendmail -q" (only what is due) and "-qf" / "queue flush"
// (everything, now): a message that just failed waits for its backoff
// under -q and goes out under -qf.
func TestPlainQHonoursBackoffAndQfForcesARetry(t *testing.T) {
	s := startFaultServer(t, nil, false, fault{point: ptMAIL, reply: "451"})
	h := newHome(t, plainConfig(s.port(), "queue = true\n"))
	if r := h.run(t, message("due-1"), "-i", rcptAddr); r.Code != 0 {
		t.Fatalf("temporary failure with queue = true: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if n := len(h.queued(t)); n != 1 {
		t.Fatalf("%d entries queued, want 1", n)
	}
	s.setFault(fault{})
	if r := h.run(t, "", "-q"); r.Code != 0 {
		t.Fatalf("-q: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if n := len(h.queued(t)); n != 1 || s.count("due-1") != 0 {
		t.Fatalf("-q sent a message before its retry time (queued %d, delivered %d)", n, s.count("due-1"))
	}
	if r := h.run(t, "", "-qf"); r.Code != 0 {
		t.Fatalf("-qf: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if n := len(h.queued(t)); n != 0 || s.count("due-1") != 1 {
		t.Fatalf("-qf: queued %d, delivered %d; want 0 and 1", n, s.count("due-1"))
	}
}
