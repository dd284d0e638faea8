//go:build !unix

package safeio

// SyncDir does nothing: Windows cannot fsync a directory handle, and its
// rename is as durable as the platform makes it. See the Unix version for
// what it does elsewhere.
func SyncDir(dir string) error { return nil }
