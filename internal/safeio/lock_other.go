//go:build !unix

package safeio

import (
	"errors"
	"fmt"
	"os"
)

// ErrNoLock is what TryLock and Lock return where flock(2) does not exist.
// It wraps errors.ErrUnsupported. Whether to go on without the lock is the
// caller's decision: the OAuth store may (a second refresh is wasteful but
// safe), the queue may not (two flushes would send twice).
var ErrNoLock = fmt.Errorf("locking files needs flock, which this system lacks: %w", errors.ErrUnsupported)

// TryLock is unsupported here: it returns ErrNoLock. See the Unix version.
func TryLock(path string) (unlock func(), ok bool, err error) {
	return nil, false, &os.PathError{Op: "flock", Path: path, Err: ErrNoLock}
}
