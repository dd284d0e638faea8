// Package queue owns gsendmail's durable mail queue: the on-disk spool of
// messages whose submission failed temporarily, the retry schedule, and the
// flush loop that hands due messages back to a Sender.
//
// It does not own SMTP, credentials or configuration: the send path decides
// what is temporary (sysexits.Temporary by default), builds the Sender, and
// decides whom to notify. The queue only promises that an Enqueue that
// returned nil is on disk (file data, name and directory entry fsync'd), that
// a message leaves the queue only after the Sender reported acceptance
// (Done), after a permanent failure or expiry (moved to failed/, never
// deleted), or by the user's explicit Drop.
//
// Layout of Queue.Dir:
//
//	<id>.msg      the message bytes exactly as submitted
//	<id>.env      the envelope (JSON, see envelope.go); renamed into place last
//	.tmp-*        files being written; removed by List when older than an hour
//	.lock         flock(2) target serialising Flush
//	failed/       entries that failed permanently or expired (<id>.env, <id>.msg)
//	corrupt/      entries List could not use, with a <id>.note saying why
//
// Why two files rather than one (JSON header line + message): Defer rewrites
// the envelope after every attempt, and with two files that rewrite is a
// small atomic replace of <id>.env instead of a copy of the whole message.
// Atomicity of the pair comes from ordering: <id>.msg is renamed into place
// and the directory fsync'd before <id>.env is renamed, and List only lists
// entries that have an .env; removal goes the other way (.env first). A
// crash therefore leaves at worst a .msg without an .env, which List moves to
// corrupt/ after an hour (the hour protects an Enqueue still in progress in
// another process).
//
// Delivery is at least once: Flush calls Done only after the Sender returned
// nil, so a crash (or a failing Done) between the server's acceptance and the
// removal of the entry sends the message again on the next flush. The
// opposite order would lose mail; a duplicate is the lesser harm.
package queue

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Entry is one queued message's envelope and retry state. The message bytes
// live beside it and are read with Queue.OpenMessage.
type Entry struct {
	ID         string // assigned by Enqueue: time-sortable, then random
	Account    string // config account name the message is sent with
	ConfigPath string // config file the account came from ("" = default)
	From       string // envelope sender; "" is the null sender <>
	To         []string
	DSNNotify  string // RFC 3461 4.1 NOTIFY value, "" = not requested
	DSNReturn  string // RFC 3461 4.3 RET: "", "FULL" or "HDRS"
	EnvID      string // RFC 3461 4.4 ENVID (unencoded)
	EightBit   bool   // RFC 6152 BODY=8BITMIME needed
	UTF8       bool   // RFC 6531 SMTPUTF8 needed
	Size       int64  // message size in bytes, set by Enqueue
	// WireSize is the size the message has on the wire (after LF→CRLF
	// conversion, message.WireSize), given by the caller and sent as
	// SIZE= at each attempt; the spool file may be smaller (bare LFs).
	// 0 (entries from before it was kept) sends no SIZE parameter.
	WireSize  int64
	Created   time.Time
	Attempts  int
	LastError string // one line, the reason of the last failed attempt
	// LastAttempt and NextAttempt schedule retries; NextAttempt zero means
	// due now.
	LastAttempt time.Time
	NextAttempt time.Time
	// Failed is when the entry was moved to failed/ (zero while queued).
	Failed time.Time
	// Submitter is the local user who handed the message to the system
	// MTA's daemon (peer credentials of the socket, or the owner of a
	// maildrop file); nil when unknown (a TCP client, an entry written
	// before gsendmail recorded it). See VisibleTo.
	Submitter *Submitter
}

// Submitter is who queued an entry, as the kernel told the daemon.
type Submitter struct {
	UID  int    // the authority: filters and permissions use only this
	Name string // login name at queue time, for display
}

// VisibleTo reports whether the local user uid may see and drop entry e
// through the daemon: root sees every entry, anyone else only the
// entries they submitted. An entry without a Submitter is root's alone.
func (e Entry) VisibleTo(uid int) bool {
	return uid == 0 || (e.Submitter != nil && e.Submitter.UID == uid)
}

