//go:build unix

package safeio

import (
	"os"
	"syscall"
)

// syncDir makes a rename in dir durable (POSIX: the directory entry lives
// in the directory, which has its own fsync).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Owner returns the user id that owns the file fi describes, when the
// platform reports one.
func Owner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
