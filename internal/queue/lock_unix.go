//go:build unix

package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// errSyncUnsupported is what fsync of a directory returns on file systems
// that cannot do it; such a directory is as durable as it gets.
var errSyncUnsupported error = syscall.EINVAL

// TryLock takes the queue's flush lock (flock(2) on Dir/.lock) if it is
// free. ok is false, with no error, when another process or goroutine holds
// it. The lock dies with the process, so a killed flush never wedges the
// queue.
func (q *Queue) TryLock() (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(q.Dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("queue: cannot open the queue lock: %w; check the queue directory's permissions", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("queue: cannot lock the queue: %w; the file system may not support flock, put the queue on a local disk", err)
	}
	return func() { f.Close() }, true, nil
}

// Lock waits for the flush lock until ctx is done.
func (q *Queue) Lock(ctx context.Context) (unlock func(), err error) {
	for {
		unlock, ok, err := q.TryLock()
		if err != nil || ok {
			return unlock, err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("queue: another gsendmail is flushing the queue: %w; try again when it has finished", ctx.Err())
		case <-t.C:
		}
	}
}
