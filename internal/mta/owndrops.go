package mta

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// A user's own maildrop files. The maildrop (1733) lets nobody but the
// daemon user list it, so a user cannot find their files there once the
// daemon is down, which is exactly when they wait. The sendmail side
// therefore notes each name it dropped in a record directory of the
// user's own ($XDG_STATE_HOME/gsendmail/maildrop, one empty file per
// drop), and mailq reads the user's files back through those names: the
// user may open them (0644, their own) and stat them (x on the maildrop).
// A name whose file is gone was picked up; its note is removed. A record
// that cannot be written (no usable home, www-data's read-only /var/www)
// never fails the drop: the message is still safe, mailq just cannot
// show it until the daemon is back.

// ValidDropName reports whether name is a maildrop file's name: 32
// lower-case hex digits (no regexp: its compilation at package load cost
// every sendmail process 13 KB of heap).
func ValidDropName(name string) bool {
	if len(name) != 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RecordDrop notes the drop file dropPath in recordDir.
func RecordDrop(recordDir, dropPath string) error {
	name := filepath.Base(dropPath)
	if !ValidDropName(name) {
		return fmt.Errorf("%q is not a maildrop file name", name)
	}
	if err := os.MkdirAll(recordDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(recordDir, name), nil, 0o600)
}

// DropInfo is one message waiting in the maildrop.
type DropInfo struct {
	Name    string // the file's name: 32 hex digits
	UID     int    // the file's owner
	Env     smtp.Envelope
	Size    int64
	Created time.Time
}

// OwnDrops returns the caller's drop files in maildrop that recordDir
// names, oldest first; notes of files that are gone are removed.
func OwnDrops(recordDir, maildrop string) ([]DropInfo, error) {
	des, err := os.ReadDir(recordDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []DropInfo
	for _, de := range des {
		name := de.Name()
		if !ValidDropName(name) {
			continue
		}
		d, err := readDrop(filepath.Join(maildrop, name))
		if errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(recordDir, name)) // picked up
			continue
		}
		if err != nil || d.UID != os.Geteuid() {
			continue // not ours (any more): never show it
		}
		out = append(out, d)
	}
	sortDrops(out)
	return out, nil
}

// ListDrops returns every drop file in maildrop, for its owner (the
// daemon user): what waits for "gsendmail pickup".
func ListDrops(maildrop string) ([]DropInfo, error) {
	des, err := os.ReadDir(maildrop)
	if err != nil {
		return nil, err
	}
	var out []DropInfo
	for _, de := range des {
		if !ValidDropName(de.Name()) {
			continue
		}
		if d, err := readDrop(filepath.Join(maildrop, de.Name())); err == nil {
			out = append(out, d)
		}
	}
	sortDrops(out)
	return out, nil
}

func sortDrops(ds []DropInfo) {
	sort.Slice(ds, func(i, j int) bool {
		if !ds[i].Created.Equal(ds[j].Created) {
			return ds[i].Created.Before(ds[j].Created)
		}
		return ds[i].Name < ds[j].Name
	})
}

// readDrop reads a drop file's envelope, as pickup would (no symlinks,
// no FIFOs, one link).
func readDrop(path string) (DropInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return DropInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return DropInfo{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok || st.Nlink != 1 {
		return DropInfo{}, errors.New("not a drop file")
	}
	env, body, err := ParseDrop(f)
	if err != nil {
		return DropInfo{}, err
	}
	// The message's size: the file less its envelope part.
	rest, _ := io.Copy(io.Discard, body)
	return DropInfo{Name: filepath.Base(path), UID: int(st.Uid), Env: env, Size: rest, Created: fi.ModTime()}, nil
}

// RemoveOwnDrop removes the caller's drop file name from maildrop (the
// sticky maildrop lets a file's owner remove it) and its note.
func RemoveOwnDrop(recordDir, maildrop, name string) error {
	if !ValidDropName(name) {
		return fmt.Errorf("%q is not a maildrop file name", name)
	}
	d, err := readDrop(filepath.Join(maildrop, name))
	if err != nil || d.UID != os.Geteuid() {
		return fs.ErrNotExist
	}
	if err := os.Remove(filepath.Join(maildrop, name)); err != nil {
		return err
	}
	os.Remove(filepath.Join(recordDir, name))
	return nil
}

// FormatDrops writes drop files for mailq after the queue's listing, in
// the same shape: name, age, size, sender, then the recipients.
func FormatDrops(w io.Writer, drops []DropInfo, now time.Time, who func(uid int) string) {
	if len(drops) == 0 {
		return
	}
	fmt.Fprintf(w, "Waiting in the maildrop for the daemon (%d):\n", len(drops))
	for _, d := range drops {
		sender := d.Env.From
		if sender == "" {
			sender = "(default sender)" // no -f: the daemon's policy decides
		}
		fmt.Fprintf(w, "%-29s  %6s  %8d  %s\n", d.Name, queue.Age(now.Sub(d.Created)), d.Size, clean(sender, 1000))
		if who != nil {
			fmt.Fprintf(w, "    (user %s, not yet picked up)\n", clean(who(d.UID), 100))
		} else {
			fmt.Fprintln(w, "    (not yet picked up)")
		}
		for _, r := range d.Env.To {
			fmt.Fprintf(w, "    -> %s\n", clean(r, 1000))
		}
	}
}
