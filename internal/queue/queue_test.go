package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// clock is a settable fake time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time             { return c.t }
func (c *clock) Advance(d time.Duration)    { c.t = c.t.Add(d) }
func newClock() *clock                      { return &clock{t: t0} }
func entry(from string, to ...string) Entry { return Entry{Account: "work", From: from, To: to} }

func newQueue(t *testing.T) (*Queue, *clock) {
	t.Helper()
	q, err := Open(filepath.Join(t.TempDir(), "state", "queue"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	q.Now = c.Now
	return q, c
}

func enqueue(t *testing.T, q *Queue, e Entry, body string) string {
	t.Helper()
	id, err := q.Enqueue(e, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func readMessage(t *testing.T, q *Queue, id string) string {
	t.Helper()
	rc, err := q.OpenMessage(id)
	if err != nil {
		t.Fatalf("OpenMessage(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want exit code %d", code)
	}
	if got := sysexits.Code(err); got != code {
		t.Fatalf("exit code %d for %q, want %d", got, err, code)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || msg[0] < 'a' || msg[0] > 'z' {
		t.Fatalf("error %q is not one lower-case line", msg)
	}
}

// dirNames lists dir's entries, "" names excluded.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestOpenCreatesPrivateDirectoryWithParents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "queue")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("queue dir mode %v, want drwx------", fi.Mode())
	}
}

func TestOpenRefusesDirectoryOthersCanWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o770, 0o702, 0o777, 0o720} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "q")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			wantCode(t, err, sysexits.Config)
			if !strings.Contains(err.Error(), "chmod 700") {
				t.Fatalf("error %q does not say how to fix it", err)
			}
		})
	}
}

func TestOpenAcceptsDirectoryOthersCanOnlyRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesDirectoryOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "q")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Skipf("chown not permitted here: %v", err)
	}
	_, err := Open(dir)
	wantCode(t, err, sysexits.Config)
}

func TestOpenRefusesFileInPlaceOfDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "q")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil {
		t.Fatal("Open accepted a regular file as queue directory")
	}
}

