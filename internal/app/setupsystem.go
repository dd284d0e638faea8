package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// "gsendmail setup --system": the wizard for the system MTA. Run as root,
// it runs the ordinary wizard as the daemon user (so the password file or
// the OAuth2 refresh token it stores belongs to that user, under
// /var/lib/gsendmail), then installs the result as /etc/gsendmail.toml,
// mode 0600, owned by the daemon user, with a [system] table.

// systemStateDir is the daemon user's home and state directory.
const systemStateDir = "/var/lib/gsendmail"

// cutFlag removes flag from args and reports whether it was there.
func cutFlag(args []string, flag string) ([]string, bool) {
	i := slices.Index(args, flag)
	if i < 0 {
		return args, false
	}
	return slices.Delete(slices.Clone(args), i, i+1), true
}

func setupSystem(ctx context.Context, env *Env, inv *cli.Invocation, args []string) error {
	if os.Geteuid() != 0 {
		return sysexits.New(sysexits.NoPerm, errors.New("setup --system writes /etc/gsendmail.toml and the daemon user's files: run it as root (sudo gsendmail setup --system)"))
	}
	if inv.ConfigFile != "" && inv.ConfigFile != config.SystemPath {
		return usageErr("setup --system always writes %s; leave out -C", config.SystemPath)
	}
	u, err := user.Lookup(config.DefaultDaemonUser)
	if err != nil {
		return sysexits.New(sysexits.Config, fmt.Errorf("there is no %s user: create it first (adduser --system --group --home %s %s; the Debian package does this)", config.DefaultDaemonUser, systemStateDir, config.DefaultDaemonUser))
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{systemStateDir, 0o700},
		{"/var/spool/gsendmail", 0o711},
		{mta.DefaultMaildrop, os.ModeSticky | 0o733},
	} {
		if err := os.MkdirAll(d.path, 0o700); err != nil {
			return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup --system: %v", err))
		}
		if err := os.Chown(d.path, uid, gid); err != nil {
			return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup --system: %v", err))
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup --system: %v", err))
		}
	}

	// The wizard runs as the daemon user on a staged copy it can write
	// (it cannot create files in /etc); an existing configuration with
	// accounts is extended.
	staged := filepath.Join(systemStateDir, "setup.toml")
	os.Remove(staged)
	if old, err := os.ReadFile(config.SystemPath); err == nil && hasAccount(old) {
		if err := os.WriteFile(staged, old, 0o600); err != nil {
			return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup --system: %v", err))
		}
		os.Chown(staged, uid, gid)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return sysexits.New(sysexits.Config, fmt.Errorf("setup --system: cannot read %s: %v", config.SystemPath, err))
	}
	defer os.Remove(staged)
	self, err := os.Executable()
	if err != nil {
		return sysexits.New(sysexits.OSErr, fmt.Errorf("setup --system: cannot find the gsendmail binary: %v", err))
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-C", staged, "setup"}, args...)...)
	// The binary may run under the name sendmail (/usr/sbin/sendmail);
	// argv[0] chooses the personality, and this is a gsendmail verb.
	cmd.Args[0] = "gsendmail"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	// Tokens go where the daemon looks for them: XDG_STATE_HOME/gsendmail
	// is /var/lib/gsendmail, the system state directory.
	cmd.Env = []string{"HOME=" + systemStateDir, "XDG_STATE_HOME=" + filepath.Dir(systemStateDir), "USER=" + u.Username, "LOGNAME=" + u.Username, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"TERM", "LANG", "LC_ALL", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION"} {
		if v := env.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return silentError{ee.ExitCode()} // the wizard said why
		}
		return sysexits.New(sysexits.OSErr, fmt.Errorf("setup --system: cannot run the wizard as %s: %v", u.Username, err))
	}
	text, err := os.ReadFile(staged)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // --dry-run
		}
		return sysexits.New(sysexits.IOErr, fmt.Errorf("setup --system: %v", err))
	}
	if !hasSystemTable(text) {
		text = append(text, []byte("\n# The system MTA: every local user's mail goes through the account above;\n# see gsendmail.toml(5), System MTA, for who may send, the sender and -f.\n[system]\n")...)
	}
	if err := installSystemConfig(text, uid, gid); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "gsendmail: %s written (mode 0600, owner %s); enable the daemon: systemctl enable --now gsendmail-submit.socket gsendmail-queue.socket gsendmail-pickup.path\n", config.SystemPath, u.Username)
	return nil
}

// installSystemConfig replaces SystemPath atomically, 0600 and owned by
// the daemon user from the first byte.
func installSystemConfig(text []byte, uid, gid int) error {
	err := safeio.WriteAtomicOpts(config.SystemPath, 0o600, safeio.Options{Chown: true, UID: uid, GID: gid}, func(w io.Writer) error {
		_, err := w.Write(text)
		return err
	})
	if err != nil {
		return sysexits.New(sysexits.Code(err), fmt.Errorf("setup --system: writing %s failed: %v; it is unchanged", config.SystemPath, err))
	}
	return nil
}

// hasAccount and hasSystemTable look at a configuration's text (root
// cannot Load a file owned by the daemon user that holds a command).
func hasAccount(text []byte) bool {
	return tableLine(text, func(t string) bool { return strings.HasPrefix(t, "[account.") })
}

func hasSystemTable(text []byte) bool {
	return tableLine(text, func(t string) bool { return t == "[system]" })
}

func tableLine(text []byte, match func(string) bool) bool {
	for _, l := range strings.Split(string(text), "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "#"); i >= 0 && strings.HasPrefix(l, "[") {
			l = strings.TrimSpace(l[:i])
		}
		if match(strings.ReplaceAll(l, " ", "")) {
			return true
		}
	}
	return false
}
