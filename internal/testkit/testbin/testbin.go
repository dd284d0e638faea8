// Package testbin gives end-to-end tests the gsendmail binary: the one
// named by $GSENDMAIL_BIN (make test builds it first) or one built once per
// test process from this checkout. It is also the one way the tests run it,
// or any program they drive (git, mutt, a namespace wrapper): Command and
// Environ build the command line and environment, Exec runs it to the end
// and Start leaves it running (a daemon, a process to kill), both capturing
// stdout, stderr and the exit code under a hang guard. Tests only.
package testbin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	once  sync.Once
	built string
	err   error
)

// Path returns the absolute path of a gsendmail binary built from this
// checkout.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GSENDMAIL_BIN"); p != "" {
		return p
	}
	once.Do(func() {
		dir, e := os.MkdirTemp("", "gsendmail-bin-")
		if e != nil {
			err = e
			return
		}
		built = filepath.Join(dir, "gsendmail")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/gsendmail")
		cmd.Dir = ModuleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, e := cmd.CombinedOutput(); e != nil {
			err = &buildError{string(out), e}
		}
	})
	if err != nil {
		t.Fatalf("building gsendmail: %v", err)
	}
	return built
}

type buildError struct {
	out string
	err error
}

func (b *buildError) Error() string { return b.err.Error() + ": " + b.out }

// ModuleRoot is the repository root (where go.mod is).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Result is what one run of a program produced. Code is -1 when a signal
// ended it.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// DefaultTimeout bounds a run whose caller gave no limit. It is a hang
// guard, not an assertion: a run that takes longer is killed and fails
// its test.
const DefaultTimeout = 2 * time.Minute

// Run executes gsendmail with the configuration file cfg ($GSENDMAIL_CONFIG),
// private HOME and XDG_STATE_HOME directories, extra environment entries
// and stdin, and returns its output and exit code.
func Run(t testing.TB, cfg string, env []string, stdin string, args ...string) Result {
	t.Helper()
	e := Environ(nil, "GSENDMAIL_CONFIG="+cfg, "HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir(), "NO_COLOR=")
	return Exec(t, Command(t, append(e, env...), args...), strings.NewReader(stdin))
}

// Environ is this process's environment without the entries whose
// "NAME=" starts with one of drop's prefixes, then set (later entries win).
func Environ(drop []string, set ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return append(env, set...)
}

// Command is the gsendmail binary with args and the environment env (the
// whole environment; nil inherits this process's). Wrap it, change Dir or
// Args[0], then run it with Exec or Start.
func Command(t testing.TB, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Path(t), args...)
	cmd.Env = env
	return cmd
}

// Exec runs cmd (gsendmail or any other program) with stdin (none when
// nil) until it exits, within DefaultTimeout, and returns what it wrote
// and its exit code.
func Exec(t testing.TB, cmd *exec.Cmd, stdin io.Reader) Result {
	t.Helper()
	return Start(t, cmd, stdin).Wait(0)
}

// Proc is a started program whose output is captured.
type Proc struct {
	Cmd            *exec.Cmd
	t              testing.TB
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // Wait's, valid once done is closed
}

// Start starts cmd with stdin (none when nil), capturing its stdout and
// stderr, and returns at once.
func Start(t testing.TB, cmd *exec.Cmd, stdin io.Reader) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, t: t, done: make(chan struct{})}
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stdout and Stderr are what the program wrote so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr: see Stdout.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Wait waits until the program exits and returns its result. When it is
// still running after limit (DefaultTimeout when zero) it is killed and
// the test fails with what it wrote.
func (p *Proc) Wait(limit time.Duration) Result {
	p.t.Helper()
	if limit <= 0 {
		limit = DefaultTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.Cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not finish within %v (killed):\n%s", p.Cmd.Path, limit, p.result())
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		p.t.Fatalf("running %s: %v", p.Cmd.Path, p.err)
	}
	return p.result()
}

func (p *Proc) result() Result {
	r := Result{Stdout: p.stdout.String(), Stderr: p.stderr.String()}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		r.Code = ee.ExitCode()
	}
	return r
}

// syncBuffer is a bytes.Buffer that the test may read while the program
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// WriteConfig writes body as a 0600 config file in a temporary directory.
func WriteConfig(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