func TestDefaultDirFollowsXDGStateHome(t *testing.T) {
	tests := []struct {
		name   string
		system bool
		env    map[string]string
		want   string
	}{
		{"system", true, map[string]string{"HOME": "/home/u"}, "/var/spool/gsendmail"},
		{"xdg", false, map[string]string{"XDG_STATE_HOME": "/x/state", "HOME": "/home/u"}, "/x/state/gsendmail/queue"},
		{"home default", false, map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/gsendmail/queue"},
		{"relative xdg ignored", false, map[string]string{"XDG_STATE_HOME": "state", "HOME": "/home/u"}, "/home/u/.local/state/gsendmail/queue"},
		{"nothing", false, map[string]string{}, ""},
		{"relative home", false, map[string]string{"HOME": "u"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DefaultDir(tt.system, func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Fatalf("DefaultDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnvelopeSurvivesOddAddressesVerbatim(t *testing.T) {
	tests := []struct {
		name string
		from string
		to   []string
	}{
		{"plain", "alice@example.org", []string{"bob@example.org"}},
		{"null sender", "", []string{"postmaster@example.org"}},
		{"angle brackets kept literally", "<>", []string{"<bob@example.org>"}},
		{"spaces and quotes", `"alice smith"@example.org`, []string{`"bob  jones"@example.org`, "carol o'hara@example.org"}},
		{"shell metacharacters", "a$(rm -rf ~)`id`;|&>@example.org", []string{"b*?[x]{y}\\z!#@example.org", "-oQ/tmp/x@example.org"}},
		{"unicode", "jörg@bücher.example", []string{"用户@例子.广告", "δοκιμή@παράδειγμα.δοκιμή"}},
		{"many recipients", "a@example.org", []string{"1@x.example", "2@x.example", "3@x.example", "4@x.example", "5@x.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t)
			in := Entry{
				Account: "acc ount", ConfigPath: "/etc/gsendmail dir/x.toml",
				From: tt.from, To: tt.to, DSNNotify: "SUCCESS,FAILURE", DSNReturn: "HDRS",
				EnvID: "QQ314159+2B", EightBit: true, UTF8: true,
			}
			body := "Subject: x\r\n\r\nbody " + tt.name + "\r\n"
			id := enqueue(t, q, in, body)
			got, err := q.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			in.ID, in.Size, in.Created, in.NextAttempt = id, int64(len(body)), t0, t0
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("round trip changed the entry:\n got %#v\nwant %#v", got, in)
			}
			if m := readMessage(t, q, id); m != body {
				t.Fatalf("message %q, want %q", m, body)
			}
			list, err := q.List()
			if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], in) {
				t.Fatalf("List = %v, %v; want the one entry", list, err)
			}
		})
	}
}

func TestQueueFilesArePrivate(t *testing.T) {
	q, _ := newQueue(t)
	id := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
	if err := q.Defer(id, errors.New("421 try later")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{id + ".env", id + ".msg"} {
		fi, err := os.Stat(filepath.Join(q.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", name, fi.Mode())
		}
	}
	if err := q.Fail(id, "550 no"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(q.Dir, "failed"), filepath.Join(q.Dir, "failed", id+".env"), filepath.Join(q.Dir, "failed", id+".msg")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, fi.Mode())
		}
	}
}

func TestEnqueueRefusesEnvelopeThatCannotBeSent(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"no recipients", entry("a@example.org")},
		{"empty recipient", entry("a@example.org", "")},
		{"CRLF in sender", entry("a@example.org\r\nRCPT TO:<evil@example.org>", "b@example.org")},
		{"LF in recipient", entry("a@example.org", "b@example.org\nDATA")},
		{"NUL in recipient", entry("a@example.org", "b\x00@example.org")},
		{"invalid UTF-8", entry("a\xff@example.org", "b@example.org")},
		{"bad NOTIFY", Entry{From: "a@x.example", To: []string{"b@x.example"}, DSNNotify: "ALWAYS"}},
		{"bad RET", Entry{From: "a@x.example", To: []string{"b@x.example"}, DSNReturn: "BODY"}},
		{"ENVID with space", Entry{From: "a@x.example", To: []string{"b@x.example"}, EnvID: "a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t)
			_, err := q.Enqueue(tt.e, strings.NewReader("x"))
			wantCode(t, err, sysexits.DataErr)
			if names := dirNames(t, q.Dir); len(names) != 0 {
				t.Fatalf("refused enqueue left %v", names)
			}
		})
	}
}

func TestListIsOldestFirst(t *testing.T) {
	q, c := newQueue(t)
	var want []string
	for i := range 5 {
		want = append(want, enqueue(t, q, entry("a@example.org", fmt.Sprintf("r%d@example.org", i)), "x"))
		c.Advance(time.Second)
	}
	// An entry created earlier but enqueued later (the caller set Created)
	// still sorts by creation.
	e := entry("a@example.org", "early@example.org")
	e.Created = t0.Add(-time.Hour)
	want = append([]string{enqueue(t, q, e, "x")}, want...)
	list, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); !slices.Equal(got, want) {
		t.Fatalf("List order %v, want %v", got, want)
	}
}

func TestIDsSortByCreationTime(t *testing.T) {
	var prev string
	for i := range 100 {
		id, err := newID(t0.Add(time.Duration(i) * time.Nanosecond))
		if err != nil {
			t.Fatal(err)
		}
		if !ValidID(id) {
			t.Fatalf("newID made invalid ID %q", id)
		}
		if id <= prev {
			t.Fatalf("ID %q does not sort after %q", id, prev)
		}
		prev = id
	}
	a, _ := newID(t0)
	b, _ := newID(t0)
	if a == b {
		t.Fatalf("two IDs in the same nanosecond are equal: %s", a)
	}
}

