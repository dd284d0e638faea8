// Package mta_test runs gsendmail as a machine's MTA with the real
// daemons that mail for users (Debian's cron, atd, sudo, PHP) and checks
// what arrives at a private Postfix + Dovecot: every user's mail, sent
// with the one system account's credentials, while no user can read them.
//
// The machine's own files are never changed: each test builds a private
// mount namespace (unshare -m --propagation private) in which the test's
// files are mounted over /usr/sbin/sendmail, /etc (an overlay),
// /var/spool and /run, and starts the daemons inside it with nsenter,
// with the clean environment systemd gives them. It needs root, and adds
// the system users it needs when missing (gsendmail, gsm-alice): CI runs
// on a disposable machine. Without root or the programs the tests skip;
// with GSENDMAIL_REQUIRE_REAL_SERVERS=1 they fail instead.
package mta_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	account   = "machine@gsendmail.test" // the system account at the test Postfix
	daemonUsr = "gsendmail"
	alice     = "gsm-alice" // an ordinary user
	aliceName = "Alice Example"
	// aliceAccount is alice's own account at the test Postfix, for her
	// own configuration.
	aliceAccount  = "alice@gsendmail.test"
	alicePassword = "alice-own-pw"
	// cronWait bounds how long a minute-granular cron job takes to run and
	// its mail to arrive (the brief's ~70 s); a hang guard.
	cronWait = 100 * time.Second
)

// systemPath is the PATH systemd gives a system service.
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func require(t *testing.T, programs ...string) {
	t.Helper()
	mailserver.Require(t)
	for _, p := range append([]string{"unshare", "nsenter", "runuser", "useradd", "mount"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			fixture.Missing(t, p+" not found: run internal/testkit/testenv/install-deps.sh")
		}
	}
	if _, err := os.Stat("/usr/sbin/sendmail"); err != nil {
		// A bind mount needs a file to cover; postfix provides one.
		t.Fatalf("/usr/sbin/sendmail is missing (install postfix, as install-deps.sh does): %v", err)
	}
}

// ensureUser adds a user when missing and returns its uid and gid.
func ensureUser(t *testing.T, name string, args ...string) (int, int) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		cmd := exec.Command("useradd", append(args, name)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// machine is one private mount namespace dressed as a system-MTA install.
type machine struct {
	t        *testing.T
	dir      string // world-traversable test root
	bin      string // the gsendmail binary, world-executable
	srv      *mailserver.Server
	secret   string // the account password: the sentinel no user may read
	holder   *exec.Cmd
	spool    string // mounted on /var/spool
	daemonU  int
	daemonG  int
	aliceU   int
	aliceG   int
	children []*exec.Cmd
	outputs  []*bytes.Buffer
	deb      bool // /usr is an overlay for dpkg; /usr/sbin/sendmail is not replaced
}

func newMachine(t *testing.T) *machine { return newMachineWith(t, "") }

// newMachineWith is newMachine with lines added to the [system] table.
func newMachineWith(t *testing.T, systemExtra string) *machine {
	t.Helper()
	return newMachineOpts(t, systemExtra, false)
}

func newMachineOpts(t *testing.T, systemExtra string, deb bool) *machine {
	t.Helper()
	require(t, "/usr/sbin/cron")
	// e2e/deb renames /usr/sbin/sendmail while it runs, which would
	// drop the namespace's mount over it.
	fixture.HoldSystemSendmail(t)
	m := &machine{t: t, deb: deb}
	m.daemonU, m.daemonG = ensureUser(t, daemonUsr, "--system", "--user-group", "--home-dir", "/var/lib/gsendmail", "--no-create-home", "--shell", "/usr/sbin/nologin")
	m.aliceU, m.aliceG = ensureUser(t, alice, "--create-home", "--user-group", "--comment", aliceName+",,,", "--shell", "/bin/sh")
	var rnd [12]byte
	rand.Read(rnd[:])
	m.secret = "SENTINEL-" + hex.EncodeToString(rnd[:])
	m.srv = mailserver.Start(t, mailserver.Options{Users: map[string]string{account: m.secret, aliceAccount: alicePassword}})

	dir, err := os.MkdirTemp("", "gsendmail-mta-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m.dir = dir
	must(t, os.Chmod(dir, 0o755))
	m.bin = filepath.Join(dir, "gsendmail")
	copyFile(t, testbin.Path(t), m.bin, 0o755)
	m.spool = filepath.Join(dir, "spool")
	m.layout(systemExtra)
	m.startNamespace()
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, mode))
	must(t, os.Chmod(dst, mode))
}

// mkdir creates dir with mode and owner.
func mkdir(t *testing.T, dir string, mode os.FileMode, uid, gid int) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.Chown(dir, uid, gid))
	must(t, os.Chmod(dir, mode))
}

func write(t *testing.T, path, text string, mode os.FileMode, uid, gid int) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(text), 0o600))
	must(t, os.Chown(path, uid, gid))
	must(t, os.Chmod(path, mode))
}

