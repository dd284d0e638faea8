package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

var (
	errTemp = sysexits.New(sysexits.TempFail, errors.New("421 4.3.2 service not available"))
	errPerm = sysexits.New(sysexits.Unavailable, errors.New("550 5.1.1 no such user"))
)

// fakeSender records what Flush does with it. Events are strings like
// "open work", "send <id>", "reset", "close" in call order.
type fakeSender struct {
	mu       sync.Mutex
	events   []string
	sent     map[string]int    // accepted sends per ID
	bodies   map[string]string // body of each accepted message
	openErr  map[string]error  // account -> error from Open
	sendErr  func(e Entry) error
	resetErr func(n int) error // n counts Reset calls from 1
	resets   int
	onSend   func(e Entry) // called before answering
}

func newFakeSender() *fakeSender {
	return &fakeSender{sent: map[string]int{}, bodies: map[string]string{}, openErr: map[string]error{}}
}

func (s *fakeSender) record(ev string) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *fakeSender) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *fakeSender) count(prefix string) int {
	n := 0
	for _, ev := range s.Events() {
		if strings.HasPrefix(ev, prefix) {
			n++
		}
	}
	return n
}

func (s *fakeSender) Open(ctx context.Context, account string) (Conn, error) {
	s.record("open " + account)
	if err := s.openErr[account]; err != nil {
		return nil, err
	}
	return &fakeConn{s: s}, nil
}

type fakeConn struct{ s *fakeSender }

func (c *fakeConn) Send(ctx context.Context, e Entry, msg io.Reader) error {
	b, err := io.ReadAll(msg)
	if err != nil {
		return err
	}
	c.s.record("send " + e.ID)
	if c.s.onSend != nil {
		c.s.onSend(e)
	}
	if c.s.sendErr != nil {
		if err := c.s.sendErr(e); err != nil {
			return err
		}
	}
	c.s.mu.Lock()
	c.s.sent[e.ID]++
	c.s.bodies[e.ID] = string(b)
	c.s.mu.Unlock()
	return nil
}

func (c *fakeConn) Reset(ctx context.Context) error {
	c.s.record("reset")
	c.s.mu.Lock()
	c.s.resets++
	n := c.s.resets
	c.s.mu.Unlock()
	if c.s.resetErr != nil {
		return c.s.resetErr(n)
	}
	return nil
}

func (c *fakeConn) Close() error { c.s.record("close"); return nil }

func enqueueFor(t *testing.T, q *Queue, c *clock, account, rcpt string) string {
	t.Helper()
	e := entry("sender@example.org", rcpt)
	e.Account = account
	id := enqueue(t, q, e, "Subject: to "+rcpt+"\r\n\r\nhi\r\n")
	c.Advance(time.Second)
	return id
}

func TestFlushUsesOneConnectionPerAccountWithResetBetweenMessages(t *testing.T) {
	q, c := newQueue(t)
	a1 := enqueueFor(t, q, c, "work", "1@example.org")
	b1 := enqueueFor(t, q, c, "home", "2@example.org")
	a2 := enqueueFor(t, q, c, "work", "3@example.org")
	b2 := enqueueFor(t, q, c, "home", "4@example.org")
	a3 := enqueueFor(t, q, c, "work", "5@example.org")
	s := newFakeSender()
	r, err := q.Flush(context.Background(), s, FlushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"open work", "send " + a1, "reset", "send " + a2, "reset", "send " + a3, "close",
		"open home", "send " + b1, "reset", "send " + b2, "close",
	}
	if got := s.Events(); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if r != (FlushReport{Sent: 5, Connections: 2}) {
		t.Fatalf("report %+v", r)
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Fatalf("sent entries still queued: %v", ids(list))
	}
	if got := s.bodies[a2]; got != "Subject: to 3@example.org\r\n\r\nhi\r\n" {
		t.Fatalf("sender got body %q", got)
	}
}

