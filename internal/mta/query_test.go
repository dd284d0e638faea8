package mta

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestParseRequestAcceptsOnlyListAndDropOfAQueueID(t *testing.T) {
	const id = "18ea0d5da831100b-9a13bd544ae5"
	for _, tc := range []struct {
		in   string
		want Request
		ok   bool
	}{
		{"LIST", Request{Verb: VerbList}, true},
		{"DROP " + id, Request{Verb: VerbDrop, ID: id}, true},
		{"", Request{}, false},
		{"list", Request{}, false},
		{"LIST ", Request{}, false},
		{"LIST x", Request{}, false},
		{"DROP", Request{}, false},
		{"DROP ", Request{}, false},
		{"DROP  " + id, Request{}, false},
		{"DROP " + id + " ", Request{}, false},
		{"DROP ../" + id, Request{}, false},
		{"DROP 0123456789abcdef0123456789abcdef", Request{}, false}, // a maildrop name: not the daemon's
		{"FLUSH", Request{}, false},
	} {
		got, err := ParseRequest(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("ParseRequest(%q): error %q spans lines", tc.in, err)
		}
	}
}

// countingReader hands out an endless stream of 'A' and counts it.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	r.n += len(p)
	return len(p), nil
}

func TestReadRequestNeverReadsMoreThanMaxRequest(t *testing.T) {
	r := &countingReader{}
	if _, err := ReadRequest(r); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("an endless line: err = %v, want a refusal", err)
	}
	if r.n > MaxRequest {
		t.Errorf("read %d bytes, more than MaxRequest (%d)", r.n, MaxRequest)
	}
	// What follows the request line stays unread.
	br := strings.NewReader("LIST\r\nDROP x\n")
	if req, err := ReadRequest(br); err != nil || req.Verb != VerbList || br.Len() != len("DROP x\n") {
		t.Errorf("ReadRequest = %+v, %v, %d bytes left", req, err, br.Len())
	}
	if _, err := ReadRequest(strings.NewReader("LIST")); err == nil {
		t.Error("a request without its newline was accepted")
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("LIST\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := ReadRequest(r)
		if read := len(in) - r.Len(); read > MaxRequest {
			t.Fatalf("read %d bytes", read)
		}
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans lines", err)
			}
			return
		}
		switch req.Verb {
		case VerbList:
			if req.ID != "" {
				t.Fatalf("LIST with an ID %q", req.ID)
			}
		case VerbDrop:
			if !queue.ValidID(req.ID) {
				t.Fatalf("DROP of invalid ID %q", req.ID)
			}
		default:
			t.Fatalf("unknown verb %q accepted", req.Verb)
		}
		again, err := ParseRequest(req.String())
		if err != nil || again != req {
			t.Fatalf("%+v does not survive String/ParseRequest: %+v, %v", req, again, err)
		}
	})
}

