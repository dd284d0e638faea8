package mta

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// MaxDropSize bounds a maildrop file; larger ones are set aside.
const MaxDropSize = 64 << 20

// DropMsg is one maildrop message handed to Pickup's handler.
type DropMsg struct {
	Path string
	UID  int // the file's owner: the user who submitted it
	Env  smtp.Envelope
	Msg  io.Reader
}

// PickupReport counts what one Pickup did.
type PickupReport struct {
	Sent, Deferred, Failed int
}

// Pickup sends what waits in the maildrop dir. It runs as the daemon user
// (the maildrop's owner). For each file that is a regular file with one
// link and a valid envelope it calls handle with the file's owner; nil
// removes the file, a temporary error (outcome.Temporary) leaves it for
// the next pickup, anything else moves it to failedDir with a .note
// saying why. Temporary files older than an hour (a writer that died) are
// removed.
func Pickup(dir, failedDir string, handle func(DropMsg) error) (PickupReport, error) {
	var rep PickupReport
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".") {
			if fi, err := os.Lstat(path); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(path)
			}
			continue
		}
		err := pickOne(path, handle)
		switch {
		case err == nil:
			rep.Sent++
		case outcome.Temporary(err):
			rep.Deferred++
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		default:
			rep.Failed++
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			if merr := setAside(path, failedDir, err); merr != nil {
				errs = append(errs, merr)
			}
		}
	}
	return rep, errors.Join(errs...)
}

func pickOne(path string, handle func(DropMsg) error) error {
	// O_NOFOLLOW: a symlink planted in the maildrop is not followed;
	// O_NONBLOCK: a FIFO does not hang the pickup.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("cannot open: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return errors.New("not a regular file")
	case !ok:
		return errors.New("no owner information")
	case st.Nlink != 1:
		// A hard link to someone else's file would be sent as its owner.
		return fmt.Errorf("has %d links, want 1", st.Nlink)
	case fi.Size() > MaxDropSize:
		return fmt.Errorf("larger than %d bytes", MaxDropSize)
	}
	env, body, err := ParseDrop(f)
	if err != nil {
		return err
	}
	if err := handle(DropMsg{Path: path, UID: int(st.Uid), Env: env, Msg: body}); err != nil {
		return err
	}
	return os.Remove(path)
}

// setAside moves a file that cannot be sent to failedDir.
func setAside(path, failedDir string, why error) error {
	if err := os.MkdirAll(failedDir, 0o700); err != nil {
		return err
	}
	dst := filepath.Join(failedDir, filepath.Base(path))
	if err := os.Rename(path, dst); err != nil {
		return err
	}
	return os.WriteFile(dst+".note", []byte(strings.Join(strings.Fields(why.Error()), " ")+"\n"), 0o600)
}
