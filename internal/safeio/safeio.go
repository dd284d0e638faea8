// Package safeio is the one home of gsendmail's file primitives: atomic
// replacement of a file (WriteAtomic: temporary file in the same directory,
// fsync, rename, fsync of the directory), exclusive creation of a new file
// (CreateExclusive), durable directory updates (SyncDir), advisory locks
// between processes (Lock, TryLock), and the "private file" rule for files
// that hold secrets (not accessible by group or others; owned by root when
// running as root, like ssh) and for the directories that hold them
// (PrivateDir).
//
// It does not decide what goes into files, where they live, which lock
// guards what, or what a caller does when a primitive is unsupported; the
// queue, the OAuth token store, setup and the maildrop do that.
package safeio

import (
	"fmt"
	"io"
	"os"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Geteuid reports the effective user id used by CheckPrivate. It is a
// variable so that tests can pretend to run as root.
var Geteuid = os.Geteuid

// Problem says which part of the private-file rule a file breaks.
type Problem int

const (
	// OpenToOthers: the mode grants group or others some access (mode&0077).
	OpenToOthers Problem = iota + 1
	// NotOwnedByRoot: running as root and the file belongs to another user,
	// who could change what root reads or runs.
	NotOwnedByRoot
)

// PermError is returned by CheckPrivate and ReadPrivateFile. Callers that
// know what the file holds may build a more specific message from its fields
// (errors.As); its own message already says how to fix it. Exit code 78.
type PermError struct {
	Path    string
	Problem Problem
	Mode    os.FileMode // the permission bits found
	UID     int         // the owner found (NotOwnedByRoot only)
}

func (e *PermError) Error() string {
	switch e.Problem {
	case NotOwnedByRoot:
		return fmt.Sprintf("%s is owned by uid %d, not root, and gsendmail runs as root: run chown root %s", e.Path, e.UID, e.Path)
	default:
		what := "readable by others"
		if e.Mode&0o044 == 0 {
			what = "writable by others"
		}
		return fmt.Sprintf("%s is %s (mode %04o): run chmod 600 %s", e.Path, what, e.Mode.Perm(), e.Path)
	}
}

// ExitCode implements sysexits.Coder: a file with the wrong permissions is a
// configuration problem the user must fix.
func (e *PermError) ExitCode() int { return sysexits.Config }

// CheckPrivate reports whether fi (the result of stat on path) describes a
// file fit to hold a secret: no permission bits for group or others, and
// owned by root when the process runs as root. path is only used in the
// error message.
func CheckPrivate(path string, fi os.FileInfo) error {
	return checkPrivate(path, fi, Geteuid())
}

func checkPrivate(path string, fi os.FileInfo, euid int) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &PermError{Path: path, Problem: OpenToOthers, Mode: perm}
	}
	if euid == 0 {
		if uid, ok := Owner(fi); ok && uid != 0 {
			return &PermError{Path: path, Problem: NotOwnedByRoot, Mode: fi.Mode().Perm(), UID: uid}
		}
	}
	return nil
}

// maxPrivateFile bounds ReadPrivateFile: secrets and tokens are small, and a
// huge file there is a mistake, not data.
const maxPrivateFile = 1 << 20

// ReadPrivateFile reads a file that holds a secret, refusing it (exit code
// 78, *PermError) when CheckPrivate does. The check uses the opened file, so
// it applies to the bytes actually read. Errors from the file system are
// returned wrapped, so errors.Is(err, fs.ErrNotExist) works.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s is not a regular file: point the setting at a file", path))
	}
	if err := CheckPrivate(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPrivateFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxPrivateFile {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s is larger than %d bytes: it should hold only a secret", path, maxPrivateFile))
	}
	return data, nil
}