func TestFlushSendsOldestFirst(t *testing.T) {
	q, c := newQueue(t)
	var want []string
	for i := range 6 {
		want = append(want, "send "+enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i)))
	}
	s := newFakeSender()
	if _, err := q.Flush(context.Background(), s, FlushOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range s.Events() {
		if strings.HasPrefix(ev, "send ") {
			got = append(got, ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("send order %v, want %v", got, want)
	}
}

func TestFlushDefersTemporaryAndFailsPermanentFailures(t *testing.T) {
	q, c := newQueue(t)
	ok := enqueueFor(t, q, c, "work", "ok@example.org")
	temp := enqueueFor(t, q, c, "work", "busy@example.org")
	perm := enqueueFor(t, q, c, "work", "nosuch@example.org")
	s := newFakeSender()
	s.sendErr = func(e Entry) error {
		switch e.ID {
		case temp:
			return errTemp
		case perm:
			return errPerm
		}
		return nil
	}
	type notice struct {
		id, reason, original string
	}
	var notices []notice
	var log bytes.Buffer
	r, err := q.Flush(context.Background(), s, FlushOptions{
		Log: &log,
		Notify: func(e Entry, reason string, original io.Reader) error {
			b, _ := io.ReadAll(original)
			notices = append(notices, notice{e.ID, reason, string(b)})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r != (FlushReport{Sent: 1, Deferred: 1, Failed: 1, Connections: 1}) {
		t.Fatalf("report %+v", r)
	}
	list, _ := q.List()
	if !slices.Equal(ids(list), []string{temp}) {
		t.Fatalf("queued after flush: %v, want only the deferred %s", ids(list), temp)
	}
	if e := list[0]; e.Attempts != 1 || e.LastError != errTemp.Error() || !e.NextAttempt.Equal(c.t.Add(time.Minute)) {
		t.Fatalf("deferred entry %+v", e)
	}
	failed, _ := q.ListFailed()
	if !slices.Equal(ids(failed), []string{perm}) || failed[0].LastError != errPerm.Error() {
		t.Fatalf("failed/ holds %+v, want %s with the 550 reason", failed, perm)
	}
	want := []notice{{perm, errPerm.Error(), "Subject: to nosuch@example.org\r\n\r\nhi\r\n"}}
	if !slices.Equal(notices, want) {
		t.Fatalf("notices %+v, want %+v", notices, want)
	}
	if _, has := s.sent[ok]; !has {
		t.Fatal("accepted message not recorded")
	}
	for _, id := range []string{ok, temp, perm} {
		if !strings.Contains(log.String(), id) {
			t.Fatalf("log does not mention %s:\n%s", id, log.String())
		}
	}
}

func TestFlushRetriesDeferredEntryOnlyWhenDueUnlessForced(t *testing.T) {
	q, c := newQueue(t)
	id := enqueueFor(t, q, c, "work", "busy@example.org")
	s := newFakeSender()
	s.sendErr = func(Entry) error { return errTemp }
	if _, err := q.Flush(context.Background(), s, FlushOptions{}); err != nil {
		t.Fatal(err)
	}
	// One minute backoff: not due 30 s later.
	c.Advance(30 * time.Second)
	r, _ := q.Flush(context.Background(), s, FlushOptions{})
	if r != (FlushReport{Skipped: 1}) || s.count("send") != 1 {
		t.Fatalf("flush before due: report %+v, sends %d", r, s.count("send"))
	}
	r, _ = q.Flush(context.Background(), s, FlushOptions{Force: true})
	if r.Deferred != 1 || s.count("send") != 2 {
		t.Fatalf("forced flush: report %+v, sends %d", r, s.count("send"))
	}
	// Second failure: two minutes.
	c.Advance(2*time.Minute + time.Second)
	s.sendErr = nil
	r, _ = q.Flush(context.Background(), s, FlushOptions{})
	if r.Sent != 1 || s.sent[id] != 1 {
		t.Fatalf("flush when due: report %+v", r)
	}
}

func TestFlushFailsExpiredEntriesWithoutTryingThem(t *testing.T) {
	q, c := newQueue(t)
	old := enqueueFor(t, q, c, "work", "old@example.org")
	if err := q.Defer(old, errTemp); err != nil {
		t.Fatal(err)
	}
	c.Advance(DefaultMaxAge)
	young := enqueueFor(t, q, c, "work", "young@example.org")
	s := newFakeSender()
	var reasons []string
	r, err := q.Flush(context.Background(), s, FlushOptions{Notify: func(e Entry, reason string, original io.Reader) error {
		if e.ID != old || original == nil {
			t.Errorf("notify for %s with original %v", e.ID, original)
		}
		reasons = append(reasons, reason)
		return errors.New("smarthost down") // logged, entry stays in failed/
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 1 || r.Sent != 1 || s.sent[old] != 0 || s.sent[young] != 1 {
		t.Fatalf("report %+v, sends %v", r, s.sent)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "4.4.7") || !strings.Contains(reasons[0], errTemp.Error()) {
		t.Fatalf("expiry reasons %q: want 4.4.7 and the last error", reasons)
	}
	if failed, _ := q.ListFailed(); !slices.Equal(ids(failed), []string{old}) {
		t.Fatalf("failed/ = %v", ids(failed))
	}
}

func TestFlushMaxAgeNegativeNeverExpires(t *testing.T) {
	q, c := newQueue(t)
	id := enqueueFor(t, q, c, "work", "old@example.org")
	c.Advance(365 * 24 * time.Hour)
	s := newFakeSender()
	r, _ := q.Flush(context.Background(), s, FlushOptions{MaxAge: -1})
	if r.Sent != 1 || s.sent[id] != 1 {
		t.Fatalf("report %+v", r)
	}
}

// A flush of all accounts holds each entry to its own account's limit
// (queue_max_age), not to one limit for the whole queue.
func TestFlushAppliesEachAccountsOwnMaxAge(t *testing.T) {
	q, c := newQueue(t)
	short := enqueueFor(t, q, c, "short", "a@example.org")
	long := enqueueFor(t, q, c, "long", "b@example.org")
	c.Advance(2 * time.Hour)
	s := newFakeSender()
	r, err := q.Flush(context.Background(), s, FlushOptions{
		MaxAge: DefaultMaxAge,
		MaxAgeFor: func(account string) time.Duration {
			if account == "short" {
				return time.Hour
			}
			return 0 // the default applies
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 1 || r.Sent != 1 || s.sent[short] != 0 || s.sent[long] != 1 {
		t.Fatalf("report %+v, sends %v: want the short-lived account's entry expired and the other sent", r, s.sent)
	}
}

func TestFlushDefersAllOfAccountWhenConnectionCannotOpen(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantError bool
	}{
		{"temporary", sysexits.New(sysexits.TempFail, errors.New("dial tcp 127.0.0.1:587: connection refused")), false},
		{"permanent", sysexits.New(sysexits.NoPerm, errors.New("535 5.7.8 authentication failed; run gsendmail auth login work")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, c := newQueue(t)
			var work []string
			for i := range 4 {
				work = append(work, enqueueFor(t, q, c, "work", fmt.Sprintf("w%d@example.org", i)))
			}
			home := enqueueFor(t, q, c, "home", "h@example.org")
			s := newFakeSender()
			s.openErr["work"] = tc.err
			r, err := q.Flush(context.Background(), s, FlushOptions{})
			if (err != nil) != tc.wantError {
				t.Fatalf("Flush error %v, want error: %v", err, tc.wantError)
			}
			if tc.wantError && !errors.Is(err, tc.err) {
				t.Fatalf("Flush error %v does not carry the connection error", err)
			}
			if got := s.count("open work"); got != 1 {
				t.Fatalf("dialled work %d times, want once", got)
			}
			if r.Deferred != 4 || r.Sent != 1 || s.sent[home] != 1 {
				t.Fatalf("report %+v", r)
			}
			for _, id := range work {
				e, err := q.Get(id)
				if err != nil || e.Attempts != 1 || e.LastError != tc.err.Error() {
					t.Fatalf("entry %s: %+v, %v", id, e, err)
				}
			}
		})
	}
}

func TestFlushReopensBrokenConnectionOnce(t *testing.T) {
	q, c := newQueue(t)
	var all []string
	for i := range 4 {
		all = append(all, enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i)))
	}
	s := newFakeSender()
	s.resetErr = func(n int) error {
		if n == 1 {
			return errors.New("write: broken pipe")
		}
		return nil
	}
	r, err := q.Flush(context.Background(), s, FlushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"open work", "send " + all[0], "reset", "close", "open work", "send " + all[1], "reset", "send " + all[2], "reset", "send " + all[3], "close"}
	if got := s.Events(); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if r != (FlushReport{Sent: 4, Connections: 2}) {
		t.Fatalf("report %+v", r)
	}
}

// Servers that take N messages per connection and then close must not
// strand the queue: a broken connection is reopened as long as the
// previous one delivered something. One that breaks without delivering
// anything after a reopen ends the account's turn: the rest is deferred.
func TestFlushReconnectsWhileEachConnectionDeliversAndDefersWhenOneDeliversNothing(t *testing.T) {
	t.Run("every connection delivers one", func(t *testing.T) {
		q, c := newQueue(t)
		for i := range 5 {
			enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i))
		}
		s := newFakeSender()
		s.resetErr = func(int) error { return errors.New("read: connection reset by peer") }
		r, err := q.Flush(context.Background(), s, FlushOptions{IsTemporary: func(error) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent != 5 || r.Deferred != 0 || r.Connections != 5 || s.count("open") != 5 {
			t.Fatalf("report %+v, opens %d: want all 5 sent over 5 connections", r, s.count("open"))
		}
		if list, _ := q.List(); len(list) != 0 {
			t.Fatalf("still queued %v", ids(list))
		}
	})
	t.Run("reopened connection delivers nothing", func(t *testing.T) {
		q, c := newQueue(t)
		var all []string
		for i := range 5 {
			all = append(all, enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i)))
		}
		s := newFakeSender()
		s.resetErr = func(int) error { return errors.New("read: connection reset by peer") }
		s.sendErr = func(e Entry) error {
			if e.ID != all[0] {
				return errTemp
			}
			return nil
		}
		r, err := q.Flush(context.Background(), s, FlushOptions{IsTemporary: func(error) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.count("open"); got != 2 {
			t.Fatalf("opened %d connections, want 2 (one reopen, then no progress)", got)
		}
		if r.Sent != 1 || r.Deferred != 4 || r.Connections != 2 {
			t.Fatalf("report %+v", r)
		}
		list, _ := q.List()
		if !slices.Equal(ids(list), all[1:]) {
			t.Fatalf("still queued %v, want %v", ids(list), all[1:])
		}
	})
}

// A message refused with a 4xx as the server closes the connection (421
// "too many messages") is tried once more on the new connection; a 4xx on
// a connection that stays usable is deferred at once.
func TestFlushRetriesOnNewConnectionTheMessageThatMetTheClose(t *testing.T) {
	q, c := newQueue(t)
	var all []string
	for i := range 3 {
		all = append(all, enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i)))
	}
	s := newFakeSender()
	failedOnce := false
	s.sendErr = func(e Entry) error {
		if e.ID == all[1] && !failedOnce {
			failedOnce = true
			return errTemp // 421: closing
		}
		return nil
	}
	s.resetErr = func(n int) error {
		if n == 2 { // the Reset after the 421
			return errors.New("connection closed")
		}
		return nil
	}
	r, err := q.Flush(context.Background(), s, FlushOptions{IsTemporary: func(error) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 3 || r.Deferred != 0 || s.sent[all[1]] != 1 {
		t.Fatalf("report %+v, sends %v: want the closed-on message resent on the new connection", r, s.sent)
	}
}

func TestFlushOnlyTouchesSelectedAccount(t *testing.T) {
	q, c := newQueue(t)
	w := enqueueFor(t, q, c, "work", "w@example.org")
	h := enqueueFor(t, q, c, "home", "h@example.org")
	s := newFakeSender()
	r, _ := q.Flush(context.Background(), s, FlushOptions{Account: "home"})
	if r.Sent != 1 || s.sent[h] != 1 || s.sent[w] != 0 {
		t.Fatalf("report %+v sends %v", r, s.sent)
	}
	if list, _ := q.List(); !slices.Equal(ids(list), []string{w}) {
		t.Fatalf("queued %v", ids(list))
	}
}

func TestFlushLeavesEntriesUntouchedWhenInterrupted(t *testing.T) {
	q, c := newQueue(t)
	first := enqueueFor(t, q, c, "work", "1@example.org")
	rest := []string{enqueueFor(t, q, c, "work", "2@example.org"), enqueueFor(t, q, c, "work", "3@example.org")}
	ctx, cancel := context.WithCancel(context.Background())
	s := newFakeSender()
	s.onSend = func(e Entry) {
		if e.ID == first {
			cancel()
		}
	}
	s.sendErr = func(e Entry) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	r, err := q.Flush(ctx, s, FlushOptions{})
	if sysexits.Code(err) != sysexits.TempFail {
		t.Fatalf("interrupted flush error %v", err)
	}
	if r.Sent != 0 || r.Deferred != 0 || r.Failed != 0 {
		t.Fatalf("report %+v", r)
	}
	list, _ := q.List()
	if !slices.Equal(ids(list), append([]string{first}, rest...)) {
		t.Fatalf("queued %v", ids(list))
	}
	for _, e := range list {
		if e.Attempts != 0 {
			t.Fatalf("interrupted entry %s counted an attempt", e.ID)
		}
	}
}

func TestConcurrentFlushLeavesQueueToTheRunningOne(t *testing.T) {
	q, c := newQueue(t)
	var all []string
	for i := range 3 {
		all = append(all, enqueueFor(t, q, c, "work", fmt.Sprintf("r%d@example.org", i)))
	}
	s := newFakeSender()
	inSend := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s.onSend = func(Entry) {
		once.Do(func() { close(inSend); <-release })
	}
	done := make(chan FlushReport)
	go func() {
		r, err := q.Flush(context.Background(), s, FlushOptions{})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	<-inSend
	other, _ := Open(q.Dir)
	r2, err := other.Flush(context.Background(), s, FlushOptions{})
	if err != nil || !r2.Busy || r2.Skipped != 3 || r2.Sent != 0 {
		t.Fatalf("second flush while the first sends: %+v, %v", r2, err)
	}
	close(release)
	r1 := <-done
	if r1.Sent != 3 {
		t.Fatalf("first flush report %+v", r1)
	}
	for _, id := range all {
		if s.sent[id] != 1 {
			t.Fatalf("%s sent %d times", id, s.sent[id])
		}
	}
}

func TestConcurrentFlushGoroutinesNeverSendTheSameMessage(t *testing.T) {
	q, _ := newQueue(t)
	q.Now = time.Now
	const producers, perProducer, flushers = 4, 25, 6
	s := newFakeSender()
	var enqueued sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				e := entry("a@example.org", fmt.Sprintf("p%d-%d@example.org", p, i))
				e.Account = []string{"work", "home"}[i%2]
				id, err := q.Enqueue(e, strings.NewReader("x"))
				if err != nil {
					t.Error(err)
					return
				}
				enqueued.Store(id, true)
			}
		}()
	}
	var fw sync.WaitGroup
	for range flushers {
		fw.Add(1)
		go func() {
			defer fw.Done()
			qq, _ := Open(q.Dir)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := qq.Flush(context.Background(), s, FlushOptions{Force: true}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	fw.Wait()
	if _, err := q.Flush(context.Background(), s, FlushOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	n := 0
	enqueued.Range(func(k, _ any) bool {
		n++
		if got := s.sent[k.(string)]; got != 1 {
			t.Errorf("%s sent %d times, want exactly once", k, got)
		}
		return true
	})
	if n != producers*perProducer || len(s.sent) != n {
		t.Fatalf("enqueued %d, sent %d distinct", n, len(s.sent))
	}
}
