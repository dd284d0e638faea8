package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/safeio"
)

// TryLock takes the queue's flush lock (safeio.TryLock on Dir/.lock) if it
// is free. ok is false, with no error, when another process or goroutine
// holds it. The lock dies with the process, so a killed flush never wedges
// the queue. Where flock is missing it fails: two flushes would send twice.
func (q *Queue) TryLock() (unlock func(), ok bool, err error) {
	unlock, ok, err = safeio.TryLock(filepath.Join(q.Dir, lockName))
	if err != nil {
		return nil, false, lockError(err)
	}
	return unlock, ok, nil
}

// Lock waits for the flush lock until ctx is done.
func (q *Queue) Lock(ctx context.Context) (unlock func(), err error) {
	unlock, err = safeio.Lock(ctx, filepath.Join(q.Dir, lockName))
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("queue: another gsendmail is flushing the queue: %w; try again when it has finished", ctx.Err())
	}
	if err != nil {
		return nil, lockError(err)
	}
	return unlock, nil
}

func lockError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		return fmt.Errorf("queue: cannot open the queue lock: %w; check the queue directory's permissions", err)
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("queue: locking the queue needs flock, which this system lacks: %w; use a Unix system", err)
	}
	return fmt.Errorf("queue: cannot lock the queue: %w; the file system may not support flock, put the queue on a local disk", err)
}