// VisibleTo returns the entries uid may see (Entry.VisibleTo), in order.
func VisibleTo(entries []Entry, uid int) []Entry {
	var out []Entry
	for _, e := range entries {
		if e.VisibleTo(uid) {
			out = append(out, e)
		}
	}
	return out
}

// Queue is a queue directory. Its methods are safe for concurrent use by
// several processes: Enqueue, Done, Defer, Fail and Drop are atomic renames
// or removals, and Flush serialises itself with a lock file.
type Queue struct {
	Dir string
	// Now is the clock; tests replace it. Open sets time.Now.
	Now func() time.Time

	// failStep, when set, is called before each step of an atomic write
	// (safeio.Steps, prefixed by "msg:" or "env:"); a non-nil result makes
	// that step fail as if the system call had. It exists so tests can
	// fail every step with ENOSPC without a full file system.
	failStep func(step string) error
}

const (
	lockName    = ".lock"
	failedDir   = "failed"
	corruptDir  = "corrupt"
	envSuffix   = ".env"
	msgSuffix   = ".msg"
	noteSuffix  = ".note"
	staleAfter  = time.Hour
	maxEnvBytes = 1 << 20
)

// DefaultMaxAge is how long a message may stay queued before Flush gives up
// on it (Postfix's maximal_queue_lifetime default is 5 days too).
const DefaultMaxAge = 120 * time.Hour

// DefaultDir is the queue directory when the configuration names none:
// /var/spool/gsendmail for the system queue, otherwise
// $XDG_STATE_HOME/gsendmail/queue with XDG_STATE_HOME defaulting to
// $HOME/.local/state (a relative XDG_STATE_HOME is ignored, as the XDG Base
// Directory spec requires). It returns "" when neither XDG_STATE_HOME nor
// HOME is usable; the caller should then ask for queue_dir.
func DefaultDir(system bool, getenv func(string) string) string {
	if system {
		return "/var/spool/gsendmail"
	}
	if s := getenv("XDG_STATE_HOME"); s != "" && filepath.IsAbs(s) {
		return filepath.Join(s, "gsendmail", "queue")
	}
	if h := getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "gsendmail", "queue")
	}
	return ""
}

