package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// A 450 refusal of our EHLO name (Postfix's reject_unknown_helo_hostname)
// does not heal by waiting: the queue shows the ehlo_name fix, and gives
// up after outcome.HELORetryLimit attempts instead of retrying for days.
func TestQueueGivesUpEarlyOnA450RefusalOfTheEHLONameAndShowsTheFix(t *testing.T) {
	q, c := newQueue(t)
	id := enqueueFor(t, q, c, "work", "someone@example.org")
	s := newFakeSender()
	refusal := &smtp.Error{Command: "RCPT TO:<someone@example.org>", Code: 450, EnhancedCode: "4.7.1",
		Message: "<yoga.test.example>: Helo command rejected: Host not found"}
	// As the sender (submit) returns it: explained by internal/outcome.
	s.sendErr = func(Entry) error { return outcome.Explain(refusal) }
	if !sysexits.Temporary(outcome.Explain(refusal)) {
		t.Fatal("the refusal is not temporary: nothing to test")
	}
	var notices []string
	o := FlushOptions{Force: true, Notify: func(e Entry, reason string, _ io.Reader) error {
		notices = append(notices, reason)
		return nil
	}}
	for attempt := 1; attempt <= outcome.HELORetryLimit; attempt++ {
		if _, err := q.Flush(context.Background(), s, o); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
		list, _ := q.List()
		if attempt < outcome.HELORetryLimit {
			if len(list) != 1 {
				t.Fatalf("after attempt %d: queue %v, want the message still queued", attempt, ids(list))
			}
			var b bytes.Buffer
			FormatList(&b, list, c.t)
			if !strings.Contains(b.String(), "set ehlo_name") {
				t.Errorf("mailq after attempt %d does not show the fix:\n%s", attempt, b.String())
			}
			continue
		}
		if len(list) != 0 {
			t.Fatalf("after %d attempts the message is still queued: %v", attempt, ids(list))
		}
	}
	failed, _ := q.ListFailed()
	if len(failed) != 1 || failed[0].ID != id {
		t.Fatalf("failed/ holds %v, want %s", ids(failed), id)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "set ehlo_name") || !strings.Contains(notices[0], "gave up after 3 attempts") {
		t.Fatalf("notices %q, want one naming the ehlo_name fix and the attempts", notices)
	}
}

func TestOtherTemporaryFailuresKeepTheUsualSchedule(t *testing.T) {
	q, c := newQueue(t)
	enqueueFor(t, q, c, "work", "someone@example.org")
	s := newFakeSender()
	s.sendErr = func(Entry) error {
		return outcome.Explain(&smtp.Error{Command: "RCPT TO:<someone@example.org>", Code: 451, Message: "4.3.0 try later"})
	}
	for range outcome.HELORetryLimit + 2 {
		if _, err := q.Flush(context.Background(), s, FlushOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
	}
	if list, _ := q.List(); len(list) != 1 {
		t.Fatalf("a plain 451 gave up early: queue %v", ids(list))
	}
	if retryLimit(errors.New("x")) != 0 {
		t.Error("a plain error has a retry limit")
	}
}
