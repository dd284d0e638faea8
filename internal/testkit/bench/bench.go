// Package bench is the harness behind `make bench`: it runs client
// processes (gsendmail and msmtp) and measures their wall time, CPU time
// (user+sys) and peak RSS, generates test messages, puts a delaying TCP
// proxy in front of a server to count round trips, and renders the result
// table with the machine it ran on.
//
// It owns measurement and presentation only. It does not own the mail
// server (internal/testkit/testenv/mailserver), the scenarios (internal/testkit/bench/cmd/
// bench decides what to run) or any product behaviour. Benchmarks are not
// tests: nothing here fails on a number.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one measured process run.
type Sample struct {
	Wall   time.Duration // fork to exit, as seen by the parent
	CPU    time.Duration // user + system CPU time of the child
	MaxRSS int64         // peak resident set size in KB (Linux ru_maxrss)
	Stdout []byte
	Stderr []byte
}

// Run starts cmd with stdin, waits for it and measures it. A non-zero exit
// is an error that includes the tail of stderr. Output is captured into the
// sample unless cmd already has writers.
func Run(ctx context.Context, cmd *exec.Cmd, stdin io.Reader) (Sample, error) {
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	cmd.Stdin = stdin
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	s := Sample{Wall: wall, Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			s.MaxRSS = ru.Maxrss
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s: %v: %s", cmd.Path, err, tailOf(errb.Bytes(), 400))
	}
	return s, nil
}

func tailOf(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.ReplaceAll(b, []byte("\n"), []byte(" | ")))
}

// Median of xs (the mean of the two middle values for an even count); 0
// for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Series collects samples of one client in one scenario.
type Series struct {
	Samples []Sample
}

// Add appends a sample.
func (s *Series) Add(x Sample) { s.Samples = append(s.Samples, x) }

// WallMs is the median wall time in milliseconds.
func (s *Series) WallMs() float64 {
	return s.median(func(x Sample) float64 { return float64(x.Wall) / 1e6 })
}

// CPUMs is the median CPU time (user+sys) in milliseconds.
func (s *Series) CPUMs() float64 {
	return s.median(func(x Sample) float64 { return float64(x.CPU) / 1e6 })
}

// RSSKB is the median peak RSS in KB.
func (s *Series) RSSKB() float64 {
	return s.median(func(x Sample) float64 { return float64(x.MaxRSS) })
}

func (s *Series) median(f func(Sample) float64) float64 {
	xs := make([]float64, len(s.Samples))
	for i, x := range s.Samples {
		xs[i] = f(x)
	}
	return Median(xs)
}

// Alternate runs a and b n times each in the order a b a b …, so that
// drift in machine load affects both alike. It stops at the first error.
func Alternate(n int, a, b func(i int) error) error {
	for i := 0; i < n; i++ {
		if err := a(i); err != nil {
			return err
		}
		if err := b(i); err != nil {
			return err
		}
	}
	return nil
}

// GNUTime is GNU time(1), used to read a client's own peak RSS.
const GNUTime = "/usr/bin/time"

// HaveGNUTime reports whether RunRSS can measure a client's own peak RSS.
func HaveGNUTime() bool {
	_, err := exec.LookPath(GNUTime)
	return err == nil
}

// RunRSS is Run, with MaxRSS replaced by the client's own peak RSS.
//
// Why the wrapper: Go starts children with vfork (CLONE_VM), and Linux
// sets a process's ru_maxrss at execve to at least the peak RSS of the
// memory it left, which for a vfork child is the parent's. So the rusage
// Run gets reports max(harness RSS, client RSS): useless for a client
// smaller than the harness. GNU time fork(2)s from a process of about
// 2 MB and reports its child's wait4 rusage, which starts from that
// small image instead. Wall and CPU then include time's own fork and
// wait (well under a millisecond, the same for every client), so they
// come from Run, not from here. Without GNU time it falls back to Run's
// figure and ok is false.
func RunRSS(ctx context.Context, cmd *exec.Cmd, stdin io.Reader, tmpDir string) (s Sample, ok bool, err error) {
	if !HaveGNUTime() {
		s, err = Run(ctx, cmd, stdin)
		return s, false, err
	}
	f, err := os.CreateTemp(tmpDir, "rss-")
	if err != nil {
		return Sample{}, false, err
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	w := exec.CommandContext(ctx, GNUTime, append([]string{"-f", "%M", "-o", name, "--", cmd.Path}, cmd.Args[1:]...)...)
	w.Env, w.Dir = cmd.Env, cmd.Dir
	s, err = Run(ctx, w, stdin)
	if err != nil {
		return s, false, err
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return s, false, err
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return s, false, fmt.Errorf("time(1) wrote no RSS to %s", name)
	}
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return s, false, fmt.Errorf("time(1) output %q: %v", b, err)
	}
	s.MaxRSS = kb
	return s, true, nil
}