// Open makes sure dir exists (mode 0700, parents too) and is safe to keep
// mail in: a directory, not writable by group or others, and owned by the
// current user (so root never uses a queue another user could fill).
// Errors carry sysexits.CantCreat or sysexits.Config.
func Open(dir string) (*Queue, error) {
	if dir == "" {
		return nil, sysexits.New(sysexits.Config, errors.New("queue: no queue directory; set queue_dir in the account or HOME/XDG_STATE_HOME"))
	}
	abs, err := safeio.PrivateDir("queue directory", dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w; or set queue_dir", err)
	}
	return &Queue{Dir: abs, Now: time.Now}, nil
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func (q *Queue) step(kind, name string) error {
	if q.failStep == nil {
		return nil
	}
	return q.failStep(kind + ":" + name)
}

// idPattern is the only shape of ID the queue creates or accepts; checking
// it keeps user-supplied IDs (mailq, drop) from naming other files.
var idPattern = &lazyre.Regexp{Expr: `^[0-9a-f]{16}-[0-9a-f]{12}$`}

// ValidID reports whether id has the shape of a queue ID.
func ValidID(id string) bool { return idPattern.Get().MatchString(id) }

// newID is 16 hex digits of nanoseconds since 1970 (so IDs sort by creation
// time up to the year 2262) and 48 random bits (so two processes enqueueing
// in the same nanosecond still differ).
func newID(t time.Time) (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%016x-%s", uint64(t.UnixNano()), hex.EncodeToString(r[:])), nil
}

func checkID(id string) error {
	if !ValidID(id) {
		return sysexits.New(sysexits.Usage, fmt.Errorf("queue: %q is not a queue ID; run mailq to list the IDs", id))
	}
	return nil
}

func notQueued(id string, err error) error {
	return sysexits.New(sysexits.NoInput, fmt.Errorf("queue: message %s is not in the queue (%w); run mailq to list queued messages", id, err))
}

func (q *Queue) path(id, suffix string) string { return filepath.Join(q.Dir, id+suffix) }

// Enqueue stores msg with envelope e and returns the new entry's ID. e.ID
// and e.Size are ignored and set here; a zero e.Created becomes now, and a
// zero e.NextAttempt becomes e.LastAttempt (or Created) plus Backoff(e.Attempts)
// when the caller already counts a failed attempt, otherwise now.
//
// When Enqueue returns nil the message and envelope are durable. On any error
// nothing usable is left behind (temporary files and a half pair are
// removed) and the error carries sysexits.TempFail: the message was not
// queued, so the caller must not exit 0 — 75 tells the program that called
// sendmail it still owns the message and should try again later, which is
// what a full disk or an unwritable spool is. An envelope that can never be
// sent (no recipient, CR/LF in an address) is sysexits.DataErr instead.
func (q *Queue) Enqueue(e Entry, msg io.Reader) (string, error) {
	now := q.now()
	if e.Created.IsZero() {
		e.Created = now
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = now
		if e.Attempts > 0 {
			base := e.LastAttempt
			if base.IsZero() {
				base = e.Created
			}
			e.NextAttempt = base.Add(Backoff(e.Attempts))
		}
	}
	e.LastError = oneLine(e.LastError)
	id, err := newID(now)
	if err != nil {
		return "", sysexits.New(sysexits.TempFail, fmt.Errorf("queue: cannot make a queue ID: %w; the message was not queued, try again", err))
	}
	e.ID = id
	e.Size = 0
	if err := validate(e); err != nil {
		return "", sysexits.New(sysexits.DataErr, fmt.Errorf("queue: cannot queue this message: %w; fix the envelope and send again", err))
	}

	fail := func(err error) (string, error) {
		return "", sysexits.New(sysexits.TempFail, fmt.Errorf("queue: cannot save the message in %s: %w; it was NOT queued, free disk space or fix the queue directory and send it again", q.Dir, err))
	}
	var size int64
	err = q.writeAtomic(q.Dir, id+msgSuffix, "msg", func(w io.Writer) (err error) {
		size, err = io.Copy(w, msg)
		return err
	})
	if err != nil {
		// The rename may have happened before a failing directory fsync.
		os.Remove(q.path(id, msgSuffix))
		return fail(err)
	}
	e.Size = size
	if err := q.writeAtomic(q.Dir, id+envSuffix, "env", func(w io.Writer) error {
		b, err := encodeEnvelope(e)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}); err != nil {
		// The .env may have been renamed into place before the failing
		// directory fsync; remove both so no entry exists that the caller
		// was told was not queued (it would be sent twice).
		os.Remove(q.path(id, envSuffix))
		os.Remove(q.path(id, msgSuffix))
		safeio.SyncDir(q.Dir)
		return fail(err)
	}
	return id, nil
}

// List returns the queued entries, oldest first. Along the way it repairs
// what crashes leave: temporary files older than an hour are removed, a .msg
// without .env older than an hour and any entry whose envelope is unreadable
// or whose message is missing or has the wrong size are moved to corrupt/
// with a note. A corrupt entry never makes List fail.
func (q *Queue) List() ([]Entry, error) {
	des, err := os.ReadDir(q.Dir)
	if err != nil {
		return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("queue: cannot read queue directory: %w; check its permissions", err))
	}
	now := q.now()
	envs := map[string]bool{}
	msgs := map[string]fs.DirEntry{}
	for _, de := range des {
		name := de.Name()
		switch {
		case de.IsDir() || name == lockName:
		case safeio.IsTemp(name, ""):
			if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > staleAfter {
				os.Remove(filepath.Join(q.Dir, name))
			}
		case strings.HasSuffix(name, envSuffix) && ValidID(strings.TrimSuffix(name, envSuffix)):
			envs[strings.TrimSuffix(name, envSuffix)] = true
		case strings.HasSuffix(name, msgSuffix) && ValidID(strings.TrimSuffix(name, msgSuffix)):
			msgs[strings.TrimSuffix(name, msgSuffix)] = de
		}
	}
	for id, de := range msgs {
		if envs[id] {
			continue
		}
		if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > staleAfter {
			q.moveCorrupt(id, "message file without envelope: an enqueue was interrupted or a removal was; it was never reported queued or was already sent")
		}
	}
	var out []Entry
	for id := range envs {
		e, err := q.readEnvelope(q.Dir, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir (Done, Drop, another List)
		}
		if errors.Is(err, errUnsupportedVersion) {
			continue // written by a newer gsendmail: leave it for that one
		}
		if err != nil {
			q.moveCorrupt(id, "unreadable envelope: "+err.Error())
			continue
		}
		fi, err := os.Stat(q.path(id, msgSuffix))
		if errors.Is(err, fs.ErrNotExist) {
			if _, ferr := os.Stat(filepath.Join(q.Dir, failedDir, id+msgSuffix)); ferr == nil {
				// Fail moved the message and was interrupted before
				// removing the envelope: finish it.
				os.Remove(q.path(id, envSuffix))
				continue
			}
			if _, eerr := os.Stat(q.path(id, envSuffix)); eerr != nil {
				continue // Done or Drop between our two reads
			}
			q.moveCorrupt(id, "message file missing")
			continue
		}
		if err != nil {
			continue // transient; try again next time
		}
		if fi.Size() != e.Size {
			q.moveCorrupt(id, fmt.Sprintf("message file has %d bytes, envelope says %d", fi.Size(), e.Size))
			continue
		}
		out = append(out, e)
	}
	sortEntries(out)
	return out, nil
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].Created.Equal(es[j].Created) {
			return es[i].Created.Before(es[j].Created)
		}
		return es[i].ID < es[j].ID
	})
}

