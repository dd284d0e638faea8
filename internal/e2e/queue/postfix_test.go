package queue_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// postfixBehindProxy starts the real test Postfix + Dovecot and a counting
// proxy in front of its STARTTLS submission port, and a home whose account
// goes through the proxy.
func postfixBehindProxy(t *testing.T, extra string) (*mailserver.Server, *proxy, *home) {
	t.Helper()
	mailserver.Require(t)
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{testUser: testPass}})
	p := startProxy(t, s.SubmissionAddr)
	// The test certificate is valid for 127.0.0.1, which is where the
	// proxy listens.
	h := newHome(t, tlsConfig(p.port(), "starttls", s.CAFile, "queue = true\n"+extra))
	return s, p, h
}

// deliveredMarkers counts deliveries per marker.
func deliveredMarkers(ds []mailserver.Delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[markerOf(d.Data)]++
	}
	return out
}

// TestFlushSendsAThousandQueuedMessagesOverOneConnection queues 1,000
// messages (in gsendmail's own on-disk format, through internal/queue) and
// runs one "gsendmail -q" against the real Postfix: all arrive exactly
// once, over a single connection (RSET between messages).
func TestFlushSendsAThousandQueuedMessagesOverOneConnection(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	s, p, h := postfixBehindProxy(t, "")
	q, err := queue.Open(h.queueDir())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range n {
		m := fmt.Sprintf("bulk-%04d", i)
		want[m] = true
		if _, err := q.Enqueue(queue.Entry{Account: "t", ConfigPath: h.cfg, From: testUser, To: []string{rcptAddr}}, strings.NewReader(message(m))); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	r := h.run(t, "", "-qf")
	elapsed := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("gsendmail -qf: exit %d, stderr %q", r.Code, r.Stderr)
	}
	t.Logf("flushed %d messages in %v (%.0f msgs/sec) over %d connection(s)", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), p.conns.Load())
	if c := p.conns.Load(); c != 1 {
		t.Errorf("flush used %d connections for one account, want 1", c)
	}
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("%d entries still queued after the flush", len(left))
	}
	got := deliveredMarkers(s.WaitDeliveries(t, n, 3*time.Minute))
	for m := range want {
		if got[m] != 1 {
			t.Errorf("%s delivered %d times, want 1", m, got[m])
		}
	}
}

// TestSuccessfulSendFlushesWaitingMessagesOfTheAccount queues two messages
// while the server is unreachable; once it is back, sending a third one
// delivers all three without a "gsendmail -q".
func TestSuccessfulSendFlushesWaitingMessagesOfTheAccount(t *testing.T) {
	s, p, h := postfixBehindProxy(t, "")
	p.down.Store(true)
	for _, m := range []string{"waiting-1", "waiting-2"} {
		r := h.run(t, message(m), "-i", rcptAddr)
		if r.Code != 0 || !strings.Contains(r.Stderr, "queued as") {
			t.Fatalf("%s with the server down: exit %d, stderr %q; want it queued", m, r.Code, r.Stderr)
		}
	}
	if got := len(h.queued(t)); got != 2 {
		t.Fatalf("%d entries queued, want 2", got)
	}
	p.down.Store(false)
	r := h.run(t, message("trigger-3"), "-i", rcptAddr)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("send with the server up: exit %d, stderr %q; want silent success", r.Code, r.Stderr)
	}
	got := deliveredMarkers(s.WaitDeliveries(t, 3, 30*time.Second))
	for _, m := range []string{"waiting-1", "waiting-2", "trigger-3"} {
		if got[m] != 1 {
			t.Errorf("%s delivered %d times, want 1 (deliveries: %v)", m, got[m], got)
		}
	}
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("queue still holds %v", left)
	}
}

// TestExpiredEntryIsMovedAsideAndItsSenderNotified lets a queued message
// outlive queue_max_age: the flush moves it to failed/ and sends a failure
// notice from the null sender to the envelope sender, through the same
// account, naming the original message.
func TestExpiredEntryIsMovedAsideAndItsSenderNotified(t *testing.T) {
	s, p, h := postfixBehindProxy(t, `queue_max_age = "1s"`)
	p.down.Store(true)
	r := h.run(t, message("expiring"), "-i", rcptAddr)
	if r.Code != 0 {
		t.Fatalf("queueing: exit %d, stderr %q", r.Code, r.Stderr)
	}
	ids := h.queued(t)
	if len(ids) != 1 {
		t.Fatalf("queue holds %v, want one entry", ids)
	}
	time.Sleep(1100 * time.Millisecond)
	p.down.Store(false)
	r = h.run(t, "", "-qf")
	t.Logf("gsendmail -q: exit %d, stderr %q", r.Code, r.Stderr)
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("expired entry still queued: %v", left)
	}
	for _, suffix := range []string{".env", ".msg"} {
		if _, err := os.Stat(filepath.Join(h.queueDir(), "failed", ids[0]+suffix)); err != nil {
			t.Errorf("expired entry not kept in failed/: %v", err)
		}
	}
	ds := s.WaitDeliveries(t, 1, 30*time.Second)
	d := ds[0]
	if d.Sender != "" || strings.Join(d.Recipients, ",") != testUser {
		t.Errorf("notice envelope %q -> %v, want <> -> %s", d.Sender, d.Recipients, testUser)
	}
	if !bytes.Contains(d.Data, []byte("expiring@gsendmail.test")) {
		t.Errorf("notice does not name the original message (Message-ID <expiring@gsendmail.test>):\n%s", d.Data)
	}
	time.Sleep(500 * time.Millisecond) // a wrongly sent original would show up by now
	if ds := s.Deliveries(); len(ds) != 1 {
		t.Errorf("%d deliveries, want only the notice (the expired message must not be sent)", len(ds))
	}
}

// A queued message of several BDAT chunks is flushed with the wire size
// its envelope recorded, chunk by chunk from the spool file: the figure
// must be exact (a last line without a newline gets its CRLF on the wire
// and in the count), or the flush would stop short of the last chunk.
func TestQueuedMultiChunkMessagesArriveWhole(t *testing.T) {
	s, p, h := postfixBehindProxy(t, "")
	p.down.Store(true)
	body := strings.Repeat("a line of the big queued message\n", 4000) // ≈ 130 KB, 3 chunks
	msgs := map[string]string{
		"big-newline":    message("big-newline") + body,
		"big-no-newline": message("big-no-newline") + body + "no newline at the end",
	}
	for m, text := range msgs {
		r := h.run(t, text, "-i", rcptAddr)
		if r.Code != 0 || !strings.Contains(r.Stderr, "queued as") {
			t.Fatalf("%s with the server down: exit %d, stderr %q; want it queued", m, r.Code, r.Stderr)
		}
	}
	p.down.Store(false)
	if r := h.run(t, "", "-qf"); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("gsendmail -qf: exit %d, stderr %q", r.Code, r.Stderr)
	}
	ds := s.WaitDeliveries(t, 2, 30*time.Second)
	for _, d := range ds {
		m := markerOf(d.Data)
		want := strings.ReplaceAll(msgs[m], "\n", "\r\n")
		if !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		if got := strings.ReplaceAll(string(d.Original()), "\r\n", "\n"); got != strings.ReplaceAll(want, "\r\n", "\n") {
			t.Errorf("%s changed in transit: %d bytes arrived, %d sent", m, len(got), len(want))
		}
	}
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("queue still holds %v", left)
	}
}
