package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Sender opens submission connections for Flush. The send path implements
// it with its SMTP client; tests use fakes.
type Sender interface {
	// Open connects and authenticates for account. An error means no
	// message of that account can be tried now.
	Open(ctx context.Context, account string) (Conn, error)
}

// Conn submits messages over one open connection.
type Conn interface {
	// Send submits one message (MAIL, RCPT, DATA). nil means the server
	// accepted it; the queue then removes it.
	Send(ctx context.Context, e Entry, msg io.Reader) error
	// Reset readies the connection for the next message (RFC 5321 4.1.1.5
	// RSET) and reports whether it is still usable.
	Reset(ctx context.Context) error
	Close() error
}

// FlushOptions tune one Flush.
type FlushOptions struct {
	Account string        // only this account's entries; "" for all
	Force   bool          // ignore NextAttempt (mailq -q, "flush now")
	MaxAge  time.Duration // give up after this long queued; 0 = DefaultMaxAge, <0 never
	// MaxAgeFor, when set, gives an account's own limit (queue_max_age);
	// a zero result falls back to MaxAge. A flush of all accounts needs it
	// because each entry may belong to a different account.
	MaxAgeFor func(account string) time.Duration
	// Notify tells the sender about a message moved to failed/. original
	// reads the message (from failed/); it may be nil if that failed. A
	// Notify error is logged; the entry stays in failed/ either way.
	Notify func(e Entry, reason string, original io.Reader) error
	// IsTemporary classifies Send and Open errors; default
	// sysexits.Temporary. gsendmail passes outcome.Temporary.
	IsTemporary func(error) bool
	Log         io.Writer // one line per event; nil discards
}

// FlushReport counts what one Flush did.
type FlushReport struct {
	Sent, Deferred, Failed int
	Skipped                int  // not due yet, or left to a concurrent flush
	Busy                   bool // another flush held the lock; nothing was tried
	Connections            int  // connections opened successfully
}

