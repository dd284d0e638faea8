package safeio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// DirError says why a directory is not fit to hold secrets or mail. Its
// message names the fix. Exit code 78, or 73 when the directory cannot be
// created at all.
type DirError struct {
	What string // "queue directory", "token directory", ...
	Path string
	msg  string
	code int
}

func (e *DirError) Error() string { return e.msg }

// ExitCode implements sysexits.Coder.
func (e *DirError) ExitCode() int { return e.code }

// PrivateDir makes sure dir exists (created with mode 0700, parents too)
// and is safe to keep secrets or mail in: after following symbolic links
// it is a directory, not writable by group or others, and owned by the
// user running gsendmail. So a pre-existing 0777 directory, or a symbolic
// link into another user's (or a world-writable) directory, is refused
// instead of used: whoever can write there could replace or read what
// gsendmail stores. what names the directory in messages.
func PrivateDir(what, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", &DirError{What: what, Path: dir, code: sysexits.Config, msg: fmt.Sprintf("cannot resolve %s %q: %v; use an absolute path", what, dir, err)}
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return "", &DirError{What: what, Path: abs, code: sysexits.Config, msg: fmt.Sprintf("%s %s is not a directory; remove it or choose another path", what, abs)}
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", &DirError{What: what, Path: abs, code: sysexits.CantCreat, msg: fmt.Sprintf("cannot create %s %s: %v; create it with mode 0700", what, abs, errors.Unwrap(err))}
	}
	fi, err := os.Stat(abs) // follows a symbolic link: the target is what counts
	if err != nil {
		return "", &DirError{What: what, Path: abs, code: sysexits.CantCreat, msg: fmt.Sprintf("cannot use %s %s: %v", what, abs, err)}
	}
	if !fi.IsDir() {
		return "", &DirError{What: what, Path: abs, code: sysexits.Config, msg: fmt.Sprintf("%s %s is not a directory; remove it or choose another path", what, abs)}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return "", &DirError{What: what, Path: abs, code: sysexits.Config, msg: fmt.Sprintf("%s %s is writable by group or others (mode %04o); run chmod 700 %s", what, abs, fi.Mode().Perm(), abs)}
	}
	if uid, ok := Owner(fi); ok && uid != os.Geteuid() {
		return "", &DirError{What: what, Path: abs, code: sysexits.Config, msg: fmt.Sprintf("%s %s is owned by uid %d, not by the user running gsendmail (uid %d); chown it or choose another path", what, abs, uid, os.Geteuid())}
	}
	return abs, nil
}