// ListFailed returns the entries in failed/, oldest first, for mailq.
func (q *Queue) ListFailed() ([]Entry, error) {
	dir := filepath.Join(q.Dir, failedDir)
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: cannot read %s: %w; check its permissions", dir, err)
	}
	var out []Entry
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), envSuffix)
		if !ok || !ValidID(id) {
			continue
		}
		if e, err := q.readEnvelope(dir, id); err == nil {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out, nil
}

func (q *Queue) readEnvelope(dir, id string) (Entry, error) {
	f, err := os.Open(filepath.Join(dir, id+envSuffix))
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEnvBytes+1))
	if err != nil {
		return Entry{}, err
	}
	if len(b) > maxEnvBytes {
		return Entry{}, errors.New("envelope larger than 1 MiB")
	}
	e, err := decodeEnvelope(b)
	if err != nil {
		return Entry{}, err
	}
	if e.ID != id {
		return Entry{}, fmt.Errorf("envelope names ID %q", e.ID)
	}
	return e, nil
}

// moveCorrupt moves id's files to corrupt/ with a note saying why. The
// envelope goes first: once it is gone the entry is no longer listed.
func (q *Queue) moveCorrupt(id, why string) {
	dir := filepath.Join(q.Dir, corruptDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	note := fmt.Sprintf("%s moved here by gsendmail at %s: %s\n", id, q.now().UTC().Format(time.RFC3339), why)
	os.WriteFile(filepath.Join(dir, id+noteSuffix), []byte(note), 0o600)
	envErr := os.Rename(q.path(id, envSuffix), filepath.Join(dir, id+envSuffix))
	if envErr != nil && !errors.Is(envErr, fs.ErrNotExist) {
		return
	}
	os.Rename(q.path(id, msgSuffix), filepath.Join(dir, id+msgSuffix))
	safeio.SyncDir(dir)
	safeio.SyncDir(q.Dir)
}

// Get returns the queued entry id.
func (q *Queue) Get(id string) (Entry, error) {
	if err := checkID(id); err != nil {
		return Entry{}, err
	}
	e, err := q.readEnvelope(q.Dir, id)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, notQueued(id, fs.ErrNotExist)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("queue: cannot read envelope of %s: %w; run mailq to let gsendmail set it aside", id, err)
	}
	return e, nil
}

// OpenMessage opens the message bytes of queued entry id.
func (q *Queue) OpenMessage(id string) (io.ReadCloser, error) {
	return q.openIn(q.Dir, id)
}

// OpenFailedMessage opens the message bytes of entry id in failed/.
func (q *Queue) OpenFailedMessage(id string) (io.ReadCloser, error) {
	return q.openIn(filepath.Join(q.Dir, failedDir), id)
}

