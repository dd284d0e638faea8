//go:build unix

package safeio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const lockEnv = "GSENDMAIL_SAFEIO_LOCK_HELPER"

// TestLockHelper is not a test: it is the child process of the lock tests.
// "hold": take the lock, say "locked", keep it until stdin closes, then
// exit without unlocking (the kernel must release it). "try": say whether
// TryLock got the lock.
func TestLockHelper(t *testing.T) {
	mode := os.Getenv(lockEnv)
	if mode == "" {
		t.Skip("helper process for the lock tests")
	}
	path := os.Getenv(lockEnv + "_PATH")
	switch mode {
	case "hold":
		if _, err := Lock(context.Background(), path); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "try":
		_, ok, err := TryLock(path)
		fmt.Println(ok, err)
		os.Exit(0)
	}
}

func lockHelper(mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), lockEnv+"="+mode, lockEnv+"_PATH="+path)
	return cmd
}

func TestLockExcludesAnotherProcessUntilItDies(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	cmd := lockHelper("hold", path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	next := lineReader(t, stdout)
	if l := next(); l != "locked" {
		t.Fatalf("helper: %s", l)
	}
	if _, ok, err := TryLock(path); ok || err != nil {
		t.Fatalf("TryLock while another process holds the lock = %v, %v; want false, nil", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while held until the deadline = %v, want context.DeadlineExceeded", err)
	}
	// The helper exits without unlocking: its death releases the lock,
	// and a waiting Lock gets it.
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		unlock, err := Lock(ctx, path)
		if err == nil {
			unlock()
		}
		got <- err
	}()
	stdin.Close()
	if err := <-got; err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
}

func TestTryLockFalseWhileHeldTrueAfterRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, ok, err := TryLock(path)
	if !ok || err != nil {
		t.Fatalf("first TryLock = %v, %v", ok, err)
	}
	out, err := lockHelper("try", path).Output()
	if err != nil || string(out) != "false <nil>\n" {
		t.Fatalf("TryLock in another process while held = %q, %v; want false", out, err)
	}
	if _, ok, err := TryLock(path); ok || err != nil {
		t.Fatalf("second TryLock in this process while held = %v, %v; want false, nil", ok, err)
	}
	unlock()
	out, err = lockHelper("try", path).Output()
	if err != nil || string(out) != "true <nil>\n" {
		t.Fatalf("TryLock in another process after release = %q, %v; want true", out, err)
	}
	u2, ok, err := TryLock(path)
	if !ok || err != nil {
		t.Fatalf("TryLock after release = %v, %v; want true", ok, err)
	}
	u2()
}

func TestTryLockReportsOpenFailure(t *testing.T) {
	_, ok, err := TryLock(filepath.Join(t.TempDir(), "missing", ".lock"))
	var pe *os.PathError
	if ok || !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("TryLock in a missing directory = %v, %v; want an open error", ok, err)
	}
}
