package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The helper process is this test binary re-executed with
// GSENDMAIL_QUEUE_HELPER set; it works on a queue until it is killed (or,
// in mode "drain", until the queue is empty) and reports on stdout.
const (
	envHelper = "GSENDMAIL_QUEUE_HELPER"
	envDir    = "GSENDMAIL_QUEUE_DIR"
	envLog    = "GSENDMAIL_QUEUE_LOG"
	envSeq    = "GSENDMAIL_QUEUE_SEQ"
)

// bodyFor is the message for sequence number seq; its size varies so kills
// land in writes of different lengths.
func bodyFor(seq int) string {
	return fmt.Sprintf("Subject: seq %d\r\n\r\n", seq) + strings.Repeat("a line of the kill test message body\r\n", seq%400)
}

func seqOf(e Entry) (int, bool) {
	s, ok := strings.CutPrefix(e.From, "seq-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "@example.org")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// logSender "accepts" a message by appending "accepted <id>" to an
// append-only log and fsyncing it: a stand-in for a server's 250 after DATA.
type logSender struct {
	f     *os.File
	mu    sync.Mutex
	delay time.Duration
}

func openLogSender(path string) (*logSender, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &logSender{f: f}, nil
}

func (s *logSender) Open(context.Context, string) (Conn, error) { return s, nil }
func (s *logSender) Reset(context.Context) error                { return nil }
func (s *logSender) Close() error                               { return nil }

func (s *logSender) Send(_ context.Context, e Entry, msg io.Reader) error {
	b, err := io.ReadAll(msg)
	if err != nil {
		return err
	}
	seq, ok := seqOf(e)
	if !ok || string(b) != bodyFor(seq) {
		return fmt.Errorf("queue handed over a wrong message for %s (%d bytes)", e.ID, len(b))
	}
	// Every third message fails temporarily on its first attempt, so kills
	// also land in Defer's envelope rewrite.
	if e.Attempts == 0 && seq%3 == 0 {
		return sysexits.New(sysexits.TempFail, errors.New("451 4.3.0 try again"))
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.f, "accepted %s\n", e.ID); err != nil {
		return err
	}
	return s.f.Sync()
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for the crash and multi-process tests")
	}
	os.Exit(helperMain(mode))
}

func helperMain(mode string) int {
	q, err := Open(os.Getenv(envDir))
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	s, err := openLogSender(os.Getenv(envLog))
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	seq, _ := strconv.Atoi(os.Getenv(envSeq))
	enqueueOne := func() bool {
		e := Entry{Account: []string{"work", "home"}[seq%2], From: fmt.Sprintf("seq-%d@example.org", seq), To: []string{"rcpt@example.org"}}
		id, err := q.Enqueue(e, strings.NewReader(bodyFor(seq)))
		if err != nil {
			fmt.Printf("error %v\n", err)
			return false
		}
		// Only now may the caller forget the message.
		fmt.Printf("enqueued %s\n", id)
		seq++
		return true
	}
	flush := func() bool {
		if _, err := q.Flush(context.Background(), s, FlushOptions{Force: true}); err != nil {
			fmt.Printf("error %v\n", err)
			return false
		}
		return true
	}
	fmt.Println("ready")
	switch mode {
	case "enqueue":
		for range 100000 {
			if !enqueueOne() {
				return 1
			}
		}
	case "flush":
		for range 100000 {
			for range 3 {
				if !enqueueOne() {
					return 1
				}
			}
			if !flush() {
				return 1
			}
		}
	case "drain":
		s.delay = time.Millisecond
		for {
			list, err := q.List()
			if err != nil {
				fmt.Printf("error %v\n", err)
				return 1
			}
			if len(list) == 0 {
				return 0
			}
			if !flush() {
				return 1
			}
		}
	}
	return 0
}

// helper starts the helper process and returns its stdout lines through
// lines (closed at EOF) after it printed "ready".
func startHelper(t *testing.T, mode, dir, log string, seq int) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envDir+"="+dir, envLog+"="+log, envSeq+"="+strconv.Itoa(seq))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1<<16)
	ready := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first && sc.Text() == "ready" {
				close(ready)
				first = false
				continue
			}
			lines <- sc.Text()
		}
		if first {
			close(ready)
		}
	}()
	<-ready
	return cmd, lines
}

func readAccepted(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if id, ok := strings.CutPrefix(line, "accepted "); ok {
			n[id]++
		}
	}
	return n
}

