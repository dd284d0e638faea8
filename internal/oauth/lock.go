package oauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// lockWait bounds waiting for the lock when ctx has no deadline: a holder
// is itself bounded by the HTTP timeout.
const lockWait = 2 * time.Minute

// lockFile takes an exclusive lock on path (safeio.Lock), waiting until ctx
// is done. The lock is released by the returned function or when the
// process dies. Where the system has no flock it is a no-op: concurrent
// processes may then refresh more than once, which is wasteful but safe
// unless the provider rotates refresh tokens.
func lockFile(ctx context.Context, path string) (func(), error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lockWait)
		defer cancel()
	}
	unlock, err := safeio.Lock(ctx, path)
	var pe *fs.PathError
	switch {
	case err == nil:
		return unlock, nil
	case errors.Is(err, errors.ErrUnsupported):
		return func() {}, nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("timed out waiting for lock %s held by another gsendmail process: try again later", path))
	case errors.As(err, &pe) && pe.Op == "open":
		return nil, sysexits.New(sysexits.CantCreat, fmt.Errorf("cannot open lock file %s: %v: check the directory's permissions", path, pe.Err))
	default:
		return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("cannot lock %s: %v: try again later", path, errors.Unwrap(err)))
	}
}
