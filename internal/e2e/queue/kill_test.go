package queue_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// killAt starts gsendmail, sends SIGKILL after delay (if it is still
// running) and reports its exit code, or -1 when the kill ended it.
func (h *home) killAt(t *testing.T, delay time.Duration, stdin string, args ...string) int {
	t.Helper()
	p := testbin.Start(t, testbin.Command(t, h.env(), args...), strings.NewReader(stdin))
	select {
	case <-p.Done():
	case <-time.After(delay):
		_ = p.Cmd.Process.Kill() // SIGKILL: no deferred cleanup runs
	}
	return p.Wait(0).Code // -1 when the kill ended it
}

// timed runs gsendmail to completion and returns how long it took.
func (h *home) timed(t *testing.T, stdin string, args ...string) (result, time.Duration) {
	t.Helper()
	start := time.Now()
	r := h.run(t, stdin, args...)
	return r, time.Since(start)
}

// TestKill9DuringEnqueueAndFlushLosesNothing kills the gsendmail process
// with SIGKILL at random moments while it queues a message (the server
// answers 451 to MAIL) and while "gsendmail -q" flushes into a server that
// accepts. A message is owned by gsendmail once a sender exited 0 or the
// test queued it; after every kill each owned message must be delivered or
// still queued, and after a final full flush every owned message must have
// arrived. Duplicates are allowed (delivery is at least once) and counted.
func TestKill9DuringEnqueueAndFlushLosesNothing(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 20
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	t.Logf("seed %d", seed)

	srv := startFaultServer(t, nil, false, fault{point: ptMAIL, reply: "451"})
	h := newHome(t, plainConfig(srv.port(), "queue = true"))
	owned := map[string]bool{}
	n := 0
	next := func() string { n++; return fmt.Sprintf("kill-%d", n) }

	// Baseline: how long one enqueueing run takes here (the fastest of
	// a few, so that most random delays fall inside a run).
	base := time.Hour
	for range 5 {
		m := next()
		r, d := h.timed(t, message(m), "-i", rcptAddr)
		if r.Code != 0 || !strings.Contains(r.Stderr, "queued as") {
			t.Fatalf("baseline enqueue: exit %d, stderr %q", r.Code, r.Stderr)
		}
		owned[m] = true
		base = min(base, d)
	}

	check := func(phase string, i int) {
		t.Helper()
		q := queuedMarkers(t, h.queueDir())
		for m := range owned {
			if srv.count(m) == 0 && q[m] == 0 {
				t.Fatalf("%s run %d: message %s was owned by gsendmail but is neither delivered nor queued", phase, i, m)
			}
		}
	}

	killedEnq, exitedEnq := 0, 0
	phase := time.Now()
	for i := range runs {
		m := next()
		delay := time.Duration(rng.Int64N(int64(base)*3/2 + 1))
		switch code := h.killAt(t, delay, message(m), "-i", rcptAddr); code {
		case -1:
			killedEnq++ // the caller still owns it
		case 0:
			exitedEnq++
			owned[m] = true
		default:
			t.Fatalf("enqueue run %d exited %d without being killed", i, code)
		}
		check("enqueue", i)
	}

	// Flush phase: the server accepts now. Each run queues three more
	// messages (directly, in the same on-disk format) and is killed
	// while "gsendmail -q" sends them.
	t.Logf("enqueue phase %v", time.Since(phase))
	phase = time.Now()
	srv.setFault(fault{})
	q, err := queue.Open(h.queueDir())
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func() {
		for range 3 {
			m := next()
			if _, err := q.Enqueue(queue.Entry{Account: "t", ConfigPath: h.cfg, From: testUser, To: []string{rcptAddr}}, strings.NewReader(message(m))); err != nil {
				t.Fatal(err)
			}
			owned[m] = true
		}
	}
	flushBase := time.Hour
	for range 3 {
		enqueue()
		r, d := h.timed(t, "", "-qf")
		if r.Code != 0 {
			t.Fatalf("baseline flush: exit %d, stderr %q", r.Code, r.Stderr)
		}
		flushBase = min(flushBase, d)
	}
	t.Logf("uninterrupted run times: enqueue %v, flush of 3 messages %v", base, flushBase)
	killedFlush := 0
	for i := range runs {
		enqueue()
		delay := time.Duration(rng.Int64N(int64(flushBase)*3/2 + 1))
		code := h.killAt(t, delay, "", "-qf")
		if code == -1 {
			killedFlush++
		} else if code != 0 {
			t.Fatalf("flush run %d exited %d", i, code)
		}
		check("flush", i)
	}

	t.Logf("flush phase %v", time.Since(phase))
	// Final full flush: everything owned must have arrived.
	if r := h.run(t, "", "-qf"); r.Code != 0 {
		t.Fatalf("final flush: exit %d, stderr %q", r.Code, r.Stderr)
	}
	counts := map[string]int{}
	for _, m := range srv.markers() {
		counts[m]++
	}
	lost, dup := 0, 0
	var lostIDs []string
	for m := range owned {
		if counts[m] == 0 {
			lost++
			lostIDs = append(lostIDs, m)
		}
	}
	for _, c := range counts {
		if c > 1 {
			dup++
		}
	}
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("queue not empty after the final flush: %v", left)
	}
	t.Logf("kill test: runs=%d (enqueue: %d killed, %d exited 0; flush: %d killed) owned=%d lost=%d duplicated=%d",
		2*runs, killedEnq, exitedEnq, killedFlush, len(owned), lost, dup)
	if lost != 0 {
		sort.Strings(lostIDs)
		t.Errorf("lost %d owned message(s): %v", lost, lostIDs)
	}
	if killedEnq == 0 || killedFlush == 0 {
		t.Errorf("no run was killed mid-way (enqueue %d, flush %d): the random delays missed the work, so nothing was tested", killedEnq, killedFlush)
	}
	// Leftover temporary files are only from killed enqueues; a finished
	// one never leaves any.
	if des, err := os.ReadDir(h.queueDir()); err == nil {
		tmp := 0
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".tmp-") {
				tmp++
			}
		}
		if tmp > killedEnq+killedFlush {
			t.Errorf("%d temporary files left by %d killed runs", tmp, killedEnq+killedFlush)
		}
	}
}
