//go:build unix

package safeio

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes an exclusive flock(2) on path if no other holder has it.
// path is opened read-write and created (mode 0600) when missing; its
// directory must exist. ok is false, with a nil error, when the lock is
// held elsewhere: by another process, or by another TryLock in this one
// (each call opens the file anew, and flock locks belong to the open file,
// so two goroutines exclude each other too). EINTR is retried.
//
// unlock releases the lock by closing the file. The kernel releases it too
// when the process dies, however it dies, so a killed holder never wedges
// the next one. The file itself is left in place: removing it would let two
// processes hold "the" lock on two different files.
//
// Errors: opening the file fails with the *fs.PathError of open (Op
// "open"); a file system without flock (some network file systems) fails
// with an *fs.PathError whose Op is "flock".
func TryLock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
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
		return nil, false, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { f.Close() }, true, nil
}
