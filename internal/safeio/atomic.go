package safeio

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The steps of WriteAtomic, in order, as Options.Fault sees them. StepWrite
// comes before every Write call of the content; the others once.
const (
	StepCreate  = "create"  // create the temporary file
	StepWrite   = "write"   // write content to it
	StepSync    = "sync"    // fsync it
	StepClose   = "close"   // close it
	StepRename  = "rename"  // rename it over the target
	StepSyncDir = "syncdir" // fsync the directory
)

// Steps lists WriteAtomic's steps in order, for tests that fail each.
var Steps = []string{StepCreate, StepWrite, StepSync, StepClose, StepRename, StepSyncDir}

// Options adjust WriteAtomicOpts. The zero value is WriteAtomic.
type Options struct {
	// Chown, when set, gives the temporary file the owner UID and group
	// GID before any byte is written, so the file is never the writer's
	// (root installing a file for the daemon user).
	Chown    bool
	UID, GID int
	// NoSyncDir skips the directory fsync, for a writer that cannot open
	// its directory (a user dropping into the 1733 maildrop): the rename
	// is then durable after the next sync of the file system. Everyone
	// else wants the fsync.
	NoSyncDir bool
	// Fault, for tests, is called before each step (see Steps) with the
	// step's name; a non-nil result makes that step fail as if its system
	// call had, with everything a real failure there undoes undone. It
	// lets tests fail or crash at every step without a full disk.
	Fault func(step string) error
}

// WriteFileAtomic replaces path with data so that after a crash the file
// holds either the old or the new content, never a mix. See WriteAtomic.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic replaces path with what write produces, so that after a crash
// or a failure path holds either its old content or the complete new one,
// never a mix. See WriteAtomicOpts.
func WriteAtomic(path string, perm os.FileMode, write func(w io.Writer) error) error {
	return WriteAtomicOpts(path, perm, Options{}, write)
}

// WriteAtomicOpts is the one atomic write of gsendmail:
//
//  1. create a temporary file in path's directory (so the rename cannot
//     cross file systems), named by TempName, with O_CREATE|O_EXCL (never
//     an existing file or a symbolic link planted there) and given the
//     permissions perm at once by fchmod, whatever the umask: the content
//     is never readable by anyone perm does not allow, and a file meant to
//     be 0644 is 0644 under umask 077;
//  2. write the content; 3. fsync the file; 4. close it;
//  5. rename it over path (atomic on POSIX);
//  6. fsync the directory (SyncDir), so the rename itself survives a
//     power cut.
//
// The directory must exist: where a file lives, and whether that directory
// is safe (PrivateDir), is the caller's decision. On a failure in steps
// 1-5 path is untouched and the temporary file is removed. A failure in
// step 6 is returned too, but the new content is then already in place,
// only its durability is in doubt: the caller decides (the queue removes
// the entry it will report as not queued). Errors wrap the system call's,
// so errors.Is(err, syscall.ENOSPC) works, and carry sysexits.CantCreat
// when the temporary file cannot be created, sysexits.IOErr after that;
// a caller's own sysexits.New around them wins.
func WriteAtomicOpts(path string, perm os.FileMode, opt Options, write func(w io.Writer) error) (err error) {
	fault := func(step string) error {
		if opt.Fault == nil {
			return nil
		}
		return opt.Fault(step)
	}
	dir := filepath.Dir(path)
	if err := fault(StepCreate); err != nil {
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("create temporary file for %s: %w", path, err))
	}
	f, err := createTemp(path, perm)
	if err != nil {
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("create temporary file for %s: %w", path, err))
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
			err = sysexits.New(sysexits.IOErr, err)
		}
	}()
	if opt.Chown {
		if err := f.Chown(opt.UID, opt.GID); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		// chown clears set-id bits; perm is applied again after it.
		if err := f.Chmod(perm.Perm()); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := write(&faultWriter{w: f, fault: fault}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fault(StepSync); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fault(StepClose); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fault(StepRename); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if opt.NoSyncDir {
		return nil
	}
	if err := fault(StepSyncDir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

type faultWriter struct {
	w     io.Writer
	fault func(string) error
}

func (fw *faultWriter) Write(p []byte) (int, error) {
	if err := fw.fault(StepWrite); err != nil {
		return 0, err
	}
	return fw.w.Write(p)
}

// Temporary files are named tempPrefix + the target's base name + "-" +
// tempRandom hex digits, in the target's directory: hidden (a leading dot),
// telling whose file they are, and recognisable by IsTemp after a crash.
const (
	tempPrefix = ".tmp-"
	tempRandom = 16
)

// TempName returns a fresh name for a temporary sibling of path.
func TempName(path string) (string, error) {
	var r [tempRandom / 2]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(path), tempPrefix+filepath.Base(path)+"-"+hex.EncodeToString(r[:])), nil
}

// CreateTemp creates an empty temporary sibling of path (see TempName)
// with O_CREATE|O_EXCL and mode 0600, for a caller that keeps data next to
// a file without replacing it (the OAuth refresh journal). The caller
// removes it.
func CreateTemp(path string) (*os.File, error) {
	return createTemp(path, 0o600)
}

func createTemp(path string, perm os.FileMode) (*os.File, error) {
	for range 10 {
		name, err := TempName(path)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm.Perm())
		if errors.Is(err, fs.ErrExist) {
			continue // 64 random bits met another file: draw again
		}
		if err != nil {
			return nil, err
		}
		// The umask may have removed bits perm asks for.
		if err := f.Chmod(perm.Perm()); err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
		return f, nil
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: fs.ErrExist}
}

// IsTemp reports whether name (a base name) is a temporary file left by
// WriteAtomic or CreateTemp, for the target base when base is not "", for
// any target otherwise. It also knows ".BASE.tmp-*", the name older
// versions of gsendmail gave the token file's temporary siblings, which may
// hold the only copy of a rotated refresh token.
func IsTemp(name, base string) bool {
	if base == "" {
		return strings.HasPrefix(name, tempPrefix) || strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
	}
	if rest, ok := strings.CutPrefix(name, tempPrefix+base+"-"); ok {
		return len(rest) == tempRandom && strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.HasPrefix(name, "."+base+".tmp-")
}

// CreateExclusive creates path, which must not exist, with what write
// produces: O_CREATE|O_EXCL (an existing file or any symbolic link there,
// dangling or not, is refused and left alone), mode perm applied by fchmod
// whatever the umask, content written, fsync'd, closed, and the directory
// fsync'd (SyncDir). On a failure after the file was created it is removed,
// so no half-written file is left. Errors: an existing path wraps
// fs.ErrExist; a failure to create carries sysexits.CantCreat, a failure
// to write sysexits.IOErr.
func CreateExclusive(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
	if err != nil {
		return sysexits.New(sysexits.CantCreat, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
			err = sysexits.New(sysexits.IOErr, fmt.Errorf("write %s: %w", path, err))
		}
	}()
	if err := f.Chmod(perm.Perm()); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
