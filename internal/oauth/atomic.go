package oauth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// writeFileAtomic replaces path with data, mode 0600, creating the
// directory with 0700: temp file in the same directory, fsync, rename,
// fsync the directory. A crash leaves either the old or the new file.
// (internal/safeio has the shared version; this private copy keeps the
// package buildable on its own.)
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, derr := os.Open(dir)
	if derr != nil {
		return nil // renamed; durability of the directory entry is best effort
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

// readPrivateFile reads at most max bytes of path, refusing a file that
// group or others can read or write.
func readPrivateFile(path string, max int64) ([]byte, error) {
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
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s is not a regular file: replace it with the token file or fix the path", path))
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s is readable by others: run chmod 600 %s", path, shellQuote(path)))
	} else if perm&0o022 != 0 {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s is writable by others: run chmod 600 %s", path, shellQuote(path)))
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, sysexits.New(sysexits.Config, errors.New(path+" is too large to be a token file: check the path"))
	}
	return data, nil
}
