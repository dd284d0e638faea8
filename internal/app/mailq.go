package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The system MTA's queue (/var/spool/gsendmail) belongs to the daemon
// user, and the queue refuses a directory another user owns. mailq and
// "queue list|drop" run by root on a system-MTA configuration therefore
// run as the daemon user (and see every entry and the maildrop); run by
// any other user whose mail goes to the daemon they ask the daemon over
// its query socket (internal/mta query.go), which answers with that
// user's own entries only.

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

// submitterOf is the queue's record of local user uid.
func submitterOf(uid int) *queue.Submitter {
	s := &queue.Submitter{UID: uid}
	if pw, err := config.LookupUser(uid); err == nil && pw != nil {
		s.Name = pw.Name
	}
	return s
}

// envQuerySocket overrides the query socket, like envSubmitSocket.
const envQuerySocket = "GSENDMAIL_QUEUE_SOCKET"

// The daemon's side of the queue query socket (internal/mta query.go):
// systemd passes it as the socket named "queue" (gsendmail-queue.socket,
// FileDescriptorName=queue); a daemon started by hand creates it beside
// its own Unix submission socket. Only a [system] daemon has one.

// splitQueryListeners takes systemd's socket named "queue" out of ls.
func splitQueryListeners(ls []net.Listener, fdNames string) (submit, query []net.Listener) {
	names := strings.Split(fdNames, ":")
	for i, l := range ls {
		if i < len(names) && names[i] == "queue" {
			query = append(query, l)
		} else {
			submit = append(submit, l)
		}
	}
	return submit, query
}

// startQueryServer serves the query socket(s); its Close is safe when
// none was opened.
func (r *relay) startQueryServer(query, submit []net.Listener, fromSystemd bool, logLine func(string)) *mta.QueryServer {
	qs := &mta.QueryServer{Queues: r.queues, Log: logLine}
	if r.state.Load().file.SystemMTA == nil {
		for _, l := range query {
			l.Close()
		}
		return qs
	}
	if len(query) == 0 && fromSystemd {
		logLine("no queue query socket from systemd, users cannot list their mail: enable gsendmail-queue.socket")
	}
	if len(query) == 0 && !fromSystemd {
		path := r.env.Getenv(envQuerySocket)
		for _, l := range submit {
			if a, ok := l.Addr().(*net.UnixAddr); ok && path == "" {
				path = mta.QuerySocket(a.Name)
			}
		}
		if path != "" {
			l, err := serve.Listen(path)
			if err != nil {
				logLine("no queue query socket, users cannot list their mail: " + redact.OneLine(err.Error()))
			} else {
				query = append(query, l)
			}
		}
	}
	for _, l := range query {
		logLine("answering queue queries on " + l.Addr().String())
		go func(l net.Listener) {
			if err := qs.Serve(l); err != nil {
				logLine("queue query socket: " + redact.OneLine(err.Error()))
			}
		}(l)
	}
	return qs
}

// queues is the daemon's queues now, for the query socket.
func (r *relay) queues() []*queue.Queue {
	var qs []*queue.Queue
	for _, dir := range queueDirs(r.env, r.state.Load().file) {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if q, err := queue.Open(dir); err == nil {
			qs = append(qs, q)
		}
	}
	return qs
}

// The user's side: mailq, "queue list" and "queue drop" run by a user
// whose mail goes to the daemon ask it over the query socket, and read
// their own maildrop files through the names the handoff recorded.

// querySocketFor is the query socket of a handoff.
func querySocketFor(env *Env, h mta.Handoff) string {
	if s := env.Getenv(envQuerySocket); s != "" {
		return s
	}
	return mta.QuerySocket(h.Socket)
}

// dropRecordDir is where the handoff notes this user's maildrop files
// ("" when the user has no usable home).
func dropRecordDir(env *Env) string {
	d := queue.DefaultDir(false, env.Getenv)
	if d == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(d), "maildrop")
}

