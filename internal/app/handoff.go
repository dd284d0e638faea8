package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The sendmail side of the system MTA (internal/mta): a user who cannot
// read the system configuration's secrets, or any user but the daemon's
// when the configuration has a [system] table, hands the message to the
// daemon instead of submitting it.

// Environment overrides for tests and unusual installs. Pointing them
// elsewhere only affects the user who sets them.
const (
	envSubmitSocket = "GSENDMAIL_SUBMIT_SOCKET"
	envMaildrop     = "GSENDMAIL_MAILDROP"
	envSubmitWait   = "GSENDMAIL_SUBMIT_WAIT"
)

// lookupUserID is user.Lookup's uid, replaceable in tests.
var lookupUserID = func(name string) (int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(u.Uid)
}

// systemHandoff reports whether this invocation must hand its message to
// the daemon, given what loading the configuration gave.
func systemHandoff(env *Env, inv *cli.Invocation, file *config.File, loadErr error) (mta.Handoff, bool) {
	h := mta.Handoff{
		Socket:   config.DefaultSubmitSocket,
		Maildrop: mta.DefaultMaildrop,
	}
	switch {
	case loadErr == nil && file != nil && file.SystemMTA != nil:
		uid, err := lookupUserID(file.SystemMTA.DaemonUser)
		if err == nil && uid == os.Geteuid() {
			return h, false // the daemon user itself (its own -q, tests)
		}
		h.Socket = file.SystemMTA.SubmitSocket
	case loadErr != nil && inv.ConfigFile == "" && env.Getenv("GSENDMAIL_CONFIG") == "":
		// The system file exists but this user may not read it: it holds
		// secrets that belong to the daemon.
		f, err := config.Lookup("", env.Getenv)
		if err != nil || !f.System {
			return h, false
		}
		fh, err := os.Open(f.Path)
		if err == nil {
			// Readable (root): hand off only when the file is another
			// user's, the daemon's (root refuses to run its commands);
			// otherwise the load error is the file's own.
			fi, serr := fh.Stat()
			fh.Close()
			if serr != nil {
				return h, false
			}
			if uid, ok := safeio.Owner(fi); !ok || uid == os.Geteuid() {
				return h, false
			}
		} else if !errors.Is(err, fs.ErrPermission) {
			return h, false
		}
	default:
		return h, false
	}
	if s := env.Getenv(envSubmitSocket); s != "" {
		h.Socket = s
	}
	if s := env.Getenv(envMaildrop); s != "" {
		h.Maildrop = s
	}
	if d, err := time.ParseDuration(env.Getenv(envSubmitWait)); err == nil && d > 0 {
		h.Wait = d
	}
	if loadErr != nil && !exists(h.Socket) && !exists(h.Maildrop) {
		// No system MTA here at all (a root-only /etc/gsendmail.toml of
		// the old kind): the permission error is the answer, at once,
		// not a temporary failure after a wait.
		return h, false
	}
	return h, true
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// handOff reads the message and submits it through the daemon's socket.
func handOff(ctx context.Context, env *Env, inv *cli.Invocation, h mta.Handoff) error {
	m, err := message.Read(env.Stdin, message.ReadOptions{IgnoreDots: inv.IgnoreDots})
	if err != nil {
		return err
	}
	defer m.Close()
	rcpts := append([]string(nil), inv.Recipients...)
	if inv.ReadRecipients {
		hdr, err := m.Recipients()
		if err != nil {
			return err
		}
		rcpts = append(rcpts, hdr...)
	}
	if len(rcpts) == 0 {
		return sysexits.New(sysexits.DataErr, errors.New("no recipients: give them as arguments or use -t to read To/Cc/Bcc"))
	}
	// Blind recipients must not be disclosed to the other recipients.
	m.RemoveBcc()
	for i, r := range rcpts {
		rcpts[i] = qualifyLocal(r)
	}
	from := ""
	if inv.FromSet {
		from = qualifyLocal(inv.From)
	}
	senv := messageEnvelope(inv, m, from, rcpts)
	if inv.Pretend {
		fmt.Fprintf(env.Stdout, "would hand the message to the gsendmail daemon on %s: MAIL FROM:<%s>, %d recipients: %s\n", h.Socket, from, len(rcpts), strings.Join(rcpts, ", "))
		return nil
	}
	if inv.Verbose {
		h.Transcript = env.Stderr
	}
	res, err := h.Submit(ctx, senv, func(w io.Writer) error {
		_, err := m.WriteTo(w)
		return err
	})
	if err != nil {
		return err
	}
	if res.Dropped != "" {
		// So that this user's mailq can show it (mailq.go); a note that
		// cannot be written does not make the drop fail.
		if rd := dropRecordDir(env); rd != "" {
			_ = mta.RecordDrop(rd, res.Dropped)
		}
		fmt.Fprintf(env.Stderr, "gsendmail: the daemon is not answering on %s; the message waits in %s for it\n", h.Socket, h.Maildrop)
	}
	return nil
}

// qualifyLocal gives a bare local name ("root", cronie's "-f alice") the
// domain mta.LocalDomain: SMTP needs a domain, and the daemon expands
// NAME@localhost like the bare name (aliases, local_domain).
func qualifyLocal(addr string) string {
	if addr == "" || strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + mta.LocalDomain
}

// repairHome makes HOME and the XDG directories of this process the
// running user's (config.UserEnv), so that everything below (the
// configuration, token and queue directories, a password_command's own
// environment) uses the user's home and not one a daemon passed on
// (Debian cron and atd run a job's mailer with their own HOME=/root).
func repairHome() {
	fixed, note := config.UserEnv(os.Getenv)
	if note == "" {
		return
	}
	for _, k := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"} {
		if v := fixed(k); v != "" {
			os.Setenv(k, v)
		} else {
			os.Unsetenv(k)
		}
	}
}
