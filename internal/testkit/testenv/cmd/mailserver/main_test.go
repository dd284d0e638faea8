package main

import (
	"github.com/gsendmail/gsendmail/internal/sysexits"

	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// lineWriter hands each write of run to the test while run keeps running.
type lineWriter struct{ ch chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	w.ch <- string(p)
	return len(p), nil
}

func TestPrintsSourceableAddressesAndStopsAtEOFOnStdin(t *testing.T) {
	mailserver.Require(t)
	stdinR, stdinW := io.Pipe()
	out := lineWriter{make(chan string, 1)}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-user", "u@example.test", "-password", "pw", "-plain"}, stdinR, out, &stderr, nil)
	}()
	var printed string
	select {
	case printed = <-out.ch:
	case code := <-done:
		t.Fatalf("run exited %d before printing: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("no output within 60s") // hang guard
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(printed))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.ContainsAny(v, " '\"$`\\") {
			t.Fatalf("line %q is not a plain shell assignment", sc.Text())
		}
		env[k] = v
	}
	for _, k := range []string{"SUBMISSION_ADDR", "SMTPS_ADDR", "PLAIN_ADDR", "CA_FILE", "CAPTURE_DIR", "HOSTNAME", "FINGERPRINT"} {
		if env[k] == "" {
			t.Errorf("%s missing from output:\n%s", k, printed)
		}
	}
	c, err := net.DialTimeout("tcp", env["SUBMISSION_ADDR"], 5*time.Second)
	if err != nil {
		t.Fatalf("SUBMISSION_ADDR does not accept connections: %v", err)
	}
	c.Close()

	stdinW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after EOF: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("did not stop within 60s of EOF on stdin") // hang guard
	}
	if _, err := os.Stat(env["CA_FILE"]); !os.IsNotExist(err) {
		t.Errorf("instance files remain after stop: %v", err)
	}
}

func TestRejectsUserWithoutPassword(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-user", "u@example.test"}, strings.NewReader(""), io.Discard, &stderr, nil); code != sysexits.Usage {
		t.Fatalf("exit %d, want %d", code, sysexits.Usage)
	}
	if !strings.Contains(stderr.String(), "-password") {
		t.Errorf("message does not say what to do: %q", stderr.String())
	}
}
