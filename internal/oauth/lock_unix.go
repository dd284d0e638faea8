//go:build unix

package oauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// lockWait bounds waiting for the lock when ctx has no deadline: a holder
// is itself bounded by the HTTP timeout.
const lockWait = 2 * time.Minute

// lockFile takes an exclusive flock(2) on path, polling until ctx is done.
// The lock is released by the returned function or when the process dies.
func lockFile(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, sysexits.New(sysexits.CantCreat, fmt.Errorf("cannot create %s: %v: create it or set XDG_STATE_HOME", filepath.Dir(path), err))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, sysexits.New(sysexits.CantCreat, fmt.Errorf("cannot open lock file %s: %v: check the directory's permissions", path, err))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lockWait)
		defer cancel()
	}
	delay := 2 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("cannot lock %s: %v: try again later", path, err))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("timed out waiting for lock %s held by another gsendmail process: try again later", path))
		case <-t.C:
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
