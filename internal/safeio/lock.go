package safeio

import (
	"context"
	"fmt"
	"time"
)

// Lock takes the exclusive lock on path that TryLock takes, waiting for it
// until ctx is done. flock(2) cannot wait with a deadline, so Lock polls
// with TryLock, starting at 2 ms and backing off to 50 ms: a lock that is
// released is taken within 50 ms, and a waiter costs almost nothing. When
// ctx is done first the error wraps ctx.Err() (context.DeadlineExceeded or
// context.Canceled), so callers can tell "still held" from a failure. How
// long to wait is the caller's decision: Lock adds no timeout of its own.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	delay := 2 * time.Millisecond
	for {
		unlock, ok, err := TryLock(path)
		if err != nil || ok {
			return unlock, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s is held by another process: %w", path, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}