// userListQueue is mailq for a user of the system MTA: their entries in
// the daemon's queue, then their files waiting in the maildrop.
func userListQueue(ctx context.Context, env *Env, h mta.Handoff) error {
	entries, qerr := mta.QueryClient{Socket: querySocketFor(env, h)}.List(ctx)
	var drops []mta.DropInfo
	if rd := dropRecordDir(env); rd != "" {
		drops, _ = mta.OwnDrops(rd, h.Maildrop)
	}
	now := time.Now()
	if qerr != nil {
		// No answer from the daemon: what is in its queue is unknown,
		// but the user's maildrop files are not.
		mta.FormatDrops(env.Stdout, drops, now, nil)
		if errors.Is(qerr, mta.ErrDaemonDown) && len(drops) > 0 {
			return sysexits.New(sysexits.Code(qerr), fmt.Errorf("%v; your %d message(s) in the maildrop (above) go out once it runs", qerr, len(drops)))
		}
		return qerr
	}
	formatQueue(env.Stdout, entries, drops, now, nil)
	return nil
}

// formatQueue is mailq's output: the queue, then the maildrop.
func formatQueue(w io.Writer, entries []queue.Entry, drops []mta.DropInfo, now time.Time, who func(int) string) {
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Created.Before(entries[j].Created) })
	if len(entries) > 0 || len(drops) == 0 {
		queue.FormatList(w, entries, now)
	}
	mta.FormatDrops(w, drops, now, who)
}

// userDropQueue is "queue drop ID..." for a user of the system MTA:
// queue IDs through the daemon, maildrop names (32 hex digits) directly
// (the sticky maildrop lets a file's owner remove it).
func userDropQueue(ctx context.Context, env *Env, h mta.Handoff, ids []string) error {
	qc := mta.QueryClient{Socket: querySocketFor(env, h)}
	var errs []error
	for _, id := range ids {
		switch {
		case mta.ValidDropName(id):
			if err := mta.RemoveOwnDrop(dropRecordDir(env), h.Maildrop, id); err != nil {
				errs = append(errs, sysexits.New(sysexits.NoPerm, fmt.Errorf("%s is not one of your messages in the maildrop (mailq lists them): nothing was dropped", id)))
				continue
			}
			fmt.Fprintf(env.Stderr, "gsendmail: dropped %s from the maildrop %s\n", id, h.Maildrop)
		case queue.ValidID(id):
			if err := qc.Drop(ctx, id); err != nil {
				errs = append(errs, err)
				if errors.Is(err, mta.ErrDaemonDown) {
					return errors.Join(errs...)
				}
				continue
			}
			fmt.Fprintf(env.Stderr, "gsendmail: dropped %s from the daemon's queue\n", id)
		default:
			errs = append(errs, usageErr("%q is not a queue ID or maildrop name: see mailq", id))
		}
	}
	return errors.Join(errs...)
}

// daemonMaildrop lists the maildrop for the daemon user's own mailq
// (root's, through asDaemonUser); nil when this is not the daemon.
func daemonMaildrop(env *Env, file *config.File) []mta.DropInfo {
	if file == nil || file.SystemMTA == nil {
		return nil
	}
	if uid, err := lookupUserID(file.SystemMTA.DaemonUser); err != nil || uid != os.Geteuid() {
		return nil
	}
	dir := mta.DefaultMaildrop
	if s := env.Getenv(envMaildrop); s != "" {
		dir = s
	}
	drops, _ := mta.ListDrops(dir)
	return drops
}

// dropFromMaildrop removes maildrop file name for the daemon user (root's
// "queue drop NAME" of what its mailq lists); false when this is not the
// daemon or there is no such file.
func dropFromMaildrop(env *Env, file *config.File, name string) (string, bool) {
	if !mta.ValidDropName(name) || file == nil || file.SystemMTA == nil {
		return "", false
	}
	if uid, err := lookupUserID(file.SystemMTA.DaemonUser); err != nil || uid != os.Geteuid() {
		return "", false
	}
	dir := mta.DefaultMaildrop
	if s := env.Getenv(envMaildrop); s != "" {
		dir = s
	}
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		return "", false
	}
	return dir, true
}

// userName is the login name of uid, or "uid N".
func userName(uid int) string {
	if pw, err := config.LookupUser(uid); err == nil && pw != nil {
		return pw.Name
	}
	return "uid " + strconv.Itoa(uid)
}
