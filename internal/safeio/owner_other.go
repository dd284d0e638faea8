//go:build !unix

package safeio

import "os"

// syncDir does nothing: Windows cannot fsync a directory handle, and its
// rename is as durable as the platform makes it.
func syncDir(dir string) error { return nil }

// Owner reports no owner on platforms without Unix user ids.
func Owner(fi os.FileInfo) (uid int, ok bool) { return 0, false }
