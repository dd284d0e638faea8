package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// TestSystemDaemonRecordsSubmittersAndAnswersTheQuerySocketBesideItsOwn
// runs "gsendmail serve" with a [system] table whose daemon user is the
// test's own, the upstream unreachable and queue = true: a message handed
// over the Unix socket and one picked up from the maildrop are queued
// with the submitting uid, and the query socket the daemon opens beside
// its submission socket lists and drops them for that uid.
func TestSystemDaemonRecordsSubmittersAndAnswersTheQuerySocketBesideItsOwn(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gsendmail.toml")
	qdir := filepath.Join(dir, "queue")
	drop := filepath.Join(dir, "maildrop")
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[account.sys]
host = "127.0.0.1"
port = 1
tls = "none"
from = "machine@example.org"
queue = true
queue_dir = %q

[system]
account = "sys"
daemon_user = %q
`, qdir, me.Username)), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"HOME": dir, envMaildrop: drop}[k] }
	// The sockets get a short directory of their own: a sun_path holds
	// 108 bytes, and t.TempDir under a long TMPDIR (CI's unprivileged run)
	// with this test's name passes that.
	sockDir, err := os.MkdirTemp("", "gsq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "submit.sock")
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: getenv}, "gsendmail", []string{"-C", cfg, "serve", "--listen", sock})
	}()
	t.Cleanup(func() { cancel(); <-done })
	qsock := filepath.Join(sockDir, mta.QuerySocketName)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", qsock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no query socket beside %s within 10s; serve said: %s", sock, stderr.String())
		}
	}

	write := func(w io.Writer) error { _, err := io.WriteString(w, "Subject: s\n\nbody\n"); return err }
	if _, err := (mta.Handoff{Socket: sock, Wait: 5 * time.Second}).Submit(ctx, smtp.Envelope{To: []string{"ops@example.org"}}, write); err != nil {
		t.Fatalf("handoff with the upstream down and queue = true: %v", err)
	}
	if _, err := mta.Drop(drop, smtp.Envelope{To: []string{"late@example.org"}}, write); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: getenv}, "gsendmail", []string{"-C", cfg, "pickup"}); err != nil {
		t.Fatalf("pickup: %v", err)
	}

	q, err := queue.Open(qdir)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := q.List()
	if len(stored) != 2 {
		t.Fatalf("queue holds %d entries, want the handed-off and the picked-up message", len(stored))
	}
	for _, e := range stored {
		if e.Submitter == nil || e.Submitter.UID != os.Getuid() || e.Submitter.Name != me.Username {
			t.Errorf("entry to %v: submitter %+v, want uid %d (%s)", e.To, e.Submitter, os.Getuid(), me.Username)
		}
	}
	c := mta.QueryClient{Socket: qsock}
	listed, err := c.List(ctx)
	if err != nil || len(listed) != 2 {
		t.Fatalf("query List = %d entries, %v; want both", len(listed), err)
	}
	if err := c.Drop(ctx, listed[0].ID); err != nil {
		t.Fatalf("dropping our own entry through the daemon: %v", err)
	}
	if left, _ := q.List(); len(left) != 1 || left[0].ID == listed[0].ID {
		t.Errorf("after the drop the queue holds %v", left)
	}
}

// syncBuffer collects what the daemon goroutine writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
