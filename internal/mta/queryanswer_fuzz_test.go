package mta

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

const fuzzSocket = "/run/gsendmail/queue.sock"

// maxAnswerError bounds the text of an error the client makes of an
// answer: the ERR text is cut to 1000 bytes, other quotes to 40.
const maxAnswerError = 1200 + len(fuzzSocket)

// checkAnswerError fails unless err is what a user may see of a broken
// or refusing daemon: one line of printable text, bounded, with an exit
// code in sysexits' range.
func checkAnswerError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxAnswerError {
		t.Fatalf("error of %d bytes: %.200q...", len(msg), msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("error %q is not UTF-8", msg)
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			t.Fatalf("error %q holds control character %U", msg, r)
		}
	}
	if c := sysexits.Code(err); c < 64 || c > 78 {
		t.Fatalf("error %q has exit code %d", msg, c)
	}
}

// FuzzQueryAnswer feeds the client arbitrary answers from the daemon, as
// LIST and as DROP answers. Whatever comes, the client does not panic,
// makes of it a bounded one-line error or entries with valid IDs (no more
// than the lines it read), and entries it accepted survive the daemon's
// writer and the client's reader again unchanged; mailq's listing of
// them holds no control character.
func FuzzQueryAnswer(f *testing.F) {
	f.Add([]byte("OK 0\n"))
	f.Add([]byte("ERR 77 nope\n"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		var entries []queue.Entry
		err := readAnswer(bytes.NewReader(answer), fuzzSocket, listAnswer(&entries))
		if err != nil {
			checkAnswerError(t, err)
		} else {
			if n := bytes.Count(answer, []byte("\n")); len(entries) >= n {
				t.Fatalf("%d entries from %d lines", len(entries), n)
			}
			for _, e := range entries {
				if !queue.ValidID(e.ID) {
					t.Fatalf("entry with invalid ID %q", e.ID)
				}
			}
			if again := roundTrip(t, entries); !sameEntries(again, entries) {
				t.Fatalf("entries changed on a second round trip:\n%+v\n%+v", entries, again)
			}
			var out bytes.Buffer
			queue.FormatList(&out, entries, time.Unix(1_700_000_000, 0))
			for _, r := range out.String() {
				if r != '\n' && unicode.IsControl(r) {
					t.Fatalf("mailq output holds control character %U:\n%q", r, out.String())
				}
			}
		}
		const id = "18ea0d5da831100b-9a13bd544ae5"
		err = readAnswer(bytes.NewReader(answer), fuzzSocket, dropAnswer(id))
		if err != nil {
			checkAnswerError(t, err)
		} else if !bytes.Contains(answer, []byte("OK dropped "+id+"\n")) {
			t.Fatalf("drop accepted without its OK line: %q", answer)
		}
	})
}

// roundTrip writes entries as the daemon does (writeEntry, then "OK n")
// and reads them back as the client does.
func roundTrip(t *testing.T, entries []queue.Entry) []queue.Entry {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	n := 0
	for _, e := range entries {
		if err := writeEntry(w, e); err != nil {
			t.Fatalf("the daemon cannot write %+v: %v", e, err)
		}
		n++
	}
	fmt.Fprintf(w, "OK %d\n", n)
	w.Flush()
	var got []queue.Entry
	if err := readAnswer(&buf, fuzzSocket, listAnswer(&got)); err != nil {
		t.Fatalf("the client cannot read what the daemon wrote: %v\n%q", err, buf.String())
	}
	return got
}

// sameEntries compares entries field by field, times by instant.
func sameEntries(a, b []queue.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Created.Equal(y.Created) || !x.NextAttempt.Equal(y.NextAttempt) || !x.Failed.Equal(y.Failed) {
			return false
		}
		x.Created, y.Created, x.NextAttempt, y.NextAttempt, x.Failed, y.Failed = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// FuzzQueryListRoundTrip: an entry the daemon lists reaches the client
// as it was, whatever its text fields hold (JSON carries line breaks and
// control characters escaped, so each entry stays one answer line).
// Text that is not UTF-8 cannot survive JSON unchanged; it must still
// arrive, as UTF-8.
func FuzzQueryListRoundTrip(f *testing.F) {
	f.Add(uint64(0x18ea0d5da831100b), uint64(0x9a13bd544ae5), "work", "me@example.org", "a@example.net", "b@example.net",
		"451 4.3.0 try later", "alice", int64(1234), 2, 1000, true, int64(1_700_000_000_000_000_000), int64(0))
	f.Add(uint64(1), uint64(2), "", "", "", "", "", "", int64(0), 0, 0, false, int64(0), int64(1_700_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, idTime, idRand uint64, account, from, to1, to2, lastErr, user string,
		size int64, attempts, uid int, hasUID bool, created, next int64) {
		e := queue.Entry{
			ID:      fmt.Sprintf("%016x-%012x", idTime, idRand&(1<<48-1)),
			Account: account, From: from, To: []string{to1, to2}, Size: size, Attempts: attempts,
			LastError: lastErr, Created: time.Unix(0, created).UTC(),
		}
		if next != 0 {
			e.NextAttempt = time.Unix(0, next).UTC()
		}
		if hasUID {
			e.Submitter = &queue.Submitter{UID: uid, Name: user}
		}
		if !queue.ValidID(e.ID) {
			t.Fatalf("test made an invalid ID %q", e.ID)
		}
		got := roundTrip(t, []queue.Entry{e})
		if len(got) != 1 {
			t.Fatalf("%d entries back", len(got))
		}
		texts := []string{account, from, to1, to2, lastErr, user}
		for _, s := range texts {
			if !utf8.ValidString(s) {
				for _, g := range []string{got[0].Account, got[0].From, got[0].To[0], got[0].To[1], got[0].LastError} {
					if !utf8.ValidString(g) {
						t.Fatalf("text %q arrived as non-UTF-8 %q", s, g)
					}
				}
				return
			}
		}
		if !sameEntries(got, []queue.Entry{e}) {
			t.Fatalf("sent %+v\ngot  %+v", e, got[0])
		}
	})
}

// The client's errors about a broken answer quote at most a short,
// cleaned piece of it, and say what was wrong (not "<nil>").
func TestBrokenListAnswersGiveBoundedErrorsThatSayWhy(t *testing.T) {
	long := strings.Repeat("\x1b[2J", 20000)
	for _, tc := range []struct {
		name, answer, says string
	}{
		{"a long count", "OK " + long + "\n", "cut short"},
		{"a long unexpected line", long + "\n", "unexpected answer"},
		{"an entry whose ID is no queue ID", `ENTRY {"id":"../x","to":[]}` + "\nOK 1\n", "invalid queue ID"},
		{"an entry that is no JSON", "ENTRY " + long + "\nOK 1\n", "cannot read"},
		{"an ERR line", "ERR 75 " + long + "\n", "[2J"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []queue.Entry
			err := readAnswer(strings.NewReader(tc.answer), fuzzSocket, listAnswer(&entries))
			if err == nil {
				t.Fatal("accepted")
			}
			checkAnswerError(t, err)
			if !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "<nil>") {
				t.Errorf("error %q, want one that says %q", err, tc.says)
			}
		})
	}
}
