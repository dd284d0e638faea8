package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
)

// The system MTA's queue (/var/spool/gsendmail) belongs to the daemon
// user, and the queue refuses a directory another user owns. mailq and
// "queue list|drop" run by root on a system-MTA configuration therefore
// run as the daemon user; run by anyone else they say where the mail
// they handed to the daemon is.

// asDaemonUser reruns this queue command as the daemon user when root
// runs it on a [system] configuration. handled is false when it does not
// apply.
func asDaemonUser(ctx context.Context, env *Env, inv *cli.Invocation, file *config.File, args []string) (handled bool, err error) {
	if os.Geteuid() != 0 {
		return false, nil
	}
	var path string
	uid, gid := -1, -1
	switch {
	case file != nil && file.SystemMTA != nil:
		u, err := user.Lookup(file.SystemMTA.DaemonUser)
		if err != nil {
			return false, nil
		}
		path = file.Path
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	case file == nil:
		// root could not load the daemon's file (it refuses to run the
		// commands of a file another user owns): its owner is the daemon.
		f, err := config.Lookup(inv.ConfigFile, env.Getenv)
		if err != nil || !f.System {
			return false, nil
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			return false, nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false, nil
		}
		path, uid, gid = f.Path, int(st.Uid), int(st.Gid)
	}
	if uid <= 0 {
		return false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return true, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-C", path}, args...)...)
	// The binary may run under the name sendmail (/usr/sbin/sendmail);
	// argv[0] chooses the personality, and this is a gsendmail verb.
	cmd.Args[0] = "gsendmail"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	cmd.Env = []string{"HOME=" + systemStateDir, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return true, silentError{ee.ExitCode()}
		}
		return true, err
	}
	return true, nil
}

// systemQueueNote tells a user whose mail goes to the daemon that its
// queue is not theirs to list.
func systemQueueNote(env *Env, inv *cli.Invocation) {
	if h, ok := systemHandoff(env, inv, nil, errors.New("unreadable")); ok {
		fmt.Fprintf(env.Stderr, "gsendmail: mail you hand to the system daemon (%s) waits in its queue, which only root can list: sudo mailq\n", h.Socket)
	}
}
