package testbin

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func sh(script string, env []string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = env
	return cmd
}

func TestExecGivesStdinAndReturnsOutputsAndExitCode(t *testing.T) {
	r := Exec(t, sh(`read line; echo "out:$line"; echo "err:$X" >&2; exit 3`, []string{"X=42"}), strings.NewReader("hello\n"))
	if r.Code != 3 || r.Stdout != "out:hello\n" || r.Stderr != "err:42\n" {
		t.Errorf("got %s", r)
	}
	if r := Exec(t, sh("true", nil), nil); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("true: %s", r)
	}
}

func TestACodeOfMinusOneMeansASignalEndedTheProgram(t *testing.T) {
	if r := Exec(t, sh("kill -KILL $$", nil), nil); r.Code != -1 {
		t.Errorf("a program killed by SIGKILL: %s, want exit -1", r)
	}
}

func TestEnvironDropsPrefixesAndLaterEntriesWin(t *testing.T) {
	t.Setenv("TESTBIN_DROP_ME", "x")
	t.Setenv("TESTBIN_KEEP", "kept")
	env := Environ([]string{"TESTBIN_DROP"}, "TESTBIN_KEEP=mine")
	if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TESTBIN_DROP_ME=") }) {
		t.Error("a dropped prefix is still in the environment")
	}
	r := Exec(t, sh(`echo "$TESTBIN_KEEP"`, env), nil)
	if r.Stdout != "mine\n" {
		t.Errorf("TESTBIN_KEEP is %q, want the entry set last", r.Stdout)
	}
}

func TestStartShowsOutputWhileTheProgramRuns(t *testing.T) {
	p := Start(t, sh(`echo ready >&2; read x; echo "got $x"`, nil), strings.NewReader(""))
	deadline := time.Now().Add(10 * time.Second)
	for p.Stderr() != "ready\n" {
		if time.Now().After(deadline) {
			t.Fatalf("stderr %q while running, want %q", p.Stderr(), "ready\n")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := p.Wait(0); r.Code != 0 || r.Stdout != "got \n" {
		t.Errorf("got %s", r)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is open after Wait returned")
	}
}

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestWaitKillsAProgramThatOutlivesItsLimitAndFailsTheTest(t *testing.T) {
	f := &fatalTB{TB: t}
	var p *Proc
	done := make(chan struct{})
	go func() {
		defer close(done)
		p = Start(f, sh("echo started; exec sleep 60", nil), nil)
		for p.Stdout() == "" {
			time.Sleep(5 * time.Millisecond)
		}
		p.Wait(50 * time.Millisecond)
		t.Error("Wait returned for a program that did not finish in time")
	}()
	<-done
	if !strings.Contains(f.msg, "did not finish within 50ms") || !strings.Contains(f.msg, "started") {
		t.Errorf("the failure says %q, want the limit and what the program wrote", f.msg)
	}
	select {
	case <-p.Done():
	default:
		t.Error("the program still runs after its limit")
	}
	if r := p.result(); r.Code != -1 {
		t.Errorf("the program ended with exit %d, want -1 (killed)", r.Code)
	}
}