// Flush tries every due entry once. It takes the flush lock without
// waiting: if another flush holds it, Flush returns at once with Busy set,
// Skipped counting the queue, and no error, so two flushes never send the
// same message. Due entries are grouped by account (in the order of each
// account's oldest entry) and sent oldest first over one connection per
// account, with Reset between messages; a connection that fails Reset is
// reopened once. Per message: accepted → Done; temporary failure → Defer;
// permanent failure → Fail and Notify. An entry older than MaxAge is failed
// and notified without being tried. When an account's connection cannot be
// opened, all its due entries are deferred with that error (permanent or
// not: a wrong password says nothing about the message, and MaxAge bounds
// the retries).
//
// The returned error reports what the user must fix: permanent connection
// failures and queue bookkeeping errors. Temporary failures are only counted.
// When ctx ends, untried entries are left as they were.
func (q *Queue) Flush(ctx context.Context, s Sender, o FlushOptions) (FlushReport, error) {
	var r FlushReport
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.IsTemporary == nil {
		o.IsTemporary = sysexits.Temporary
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	f := &flusher{q: q, s: s, o: o, r: &r}

	unlock, ok, err := q.TryLock()
	if err != nil {
		return r, err
	}
	if !ok {
		r.Busy = true
		r.Skipped = q.countQueued()
		fmt.Fprintf(o.Log, "queue: another flush is running; leaving %d message(s) to it\n", r.Skipped)
		return r, nil
	}
	defer unlock()

	entries, err := q.List()
	if err != nil {
		return r, err
	}
	now := q.now()
	var order []string
	due := map[string][]Entry{}
	for _, e := range entries {
		if o.Account != "" && e.Account != o.Account {
			continue
		}
		maxAge := o.MaxAge
		if o.MaxAgeFor != nil {
			if d := o.MaxAgeFor(e.Account); d != 0 {
				maxAge = d
			}
		}
		if maxAge > 0 && now.Sub(e.Created) > maxAge {
			reason := fmt.Sprintf("4.4.7 not delivered within %s, giving up", maxAge)
			if e.LastError != "" {
				reason += "; last error: " + e.LastError
			}
			f.fail(e, reason)
			continue
		}
		if !o.Force && e.NextAttempt.After(now) {
			r.Skipped++
			continue
		}
		if _, seen := due[e.Account]; !seen {
			order = append(order, e.Account)
		}
		due[e.Account] = append(due[e.Account], e)
	}
	for _, acct := range order {
		if ctx.Err() != nil {
			break
		}
		f.account(ctx, acct, due[acct])
	}
	if ctx.Err() != nil {
		f.note(sysexits.New(sysexits.TempFail, fmt.Errorf("queue: flush interrupted (%w); the remaining messages stay queued", ctx.Err())))
	}
	return r, f.err()
}

type flusher struct {
	q    *Queue
	s    Sender
	o    FlushOptions
	r    *FlushReport
	errs []error
}

func (f *flusher) logf(format string, args ...any) {
	fmt.Fprintf(f.o.Log, "queue: "+format+"\n", args...)
}

func (f *flusher) note(err error) {
	f.errs = append(f.errs, err)
}

// err is the first error noted, with a count of the others, on one line.
func (f *flusher) err() error {
	switch len(f.errs) {
	case 0:
		return nil
	case 1:
		return f.errs[0]
	}
	return &moreErrors{first: f.errs[0], more: len(f.errs) - 1}
}

type moreErrors struct {
	first error
	more  int
}

func (m *moreErrors) Error() string {
	return fmt.Sprintf("%v (and %d more problem(s); see the log)", m.first, m.more)
}
func (m *moreErrors) Unwrap() error { return m.first }

func (f *flusher) account(ctx context.Context, acct string, entries []Entry) {
	conn, err := f.s.Open(ctx, acct)
	if err != nil {
		f.openFailed(ctx, acct, entries, err)
		return
	}
	f.r.Connections++
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	// A broken connection is reopened once, and again each time the
	// previous connection delivered something: servers that take N
	// messages per connection and then answer 421 and close (large
	// providers do) must not strand the rest of the queue. The message
	// that met the 421 is tried once more on the new connection; a
	// temporary refusal on a connection that stays usable is deferred.
	reopened, fresh, sentOnConn := false, true, 0
	var pending *Entry // failed temporarily; its fate depends on the next Reset
	var pendingErr error
	retried := map[string]bool{}
	work := entries
	for len(work) > 0 {
		if ctx.Err() != nil {
			return
		}
		if !fresh {
			if err := conn.Reset(ctx); err != nil {
				conn.Close()
				conn = nil
				if ctx.Err() != nil {
					return
				}
				if pending != nil {
					work = append([]Entry{*pending}, work...)
					pending = nil
				}
				if reopened && sentOnConn == 0 {
					f.deferAll(ctx, work, fmt.Errorf("connection broke again: %w", err))
					return
				}
				reopened = true
				f.logf("account %q: connection broke (%s); reconnecting", acct, oneLine(err.Error()))
				c, err := f.s.Open(ctx, acct)
				if err != nil {
					f.openFailed(ctx, acct, work, err)
					return
				}
				conn = c
				f.r.Connections++
				sentOnConn = 0
			} else if pending != nil {
				f.deferOne(*pending, pendingErr)
				pending = nil
			}
		}
		fresh = false
		e := work[0]
		work = work[1:]
		sent, tempErr := f.send(ctx, conn, e, !retried[e.ID])
		if sent {
			sentOnConn++
		}
		if tempErr != nil {
			retried[e.ID] = true
			pending, pendingErr = &e, tempErr
		}
	}
	if pending != nil {
		f.deferOne(*pending, pendingErr)
	}
}

func (f *flusher) openFailed(ctx context.Context, acct string, entries []Entry, err error) {
	if ctx.Err() != nil {
		return
	}
	f.logf("account %q: cannot connect: %s", acct, oneLine(err.Error()))
	if !f.o.IsTemporary(err) {
		f.note(err)
	}
	f.deferAll(ctx, entries, err)
}

func (f *flusher) deferAll(ctx context.Context, entries []Entry, err error) {
	if ctx.Err() != nil {
		return
	}
	for _, e := range entries {
		f.deferOne(e, err)
	}
}

func (f *flusher) deferOne(e Entry, cause error) {
	if limit := retryLimit(cause); limit > 0 && e.Attempts+1 >= limit {
		f.fail(e, fmt.Sprintf("%s; gave up after %d attempts", oneLine(cause.Error()), e.Attempts+1))
		return
	}
	if err := f.q.Defer(e.ID, cause); err != nil {
		f.logf("%s: %s", e.ID, oneLine(err.Error()))
		f.note(err)
		return
	}
	f.r.Deferred++
	f.logf("%s: deferred: %s", e.ID, oneLine(cause.Error()))
}

// retryLimit is the number of attempts cause allows (a refusal that waiting
// does not heal, such as a 450 for our EHLO name: internal/outcome's
// errors say so), or 0 for the usual schedule up to the maximum age.
func retryLimit(cause error) int {
	var l interface{ RetryLimit() int }
	if errors.As(cause, &l) {
		return l.RetryLimit()
	}
	return 0
}

// send tries one entry. It reports whether the server accepted it. A
// temporary failure is deferred, unless mayRetry: then it is returned
// undeferred for the caller to retry on a new connection or defer.
func (f *flusher) send(ctx context.Context, conn Conn, e Entry, mayRetry bool) (sent bool, retry error) {
	msg, err := f.q.OpenMessage(e.ID)
	if err != nil {
		// Dropped by the user since List; nothing to send.
		f.logf("%s: %s", e.ID, oneLine(err.Error()))
		return false, nil
	}
	err = conn.Send(ctx, e, msg)
	msg.Close()
	switch {
	case err == nil:
		f.r.Sent++
		f.logf("%s: sent", e.ID)
		if derr := f.q.Done(e.ID); derr != nil {
			// Accepted but still queued: it will be sent again.
			f.logf("%s: %s", e.ID, oneLine(derr.Error()))
			f.note(derr)
		}
		return true, nil
	case ctx.Err() != nil:
		// Interrupted, not the message's fault: leave it as it was.
	case f.o.IsTemporary(err):
		if mayRetry {
			return false, err
		}
		f.deferOne(e, err)
	default:
		f.fail(e, err.Error())
	}
	return false, nil
}

func (f *flusher) fail(e Entry, reason string) {
	reason = oneLine(reason)
	if err := f.q.Fail(e.ID, reason); err != nil {
		f.logf("%s: %s", e.ID, oneLine(err.Error()))
		f.note(err)
		return
	}
	f.r.Failed++
	f.logf("%s: failed, moved to %s: %s", e.ID, filepath.Join(f.q.Dir, failedDir), reason)
	if f.o.Notify == nil {
		return
	}
	e.LastError = reason
	var original io.Reader
	if rc, err := f.q.OpenFailedMessage(e.ID); err == nil {
		defer rc.Close()
		original = rc
	}
	if err := f.o.Notify(e, reason, original); err != nil {
		f.logf("%s: cannot notify the sender: %s", e.ID, oneLine(err.Error()))
	}
}

// countQueued counts envelopes without reading them (used when another
// flush owns the queue and List's repairs are its business).
func (q *Queue) countQueued() int {
	des, err := os.ReadDir(q.Dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), envSuffix); ok && ValidID(id) {
			n++
		}
	}
	return n
}