// checkQueue verifies every listed entry is whole and returns their IDs.
func checkQueue(t *testing.T, q *Queue) map[string]bool {
	t.Helper()
	list, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range list {
		seq, ok := seqOf(e)
		if !ok {
			t.Errorf("listed entry %s has a sender the helper never used: %q", e.ID, e.From)
			continue
		}
		rc, err := q.OpenMessage(e.ID)
		if err != nil {
			t.Errorf("listed entry %s has no message: %v", e.ID, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != bodyFor(seq) || int64(len(b)) != e.Size {
			t.Errorf("listed entry %s is half written: %d bytes, size %d, want %d", e.ID, len(b), e.Size, len(bodyFor(seq)))
		}
		out[e.ID] = true
	}
	if names := dirNames(t, filepath.Join(q.Dir, "corrupt")); len(names) != 0 {
		t.Errorf("a kill produced corrupt entries: %v", names)
	}
	return out
}

func TestKillDuringEnqueueAndFlushLosesNothing(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 20
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("random seed %d", seed)
	base := t.TempDir()
	flushDir := filepath.Join(base, "flushq")
	acceptLog := filepath.Join(base, "accepted.log")
	fq, err := Open(flushDir)
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]bool{} // every ID a child said was enqueued (flush mode)
	lost, seq, enqueuedTotal := 0, 0, 0
	for run := range runs {
		mode, dir := "flush", flushDir
		if run%2 == 0 {
			mode, dir = "enqueue", filepath.Join(base, fmt.Sprintf("enq%d", run))
		}
		cmd, lines := startHelper(t, mode, dir, acceptLog, seq)
		time.Sleep(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))
		cmd.Process.Kill()
		// Read everything before Wait, which closes the pipe.
		var ids []string
		for line := range lines {
			if id, ok := strings.CutPrefix(line, "enqueued "); ok {
				ids = append(ids, id)
				continue
			}
			t.Errorf("run %d (%s): helper said %q", run, mode, line)
		}
		cmd.Wait()
		seq += 100000
		enqueuedTotal += len(ids)
		q, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		queued := checkQueue(t, q)
		accepted := readAccepted(t, acceptLog)
		for _, id := range ids {
			if mode == "flush" {
				reported[id] = true
			}
			if !queued[id] && accepted[id] == 0 {
				lost++
				t.Errorf("run %d (%s): %s was reported enqueued but is neither queued nor accepted", run, mode, id)
			}
		}
	}
	// Deliver what the flush-mode kills left behind, then count.
	s, err := openLogSender(acceptLog)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: the first pass defers the seq%3 messages
		if _, err := fq.Flush(context.Background(), s, FlushOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if left := checkQueue(t, fq); len(left) != 0 {
		t.Errorf("final flush left %d entries", len(left))
	}
	accepted := readAccepted(t, acceptLog)
	dups := 0
	for id, n := range accepted {
		if n > 1 {
			dups++
			t.Logf("%s accepted %d times (killed between acceptance and removal)", id, n)
		}
	}
	for id := range reported {
		if accepted[id] == 0 {
			lost++
			t.Errorf("%s was reported enqueued but never accepted", id)
		}
	}
	fmt.Printf("kill test: runs=%d lost=%d duplicated=%d (reported enqueued: %d, of them in flush mode: %d)\n", runs, lost, dups, enqueuedTotal, len(reported))
}

func TestConcurrentFlushProcessesNeverSendTheSameMessage(t *testing.T) {
	base := t.TempDir()
	q, err := Open(filepath.Join(base, "q"))
	if err != nil {
		t.Fatal(err)
	}
	const messages = 60
	want := map[string]bool{}
	for seq := 1; seq <= messages; seq++ {
		// seq%3 != 0 for all so no message is deferred past the drain.
		seq := seq*3 + 1
		e := Entry{Account: []string{"work", "home"}[seq%2], From: fmt.Sprintf("seq-%d@example.org", seq), To: []string{"r@example.org"}}
		id, err := q.Enqueue(e, strings.NewReader(bodyFor(seq)))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	log := filepath.Join(base, "accepted.log")
	var cmds []*exec.Cmd
	var outs []<-chan string
	for range 4 {
		cmd, lines := startHelper(t, "drain", q.Dir, log, 0)
		cmds = append(cmds, cmd)
		outs = append(outs, lines)
	}
	for i, cmd := range cmds {
		for line := range outs[i] {
			t.Errorf("helper %d said %q", i, line)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v", i, err)
		}
	}
	accepted := readAccepted(t, log)
	for id := range want {
		if accepted[id] != 1 {
			t.Errorf("%s accepted %d times, want exactly once", id, accepted[id])
		}
	}
	if len(accepted) != len(want) {
		t.Errorf("accepted %d distinct messages, enqueued %d", len(accepted), len(want))
	}
}