func TestDoneAndDropRemoveOnlyTheirEntry(t *testing.T) {
	for _, op := range []string{"Done", "Drop"} {
		t.Run(op, func(t *testing.T) {
			q, _ := newQueue(t)
			keep := enqueue(t, q, entry("a@example.org", "b@example.org"), "keep")
			gone := enqueue(t, q, entry("a@example.org", "c@example.org"), "gone")
			remove := q.Done
			if op == "Drop" {
				remove = q.Drop
			}
			if err := remove(gone); err != nil {
				t.Fatal(err)
			}
			list, _ := q.List()
			if got := ids(list); !slices.Equal(got, []string{keep}) {
				t.Fatalf("after %s List = %v, want [%s]", op, got, keep)
			}
			if names := dirNames(t, q.Dir); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, gone) }) {
				t.Fatalf("%s left files of the entry: %v", op, names)
			}
			wantCode(t, remove(gone), sysexits.NoInput)
		})
	}
}

func TestUserSuppliedIDCannotNameOtherFiles(t *testing.T) {
	q, _ := newQueue(t)
	for _, id := range []string{"", "../../etc/passwd", "x", ".lock", "0000000000000000-000000000000/../x"} {
		wantCode(t, q.Drop(id), sysexits.Usage)
		_, err := q.Get(id)
		wantCode(t, err, sysexits.Usage)
		_, err = q.OpenMessage(id)
		wantCode(t, err, sysexits.Usage)
	}
}

func TestBackoffDoublesFromOneMinuteUpToOneHour(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{0, time.Minute}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute},
		{4, 8 * time.Minute}, {5, 16 * time.Minute}, {6, 32 * time.Minute},
		{7, time.Hour}, {8, time.Hour}, {100, time.Hour}, {1 << 30, time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempts); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func TestDeferRecordsAttemptAndSchedulesRetry(t *testing.T) {
	q, c := newQueue(t)
	id := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
	for n := 1; n <= 8; n++ {
		c.Advance(3 * time.Minute)
		if err := q.Defer(id, fmt.Errorf("attempt %d:\r\n421 4.7.0 try\tlater", n)); err != nil {
			t.Fatal(err)
		}
		e, err := q.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Attempts != n || !e.LastAttempt.Equal(c.t) || !e.NextAttempt.Equal(c.t.Add(Backoff(n))) {
			t.Fatalf("after defer %d: attempts %d last %v next %v", n, e.Attempts, e.LastAttempt, e.NextAttempt)
		}
		if want := fmt.Sprintf("attempt %d: 421 4.7.0 try later", n); e.LastError != want {
			t.Fatalf("LastError %q, want %q", e.LastError, want)
		}
	}
	if m := readMessage(t, q, id); m != "x" {
		t.Fatalf("Defer changed the message to %q", m)
	}
}

func TestEnqueueAfterCountedAttemptSchedulesFirstRetry(t *testing.T) {
	q, _ := newQueue(t)
	e := entry("a@example.org", "b@example.org")
	e.Attempts, e.LastAttempt, e.LastError = 1, t0, "dial tcp: connection refused"
	id := enqueue(t, q, e, "x")
	got, _ := q.Get(id)
	if want := t0.Add(time.Minute); !got.NextAttempt.Equal(want) {
		t.Fatalf("NextAttempt %v, want %v", got.NextAttempt, want)
	}
	fresh := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
	if got, _ := q.Get(fresh); !got.NextAttempt.Equal(t0) {
		t.Fatalf("entry without attempts is due at %v, want now (%v)", got.NextAttempt, t0)
	}
}

