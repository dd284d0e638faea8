//go:build unix

package safeio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSyncDirToleratesOnlyFileSystemsThatCannotSyncDirectories(t *testing.T) {
	dir := t.TempDir()
	old := fsyncDir
	t.Cleanup(func() { fsyncDir = old })
	for errno, tolerated := range map[syscall.Errno]bool{
		syscall.EINVAL:  true,
		syscall.ENOTSUP: true,
		syscall.EIO:     false,
		syscall.ENOSPC:  false,
		syscall.EDQUOT:  false,
		syscall.EBADF:   false,
	} {
		called := false
		fsyncDir = func(f *os.File) error {
			called = true
			// What (*os.File).Sync returns: the errno in a PathError.
			return &os.PathError{Op: "sync", Path: f.Name(), Err: errno}
		}
		err := SyncDir(dir)
		if !called {
			t.Fatalf("%v: SyncDir did not fsync", errno)
		}
		if (err == nil) != tolerated {
			t.Errorf("fsync of a directory failing with %v: SyncDir = %v, want tolerated %v", errno, err, tolerated)
		}
	}
}

func TestSyncDirOnRealDirectories(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir of a real directory: %v", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}
