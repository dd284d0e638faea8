//go:build unix

package safeio

import (
	"os"
	"syscall"
)

// Owner returns the user id that owns the file fi describes, when the
// platform reports one.
func Owner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