func TestFailMovesEntryToFailedWithReason(t *testing.T) {
	q, c := newQueue(t)
	id := enqueue(t, q, entry("a@example.org", "b@example.org"), "body")
	c.Advance(time.Minute)
	if err := q.Fail(id, "550 5.1.1 no such user\r\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Fatalf("failed entry still listed: %v", ids(list))
	}
	failed, err := q.ListFailed()
	if err != nil || len(failed) != 1 {
		t.Fatalf("ListFailed = %v, %v", failed, err)
	}
	if f := failed[0]; f.ID != id || f.LastError != "550 5.1.1 no such user second line" || !f.Failed.Equal(c.t) {
		t.Fatalf("failed entry %+v", f)
	}
	rc, err := q.OpenFailedMessage(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "body" {
		t.Fatalf("failed message %q", b)
	}
}

func TestListFinishesFailInterruptedAfterMovingMessage(t *testing.T) {
	q, _ := newQueue(t)
	id := enqueue(t, q, entry("a@example.org", "b@example.org"), "body")
	// Simulate Fail stopped after its second step.
	os.MkdirAll(filepath.Join(q.Dir, "failed"), 0o700)
	e, _ := q.Get(id)
	if err := q.writeEnvelope(filepath.Join(q.Dir, "failed"), e); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q.path(id, ".msg"), filepath.Join(q.Dir, "failed", id+".msg")); err != nil {
		t.Fatal(err)
	}
	if list, _ := q.List(); len(list) != 0 {
		t.Fatalf("List = %v, want none", ids(list))
	}
	if names := dirNames(t, filepath.Join(q.Dir, "corrupt")); len(names) != 0 {
		t.Fatalf("half-failed entry was treated as corrupt: %v", names)
	}
	if failed, _ := q.ListFailed(); len(failed) != 1 {
		t.Fatalf("ListFailed = %v, want the entry", failed)
	}
}

func TestListSetsAsideWhatItCannotUse(t *testing.T) {
	const oldID, newID2 = "0000000000000001-aaaaaaaaaaaa", "0000000000000002-bbbbbbbbbbbb"
	tests := []struct {
		name        string
		setup       func(t *testing.T, q *Queue) string // returns the id to look for
		wantCorrupt bool
		wantGone    bool // no files of the id left in the queue dir
	}{
		{"garbage envelope", func(t *testing.T, q *Queue) string {
			id := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
			os.WriteFile(q.path(id, ".env"), []byte("{not json"), 0o600)
			return id
		}, true, true},
		{"envelope naming another id", func(t *testing.T, q *Queue) string {
			id := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
			b, _ := os.ReadFile(q.path(id, ".env"))
			os.WriteFile(q.path(id, ".env"), bytes.Replace(b, []byte(id), []byte(oldID), 1), 0o600)
			return id
		}, true, true},
		{"message missing", func(t *testing.T, q *Queue) string {
			id := enqueue(t, q, entry("a@example.org", "b@example.org"), "x")
			os.Remove(q.path(id, ".msg"))
			return id
		}, true, true},
		{"message truncated", func(t *testing.T, q *Queue) string {
			id := enqueue(t, q, entry("a@example.org", "b@example.org"), "hello")
			os.WriteFile(q.path(id, ".msg"), []byte("hel"), 0o600)
			return id
		}, true, true},
		{"old message without envelope", func(t *testing.T, q *Queue) string {
			p := q.path(oldID, ".msg")
			os.WriteFile(p, []byte("x"), 0o600)
			old := time.Now().Add(-2 * time.Hour)
			os.Chtimes(p, old, old)
			return oldID
		}, true, true},
		{"fresh message without envelope (enqueue in progress)", func(t *testing.T, q *Queue) string {
			os.WriteFile(q.path(newID2, ".msg"), []byte("x"), 0o600)
			return newID2
		}, false, false},
		{"stale temporary file", func(t *testing.T, q *Queue) string {
			p := filepath.Join(q.Dir, ".tmp-"+oldID+".msg-123")
			os.WriteFile(p, []byte("x"), 0o600)
			old := time.Now().Add(-2 * time.Hour)
			os.Chtimes(p, old, old)
			return oldID
		}, false, true},
		{"fresh temporary file", func(t *testing.T, q *Queue) string {
			os.WriteFile(filepath.Join(q.Dir, ".tmp-"+newID2+".msg-123"), []byte("x"), 0o600)
			return newID2
		}, false, false},
		{"envelope from a newer version", func(t *testing.T, q *Queue) string {
			os.WriteFile(q.path(newID2, ".env"), []byte(`{"v":2,"id":"`+newID2+`"}`), 0o600)
			os.WriteFile(q.path(newID2, ".msg"), []byte("x"), 0o600)
			return newID2
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newQueue(t)
			q.Now = time.Now // file ages are real mtimes here
			good := enqueue(t, q, entry("a@example.org", "good@example.org"), "good")
			id := tt.setup(t, q)
			list, err := q.List()
			if err != nil {
				t.Fatalf("List failed on a corrupt entry: %v", err)
			}
			if got := ids(list); !slices.Equal(got, []string{good}) {
				t.Fatalf("List = %v, want only the good entry %s", got, good)
			}
			corrupt := dirNames(t, filepath.Join(q.Dir, "corrupt"))
			if got := slices.Contains(corrupt, id+".note"); got != tt.wantCorrupt {
				t.Fatalf("note for %s in corrupt/: %v, want %v (corrupt/ = %v)", id, got, tt.wantCorrupt, corrupt)
			}
			if tt.wantCorrupt {
				note, _ := os.ReadFile(filepath.Join(q.Dir, "corrupt", id+".note"))
				if !strings.Contains(string(note), id) || len(note) < 40 {
					t.Fatalf("note does not explain: %q", note)
				}
			}
			left := slices.ContainsFunc(dirNames(t, q.Dir), func(n string) bool { return strings.Contains(n, id) })
			if left == tt.wantGone {
				t.Fatalf("files of %s left in queue dir: %v, want %v (%v)", id, left, !tt.wantGone, dirNames(t, q.Dir))
			}
		})
	}
}