func groupID(t *testing.T, name string) int {
	g, err := user.LookupGroup(name)
	must(t, err)
	id, _ := strconv.Atoi(g.Gid)
	return id
}

// layout writes the files a .deb install has: the system config
// (0600 gsendmail), its password file, the spool with the queue and the
// maildrop, cron's spool.
func (m *machine) layout(systemExtra string) {
	t := m.t
	etc := filepath.Join(m.dir, "etc") // copied into the /etc overlay
	mkdir(t, etc, 0o755, 0, 0)
	mkdir(t, filepath.Join(etc, "gsendmail"), 0o700, m.daemonU, m.daemonG)
	_, port, _ := strings.Cut(m.srv.SubmissionAddr, ":")
	copyFile(t, m.srv.CAFile, filepath.Join(etc, "gsendmail", "ca.pem"), 0o644)
	write(t, filepath.Join(etc, "gsendmail", "password"), m.secret+"\n", 0o600, m.daemonU, m.daemonG)
	logDir := filepath.Join(m.dir, "log")
	mkdir(t, logDir, 0o700, m.daemonU, m.daemonG)
	write(t, filepath.Join(etc, "gsendmail.toml"), fmt.Sprintf(`default_account = "sys"

[account.sys]
host = "localhost"
port = %s
tls = "starttls"
tls_trust_file = "/etc/gsendmail/ca.pem"
user = %q
password_file = "/etc/gsendmail/password"
from = %q
local_domain = "gsendmail.test"
queue = true
logfile = %q

[system]
sender = "account"
%s
`, port, account, account, filepath.Join(logDir, "gsendmail.log"), systemExtra), 0o600, m.daemonU, m.daemonG)

	mkdir(t, filepath.Join(m.dir, "run-gsendmail"), 0o755, m.daemonU, m.daemonG)
	mkdir(t, filepath.Join(m.dir, "alice-home"), 0o750, m.aliceU, m.aliceG)
	mkdir(t, m.spool, 0o755, 0, 0)
	mkdir(t, filepath.Join(m.spool, "cron"), 0o755, 0, 0)
	mkdir(t, filepath.Join(m.spool, "cron", "crontabs"), os.ModeSticky|0o730, 0, groupID(t, "crontab"))
	if d, err := user.Lookup("daemon"); err == nil { // atd's spool, as the at package makes it
		uid, _ := strconv.Atoi(d.Uid)
		gid, _ := strconv.Atoi(d.Gid)
		mkdir(t, filepath.Join(m.spool, "cron", "atjobs"), os.ModeSticky|0o770, uid, gid)
		mkdir(t, filepath.Join(m.spool, "cron", "atspool"), os.ModeSticky|0o770, uid, gid)
		write(t, filepath.Join(m.spool, "cron", "atjobs", ".SEQ"), "0\n", 0o600, uid, gid)
	}
	mkdir(t, filepath.Join(m.spool, "gsendmail"), 0o711, m.daemonU, m.daemonG)
	mkdir(t, filepath.Join(m.spool, "gsendmail", "maildrop"), os.ModeSticky|0o733, m.daemonU, m.daemonG)
}

// startNamespace starts a process holding a private mount namespace with
// the test's files mounted over the system's.
func (m *machine) startNamespace() {
	t := m.t
	ovl := filepath.Join(m.dir, "ovl")
	must(t, os.MkdirAll(ovl, 0o700))
	script := fmt.Sprintf(`set -e
mount -t tmpfs -o mode=0700 tmpfs %[1]s
mkdir %[1]s/upper %[1]s/work
mount -t overlay overlay -o lowerdir=/etc,upperdir=%[1]s/upper,workdir=%[1]s/work /etc
cp -a %[2]s/etc/gsendmail %[2]s/etc/gsendmail.toml /etc/
# Only the test's jobs: no system crontab, no /etc/cron.d.
: > /etc/crontab
rm -rf /etc/cron.d && mkdir /etc/cron.d
# A container has no audit login uid to set.
sed -i 's/^session *required *pam_loginuid.so/session optional pam_loginuid.so/' /etc/pam.d/cron /etc/pam.d/atd 2>/dev/null || true
# /var/lib: the daemon's state directory (tokens, caches) only here.
mkdir %[1]s/lib-upper %[1]s/lib-work
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=%[1]s/lib-upper,workdir=%[1]s/lib-work /var/lib
mkdir -p -m 0700 /var/lib/gsendmail && chown %[5]d:%[6]d /var/lib/gsendmail
mount --bind %[2]s/alice-home %[7]s
# root's home too: what sendmail notes there (its maildrop files, for
# mailq) stays in the test.
mount -t tmpfs -o mode=0700 tmpfs /root
if [ -n "%[8]s" ]; then
	# A package test: /usr (and /lib, a link into it) is an overlay too,
	# so that dpkg installs the package here only.
	mkdir %[1]s/usr-upper %[1]s/usr-work
	mount -t overlay overlay -o lowerdir=/usr,upperdir=%[1]s/usr-upper,workdir=%[1]s/usr-work /usr
else
	mount --bind %[3]s /usr/sbin/sendmail
fi
mount --bind %[4]s /var/spool
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/gsendmail && mount --bind %[2]s/run-gsendmail /run/gsendmail
echo ready
exec sleep 100000
`, ovl, m.dir, m.bin, m.spool, m.daemonU, m.daemonG, "/home/"+alice, map[bool]string{true: "deb"}[m.deb])
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	out, err := cmd.StdoutPipe()
	must(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	m.holder = cmd
	t.Cleanup(func() {
		m.stopChildren()
		cmd.Process.Kill()
		cmd.Wait()
	})
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		cmd.Wait()
		t.Fatalf("setting up the mount namespace: %v\n%s", err, stderr.String())
	}
}

