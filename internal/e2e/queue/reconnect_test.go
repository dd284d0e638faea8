package queue_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/queue"
)

// TestFlushReconnectsWhenTheServerLimitsMessagesPerConnection flushes 50
// messages into a server that accepts 10 per connection and then answers
// 421 and closes (as large providers do). Every message must arrive
// exactly once, the rest of the queue must not be stranded after the
// second connection, and the connections used must be about 50/10.
func TestFlushReconnectsWhenTheServerLimitsMessagesPerConnection(t *testing.T) {
	const n, limit = 50, 10
	srv := startFaultServer(t, nil, false, fault{})
	srv.perConn = limit
	h := newHome(t, plainConfig(srv.port(), "queue = true"))
	q, err := queue.Open(h.queueDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := q.Enqueue(queue.Entry{Account: "t", ConfigPath: h.cfg, From: testUser, To: []string{rcptAddr}}, strings.NewReader(message(fmt.Sprintf("limited-%02d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	for len(h.queued(t)) > 0 && runs < 3 {
		runs++
		if r := h.run(t, "", "-qf"); r.Code != 0 {
			t.Fatalf("gsendmail -q: exit %d, stderr %q", r.Code, r.Stderr)
		}
	}
	t.Logf("%d flush run(s), %d connections, %d left queued", runs, srv.conns.Load(), len(h.queued(t)))
	if runs != 1 || len(h.queued(t)) != 0 {
		t.Errorf("one flush left %d of %d messages queued (it took %d runs): a per-connection limit must not strand the queue", len(h.queued(t)), n, runs)
	}
	for i := range n {
		if c := srv.count(fmt.Sprintf("limited-%02d", i)); c != 1 {
			t.Errorf("limited-%02d accepted %d times, want 1", i, c)
		}
	}
	if c := srv.conns.Load(); c > n/limit+1 {
		t.Errorf("%d connections for %d messages at %d per connection", c, n, limit)
	}
}