func TestLockExcludesSecondHolderUntilReleased(t *testing.T) {
	q, _ := newQueue(t)
	unlock, ok, err := q.TryLock()
	if err != nil || !ok {
		t.Fatalf("first TryLock = %v, %v", ok, err)
	}
	other, _ := Open(q.Dir)
	if _, ok, err := other.TryLock(); err != nil || ok {
		t.Fatalf("second TryLock while held = %v, %v; want false, nil", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := other.Lock(ctx); err == nil {
		t.Fatal("Lock with a done context succeeded while the lock was held")
	}
	unlock()
	u2, err := other.Lock(context.Background())
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	u2()
}

func TestEnqueueFailingAtAnyStepLeavesNothingBehind(t *testing.T) {
	var steps []string
	for _, kind := range []string{"msg", "env"} {
		for _, s := range safeio.Steps {
			steps = append(steps, kind+":"+s)
		}
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			q, _ := newQueue(t)
			hit := false
			q.failStep = func(s string) error {
				if s == step {
					hit = true
					return &os.PathError{Op: "write", Path: q.Dir, Err: syscall.ENOSPC}
				}
				return nil
			}
			_, err := q.Enqueue(entry("a@example.org", "b@example.org"), strings.NewReader("Subject: hi\r\n\r\nbody\r\n"))
			if !hit {
				t.Fatalf("step %s never ran", step)
			}
			wantCode(t, err, sysexits.TempFail)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("error %v does not wrap ENOSPC", err)
			}
			if !strings.Contains(err.Error(), "NOT queued") {
				t.Fatalf("error %q does not say the message was not queued", err)
			}
			if list, err := q.List(); err != nil || len(list) != 0 {
				t.Fatalf("List after failed enqueue = %v, %v", ids(list), err)
			}
			if names := dirNames(t, q.Dir); len(names) != 0 {
				t.Fatalf("failed enqueue left files: %v", names)
			}
			// The queue still works once the disk has room again.
			q.failStep = nil
			id := enqueue(t, q, entry("a@example.org", "b@example.org"), "again")
			if m := readMessage(t, q, id); m != "again" {
				t.Fatalf("message %q", m)
			}
		})
	}
}

func TestEnqueueOnFullFileSystemLeavesNothingBehind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the failStep test covers every step", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	q, err := Open(filepath.Join(mnt, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	small := enqueue(t, q, entry("a@example.org", "b@example.org"), "fits")
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	_, err = q.Enqueue(entry("a@example.org", "c@example.org"), bytes.NewReader(big))
	wantCode(t, err, sysexits.TempFail)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v is not ENOSPC", err)
	}
	list, err := q.List()
	if err != nil || !slices.Equal(ids(list), []string{small}) {
		t.Fatalf("List = %v, %v; want only %s", ids(list), err, small)
	}
	for _, n := range dirNames(t, q.Dir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Fatalf("temporary file %s left on the full disk", n)
		}
	}
}