// ns returns a command run inside the namespace with env (nothing else
// of the test's environment).
func (m *machine) ns(env []string, name string, args ...string) *exec.Cmd {
	full := append([]string{"-t", strconv.Itoa(m.holder.Process.Pid), "-m", "--", "env", "-i"}, env...)
	full = append(full, name)
	cmd := exec.Command("nsenter", append(full, args...)...)
	return cmd
}

// daemon starts a long-running program inside the namespace.
func (m *machine) daemon(env []string, name string, args ...string) *exec.Cmd {
	m.t.Helper()
	cmd := m.ns(env, name, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that stopping it reaches what it forked
	// (runuser's child, cron's jobs); and a pipe a stray grandchild keeps
	// open never holds Wait.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	must(m.t, cmd.Start())
	m.children = append(m.children, cmd)
	m.outputs = append(m.outputs, out)
	return cmd
}

// stopChildren stops the daemons started with daemon.
func (m *machine) stopChildren() {
	for _, c := range m.children {
		if c.Process != nil && c.ProcessState == nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
		}
	}
	m.children = nil
}

// output is what the daemons printed.
func (m *machine) output() string {
	var b strings.Builder
	for _, o := range m.outputs {
		b.Write(o.Bytes())
	}
	return b.String()
}

// startServe starts the system MTA daemon as the systemd unit does: the
// gsendmail user, a clean environment, the system configuration, the
// submission socket; it returns once the socket accepts connections.
func (m *machine) startServe() *exec.Cmd {
	m.t.Helper()
	return m.startServeArgs([]string{"-C", "/etc/gsendmail.toml", "serve", "--listen", "/run/gsendmail/submit.sock"})
}

// startServeArgs starts m.bin with args as the daemon user.
func (m *machine) startServeArgs(args []string) *exec.Cmd {
	m.t.Helper()
	sock := filepath.Join(m.dir, "run-gsendmail", "submit.sock")
	os.Remove(sock)
	cmd := m.daemon([]string{"PATH=" + systemPath, "LANG=C.UTF-8"}, "runuser", append([]string{"-u", daemonUsr, "--", m.bin}, args...)...)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatalf("gsendmail serve did not listen on %s within 20s\n%s", sock, m.output())
	return nil
}

// stopServe stops a daemon started with startServe (SIGTERM, as systemctl
// stop does) and waits for it.
func (m *machine) stopServe(cmd *exec.Cmd) {
	m.t.Helper()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		m.t.Fatalf("gsendmail serve did not stop on SIGTERM\n%s", m.output())
	}
	for i, c := range m.children {
		if c == cmd {
			m.children = append(m.children[:i], m.children[i+1:]...)
			break
		}
	}
}

// as runs a shell command inside the namespace as user, the way su does.
func (m *machine) as(user, script string) (string, error) {
	out, err := m.ns([]string{"PATH=" + systemPath}, "runuser", "-u", user, "--", "/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
}

// crontab installs a user's crontab as crontab(1) would.
func (m *machine) crontab(user string, uid int, text string) {
	m.t.Helper()
	write(m.t, filepath.Join(m.spool, "cron", "crontabs", user), text, 0o600, uid, groupID(m.t, "crontab"))
}

// deliveries waits for n messages at the test Postfix.
func (m *machine) deliveries(n int, timeout time.Duration) []mailserver.Delivery {
	return m.srv.WaitDeliveries(m.t, n, timeout)
}

// saslUsers counts the Postfix log's sasl_username= entries per name.
func (m *machine) saslUsers() map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(m.srv.Log(), "\n") {
		if _, after, ok := strings.Cut(l, "sasl_username="); ok {
			name, _, _ := strings.Cut(after, " ")
			out[strings.TrimRight(name, ",")]++
		}
	}
	return out
}

func header(d mailserver.Delivery, name string) string {
	h, _, _ := bytes.Cut(mailserver.LF(d.Original()), []byte("\n\n"))
	for _, l := range strings.Split(string(h), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
