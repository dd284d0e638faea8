//go:build unix

package safeio

import (
	"errors"
	"os"
	"syscall"
)

// SyncDir makes the creations, renames and removals in dir durable. POSIX
// keeps a directory entry in its directory, which has its own fsync: a
// rename whose directory was not fsync'd can be undone by a power cut even
// though the file's data was.
//
// One behaviour for every caller: the errors with which a file system says
// "I cannot fsync a directory at all" are tolerated and nil is returned,
// because nothing more can be done there and failing every write would make
// such a file system unusable. They are EINVAL (fsync(2): "fd is bound to
// a special file which does not support synchronization"; some network,
// FUSE and virtual file systems answer so for directories) and
// ENOTSUP/EOPNOTSUPP (the same answer from others). Every other error is
// returned, opening the directory included: EIO, ENOSPC or EDQUOT mean the
// change may not survive a crash, and a caller such as the queue must not
// then claim the data is safe.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fsyncDir(d); err != nil && !dirSyncUnsupported(err) {
		return err
	}
	return nil
}

// fsyncDir is the system call; tests replace it to play a file system that
// answers with a chosen errno.
var fsyncDir = (*os.File).Sync

// dirSyncUnsupported reports whether err is a file system's way of saying
// it cannot fsync a directory (see SyncDir).
func dirSyncUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}