func (q *Queue) openIn(dir, id string) (io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, id+msgSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notQueued(id, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: cannot open message %s: %w; check the queue directory's permissions", id, err)
	}
	return f, nil
}

// Done removes entry id after the server accepted it. Call it only after
// acceptance: a crash before Done means the message is sent again
// (at-least-once), a Done before acceptance could lose it.
func (q *Queue) Done(id string) error { return q.remove(id) }

// Drop removes entry id because the user asked for it.
func (q *Queue) Drop(id string) error { return q.remove(id) }

func (q *Queue) remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	// Envelope first: from then on the entry is not listed, and a crash
	// leaves only a .msg that List sets aside.
	if err := os.Remove(q.path(id, envSuffix)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notQueued(id, fs.ErrNotExist)
		}
		return fmt.Errorf("queue: cannot remove %s: %w; check the queue directory's permissions", id, err)
	}
	if err := os.Remove(q.path(id, msgSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: removed the envelope of %s but not its message: %w; delete %s by hand", id, err, q.path(id, msgSuffix))
	}
	return safeio.SyncDir(q.Dir)
}

// Backoff is the wait after the n-th failed attempt: 1m, 2m, 4m, … doubling,
// capped at one hour. n < 1 counts as 1.
func Backoff(n int) time.Duration {
	const first, ceiling = time.Minute, time.Hour
	d := first
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Defer records a failed attempt of entry id: Attempts+1, LastError (one
// line of cause), LastAttempt now and NextAttempt by Backoff. The envelope
// is replaced atomically.
func (q *Queue) Defer(id string, cause error) error {
	e, err := q.Get(id)
	if err != nil {
		return err
	}
	now := q.now()
	e.Attempts++
	if cause != nil {
		e.LastError = oneLine(cause.Error())
	}
	e.LastAttempt = now
	e.NextAttempt = now.Add(Backoff(e.Attempts))
	if err := q.writeEnvelope(q.Dir, e); err != nil {
		return fmt.Errorf("queue: cannot record the failed attempt of %s: %w; it stays queued with its old schedule", id, err)
	}
	return nil
}

func (q *Queue) writeEnvelope(dir string, e Entry) error {
	b, err := encodeEnvelope(e)
	if err != nil {
		return err
	}
	return q.writeAtomic(dir, e.ID+envSuffix, "env", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Fail moves entry id to failed/ with reason as its LastError. Nothing is
// deleted: the user can read, resend or remove it there.
func (q *Queue) Fail(id, reason string) error {
	e, err := q.Get(id)
	if err != nil {
		return err
	}
	dir := filepath.Join(q.Dir, failedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("queue: cannot create %s: %w; check the queue directory's permissions", dir, err)
	}
	e.LastError = oneLine(reason)
	e.Failed = q.now()
	// Order: failed/<id>.env, then the message, then the queued envelope.
	// A crash after the message moved leaves a queued envelope without a
	// message, which List recognises and finishes.
	if err := q.writeEnvelope(dir, e); err != nil {
		return fmt.Errorf("queue: cannot move %s to failed/: %w; it stays queued", id, err)
	}
	if err := os.Rename(q.path(id, msgSuffix), filepath.Join(dir, id+msgSuffix)); err != nil {
		return fmt.Errorf("queue: cannot move %s to failed/: %w; it stays queued", id, err)
	}
	if err := safeio.SyncDir(dir); err != nil {
		return fmt.Errorf("queue: cannot move %s to failed/: %w; check the disk", id, err)
	}
	if err := os.Remove(q.path(id, envSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: moved %s to failed/ but cannot remove its envelope: %w; delete %s by hand", id, err, q.path(id, envSuffix))
	}
	return safeio.SyncDir(q.Dir)
}

// writeAtomic creates dir/name (mode 0600) with content from fill by
// safeio's atomic write, with q.failStep as its fault hook. On error dir/name
// is untouched (or, if the final directory fsync failed, in place but
// possibly not durable; the caller decides).
func (q *Queue) writeAtomic(dir, name, kind string, fill func(io.Writer) error) error {
	return safeio.WriteAtomicOpts(filepath.Join(dir, name), 0o600, safeio.Options{
		Fault: func(step string) error { return q.step(kind, step) },
	}, fill)
}