// testQueue makes a queue with one entry per submitter (nil: unknown).
func testQueue(t *testing.T, subs ...*queue.Submitter) (*queue.Queue, []string) {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "q"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, s := range subs {
		id, err := q.Enqueue(queue.Entry{Account: "sys", From: "machine@example.org", To: []string{"ops@example.org"},
			Created: time.Now().Add(time.Duration(i-len(subs)) * time.Minute), LastError: "451 4.3.0 try later", Submitter: s}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return q, ids
}

// startQuery serves q on a socket; asUID, when set, replaces the uid of
// the peer credentials (the test process has one uid; the daemon sees
// many).
func startQuery(t *testing.T, q *queue.Queue, asUID *atomic.Int64, timeout time.Duration) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "queue.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &QueryServer{Queues: func() []*queue.Queue { return []*queue.Queue{q} }, Timeout: timeout}
	if asUID != nil {
		s.PeerOf = func(c net.Conn) serve.Peer {
			p := serve.PeerOf(c)
			p.UID = int(asUID.Load())
			return p
		}
	}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return sock
}

func ids(es []queue.Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return strings.Join(out, " ")
}

func TestQueryListShowsEachUserTheirOwnEntriesAndRootAll(t *testing.T) {
	q, id := testQueue(t, &queue.Submitter{UID: 1000, Name: "alice"}, &queue.Submitter{UID: 1001, Name: "bob"},
		&queue.Submitter{UID: 0, Name: "root"}, nil, &queue.Submitter{UID: 1000, Name: "alice"})
	var uid atomic.Int64
	sock := startQuery(t, q, &uid, 2*time.Second)
	c := QueryClient{Socket: sock}
	for _, tc := range []struct {
		uid  int
		want string
	}{
		{1000, id[0] + " " + id[4]},
		{1001, id[1]},
		{0, strings.Join(id, " ")},
		{4242, ""},
	} {
		uid.Store(int64(tc.uid))
		got, err := c.List(context.Background())
		if err != nil || ids(got) != tc.want {
			t.Errorf("uid %d: List = %q, %v; want %q", tc.uid, ids(got), err, tc.want)
			continue
		}
		for _, e := range got {
			if len(e.To) != 1 || e.Size == 0 || e.LastError == "" || e.Created.IsZero() {
				t.Errorf("uid %d: entry %+v lacks what mailq shows", tc.uid, e)
			}
		}
	}
	uid.Store(1000)
	got, _ := c.List(context.Background())
	if len(got) == 0 || got[0].Submitter == nil || got[0].Submitter.Name != "alice" {
		t.Errorf("the submitter did not travel: %+v", got)
	}
}

func TestQueryDropRemovesOnlyTheCallersOwnEntry(t *testing.T) {
	q, id := testQueue(t, &queue.Submitter{UID: 1000, Name: "alice"}, &queue.Submitter{UID: 1001, Name: "bob"}, nil)
	var uid atomic.Int64
	uid.Store(1000)
	sock := startQuery(t, q, &uid, 2*time.Second)
	c := QueryClient{Socket: sock}
	ctx := context.Background()

	errBob := c.Drop(ctx, id[1])
	errUnknown := c.Drop(ctx, "18ea0d5da831100b-000000000000")
	errOld := c.Drop(ctx, id[2]) // no submitter: root's alone
	for _, err := range []error{errBob, errUnknown, errOld} {
		if sysexits.Code(err) != sysexits.NoPerm || strings.ContainsAny(err.Error(), "\r\n") || !strings.Contains(err.Error(), "nothing was dropped") {
			t.Errorf("drop of someone else's ID: %v (exit %d), want one line with 77", err, sysexits.Code(err))
		}
	}
	// Someone else's ID and an unknown one get the same answer.
	if a, b := strings.ReplaceAll(errBob.Error(), id[1], "ID"), strings.ReplaceAll(errUnknown.Error(), "18ea0d5da831100b-000000000000", "ID"); a != b {
		t.Errorf("another user's ID is told apart from an unknown one:\n%s\n%s", a, b)
	}
	if left, _ := q.List(); ids(left) != strings.Join(id, " ") {
		t.Fatalf("after refused drops the queue holds %q, want all of %q", ids(left), id)
	}
	if err := c.Drop(ctx, id[0]); err != nil {
		t.Fatalf("alice dropping her own: %v", err)
	}
	if left, _ := q.List(); ids(left) != id[1]+" "+id[2] {
		t.Errorf("after alice's drop the queue holds %q", ids(left))
	}
	uid.Store(0)
	if err := c.Drop(ctx, id[2]); err != nil {
		t.Errorf("root dropping an entry without a submitter: %v", err)
	}
}

func TestQueryServerUsesTheKernelsPeerCredentials(t *testing.T) {
	q, _ := testQueue(t, &queue.Submitter{UID: os.Getuid() + 1, Name: "other"}, &queue.Submitter{UID: os.Getuid(), Name: "me"})
	sock := startQuery(t, q, nil, 2*time.Second)
	got, err := QueryClient{Socket: sock}.List(context.Background())
	want := 1
	if os.Getuid() == 0 {
		want = 2
	}
	if err != nil || len(got) != want {
		t.Fatalf("uid %d: List = %d entries, %v; want %d", os.Getuid(), len(got), err, want)
	}
}

func TestQueryServerCutsOffIdleAndOverlongClients(t *testing.T) {
	q, _ := testQueue(t)
	sock := startQuery(t, q, nil, 300*time.Millisecond)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c) // sends nothing
	if err != nil || time.Since(start) > 3*time.Second {
		t.Fatalf("an idle client was held %v (%v)", time.Since(start), err)
	}
	if !strings.HasPrefix(string(b), "ERR 64 ") {
		t.Errorf("idle client got %q", b)
	}

	c2, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	go c2.Write(bytes.Repeat([]byte("A"), 1<<20))
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ERR 64 request longer than") {
		t.Errorf("an overlong request got %q, %v", line, err)
	}
}

func TestQueryClientSaysTheDaemonIsNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "queue.sock")
	_, err := QueryClient{Socket: sock}.List(context.Background())
	if !errors.Is(err, ErrDaemonDown) || sysexits.Code(err) != sysexits.Unavailable {
		t.Fatalf("err = %v (exit %d), want ErrDaemonDown with 69", err, sysexits.Code(err))
	}
	for _, want := range []string{"not running", sock, "systemctl start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestQueryClientShowsTheDaemonsRefusalWithoutControlCharacters(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "queue.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "ERR 77 no \x1b[2J such\n")
		c.Close()
	}()
	err = QueryClient{Socket: sock}.Drop(context.Background(), "18ea0d5da831100b-000000000000")
	if sysexits.Code(err) != sysexits.NoPerm || strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("err = %q (exit %d)", err, sysexits.Code(err))
	}
}
