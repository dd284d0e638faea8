package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/safeio"
)

// Daemons run the mailer as the job's user but with their own
// environment: Debian's cron and atd start sendmail for user alice with
// HOME=/root when they were started that way, sudo's mail_always runs it
// as root with the invoking user's HOME, PHP-FPM pools often have no HOME
// at all. Trusting such a HOME makes every user's mail fail at
// "/root/.config/gsendmail/config.toml: permission denied". The functions
// here decide which home directory and XDG directories belong to the
// running user, from the password database when the environment's do not.

// Passwd is the running user's entry in the password database.
type Passwd struct {
	UID  int
	Name string
	Home string
	// FullName is the first comma-separated field of the GECOS field
	// ("Alice Example,,," -> "Alice Example"); "" when unset.
	FullName string
}

// lookupPasswd reads the password database (os/user: /etc/passwd without
// cgo, NSS with it); a variable for tests.
var lookupPasswd = func(uid int) (*Passwd, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return nil, err
	}
	return &Passwd{UID: uid, Name: u.Username, Home: u.HomeDir, FullName: gecosName(u.Name)}, nil
}

// LookupUser returns the password-database entry of uid.
func LookupUser(uid int) (*Passwd, error) { return lookupPasswd(uid) }

// gecosName returns the full-name part of a GECOS field.
func gecosName(g string) string {
	name, _, _ := strings.Cut(g, ",")
	return strings.TrimSpace(name)
}

// xdgDirs are the XDG Base Directory variables gsendmail reads.
var xdgDirs = []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"}

// ownedByMe reports whether path belongs to the effective uid, or does
// not exist (then it is nobody's, and holds no configuration either).
func ownedByMe(path string) bool {
	fi, err := statPath(path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	return !foreign(fi)
}

// existsOwnedByMe reports whether path exists and belongs to the
// effective uid.
func existsOwnedByMe(path string) bool {
	fi, err := statPath(path)
	return err == nil && !foreign(fi)
}

// UserEnv returns getenv with HOME and the XDG directories made the
// running user's own, and a note when it changed them:
//
//   - $HOME is kept when it is absolute and is the password database's
//     home of the effective uid or a directory that uid owns (a test or a
//     deliberate HOME=/srv/me).
//   - Otherwise (unset, relative, or someone else's: an inherited
//     HOME=/root) HOME becomes the password database's home, and each
//     XDG_*_HOME is kept only when it is a directory the uid owns.
//
// With no password-database entry (a container's bare uid) HOME is left
// alone; Lookup still refuses a user configuration file owned by someone
// else.
func UserEnv(getenv func(string) string) (fixed func(string) string, note string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	home := getenv("HOME")
	euid := geteuid()
	pw, _ := lookupPasswd(euid)
	if filepath.IsAbs(home) && ((pw != nil && filepath.Clean(home) == filepath.Clean(pw.Home)) || ownedByMe(home)) {
		return getenv, ""
	}
	if pw == nil || !filepath.IsAbs(pw.Home) {
		return getenv, ""
	}
	over := map[string]string{"HOME": pw.Home}
	for _, k := range xdgDirs {
		if v := getenv(k); v != "" && !(filepath.IsAbs(v) && existsOwnedByMe(v)) {
			over[k] = ""
		}
	}
	if home == "" {
		note = fmt.Sprintf("HOME is not set; using %s, the home of %s from the password database", pw.Home, pw.Name)
	} else {
		note = fmt.Sprintf("HOME=%s is not the home of %s (uid %d); using %s from the password database", home, pw.Name, euid, pw.Home)
	}
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return getenv(k)
	}, note
}

// Found is the outcome of Lookup.
type Found struct {
	Path   string
	System bool // Path is SystemPath
	// Warnings are one-line notes about user configuration files that
	// were skipped (someone else's, unreadable) on the way to Path.
	Warnings []string
}

// Lookup is Find with the reasons for skipping files: -C, else
// $GSENDMAIL_CONFIG (each must exist), else the user configuration
// ($XDG_CONFIG_HOME/gsendmail/config.toml, default ~/.config) under the
// directories UserEnv trusts, else SystemPath. A user configuration file
// that belongs to another user, or that the running user cannot read, is
// skipped with a warning: it never blocks the system file.
func Lookup(explicit string, getenv func(string) string) (Found, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, c := range []struct{ path, from string }{
		{explicit, "-C"},
		{getenv("GSENDMAIL_CONFIG"), "$GSENDMAIL_CONFIG"},
	} {
		if c.path == "" {
			continue
		}
		if _, err := statPath(c.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Found{}, configErr("configuration file %s (from %s) does not exist: check the path", c.path, c.from)
			}
			return Found{}, configErr("cannot use configuration file %s (from %s): %v", c.path, c.from, unwrapPathError(err))
		}
		return Found{Path: c.path, System: c.path == SystemPath}, nil
	}
	var f Found
	getenv, note := UserEnv(getenv)
	if p := userConfigPath(getenv); p != "" {
		fi, err := statPath(p)
		switch {
		case err == nil && !foreign(fi) && readable(p):
			f.Path = p
			return f, nil
		case err == nil && foreign(fi):
			uid, _ := safeio.Owner(fi)
			f.Warnings = append(f.Warnings, fmt.Sprintf("skipping %s: it belongs to uid %d, not to uid %d that runs gsendmail", p, uid, geteuid()))
		case err == nil:
			f.Warnings = append(f.Warnings, fmt.Sprintf("skipping %s: it cannot be read (check its permissions)", p))
		case !errors.Is(err, fs.ErrNotExist):
			f.Warnings = append(f.Warnings, fmt.Sprintf("skipping %s: %v", p, unwrapPathError(err)))
		}
		if len(f.Warnings) > 0 && note != "" {
			f.Warnings = append(f.Warnings, note)
		}
	}
	if _, err := statPath(SystemPath); err == nil {
		f.Path, f.System = SystemPath, true
		return f, nil
	}
	if len(f.Warnings) > 0 {
		return f, configErr("no usable configuration file: %s; and %s does not exist", f.Warnings[0], SystemPath)
	}
	return f, configErr("no configuration file: create ~/.config/gsendmail/config.toml (see gsendmail.toml(5)) or run \"gsendmail setup\"")
}

// userConfigPath is $XDG_CONFIG_HOME/gsendmail/config.toml, with
// XDG_CONFIG_HOME defaulting to $HOME/.config; "" when neither is known.
func userConfigPath(getenv func(string) string) string {
	xdg := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(xdg) { // XDG Base Directory: relative values are ignored
		xdg = ""
		if home := getenv("HOME"); filepath.IsAbs(home) {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg == "" {
		return ""
	}
	return filepath.Join(xdg, "gsendmail", "config.toml")
}

// foreign reports whether fi belongs to a uid other than the effective
// one. Root is no exception: root must not run commands from a file a
// user can edit.
func foreign(fi os.FileInfo) bool {
	uid, ok := safeio.Owner(fi)
	return ok && uid != geteuid()
}

// readable is a variable for tests (root reads everything).
var readable = func(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
