// Package mailserver runs a private, real Postfix + Dovecot pair on loopback
// for tests: Postfix for SMTP submission (STARTTLS on one port, implicit TLS
// on another, optionally a plain port) with strict HELO checks, Dovecot as
// its SASL server (PLAIN, LOGIN and, against a caller-provided HTTP
// authorization server, XOAUTH2/OAUTHBEARER), and a pipe(8) transport that
// captures every accepted message byte for byte with its envelope.
//
// It owns the configuration, start and stop of those daemons and the
// capture directory. It does not own an SMTP client (tests bring their own),
// the OAuth2 authorization server (the caller passes its URL), or installing
// the packages (internal/testkit/testenv/install-deps.sh does that).
//
// Requirements: root, Debian's postfix and dovecot-core. Nothing under
// /etc/postfix or /etc/dovecot is used or changed; every instance lives in
// its own temporary directory with its own ports, so several can run at the
// same time.
package mailserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Hostname is the server's myhostname; the good certificate is valid for it,
// for "localhost" and for 127.0.0.1.
const Hostname = "mail.gsendmail.test"

// DefaultMessageSizeLimit is message_size_limit when Options leaves it 0:
// 200 MB, so 100 MB messages fit.
const DefaultMessageSizeLimit = 200 << 20

// RequireEnv is the environment variable that turns a missing real-server
// setup from a skip into a failure (set by .ci/run).
const RequireEnv = "GSENDMAIL_REQUIRE_REAL_SERVERS"

// KeepEnv, when "1", keeps an instance's directory after Stop for debugging.
const KeepEnv = "GSENDMAIL_KEEP_MAILSERVER"

const (
	postfixBin = "/usr/sbin/postfix"
	dovecotBin = "/usr/sbin/dovecot"
	masterBin  = "/usr/lib/postfix/sbin/master"
)

// Options configures a server. The zero value is a server with no users,
// STARTTLS and implicit TLS ports and a good certificate.
type Options struct {
	// Users maps SASL user names to passwords for PLAIN and LOGIN. Names
	// are compared lower-cased (Dovecot's default auth_username_format)
	// and may use letters, digits and . - _ @ (auth_username_chars).
	Users map[string]string

	// OAuthTokenInfoURL and OAuthIntrospectionURL enable XOAUTH2 and
	// OAUTHBEARER through Dovecot's oauth2 passdb; see oauthConf for the
	// exact requests Dovecot makes and the responses it accepts.
	OAuthTokenInfoURL     string
	OAuthIntrospectionURL string
	// OAuthUsernameAttribute is the JSON field that must equal the SASL
	// user name; default "email".
	OAuthUsernameAttribute string

	// Plain adds a service without TLS where AUTH is allowed in clear.
	Plain bool

	// CertKind selects the server certificate: CertGood (default),
	// CertExpired, CertWrongName or CertSelfSigned.
	CertKind string

	// MessageSizeLimit is Postfix's message_size_limit in bytes; 0 means
	// DefaultMessageSizeLimit.
	MessageSizeLimit int64

	// ExtraMain overrides or adds main.cf parameters, e.g.
	// {"smtpd_helo_restrictions": ""} to accept any HELO name, or
	// {"smtpd_helo_restrictions": "reject_unknown_helo_hostname"}.
	ExtraMain map[string]string

	// ExecPrefix runs Postfix's master under this command, e.g. the
	// private DNS namespace of internal/testkit/testenv/dnsserver (Server.Prefix),
	// so that its DNS checks (reject_unknown_helo_hostname) ask the
	// test's DNS server: smtpd runs without chroot and reads
	// /etc/resolv.conf as the namespace shows it.
	ExecPrefix []string
}

func (o Options) oauth() bool {
	return o.OAuthTokenInfoURL != "" || o.OAuthIntrospectionURL != ""
}

// Server is a running instance.
type Server struct {
	SubmissionAddr string // "127.0.0.1:port": STARTTLS required (encrypt)
	SMTPSAddr      string // "127.0.0.1:port": implicit TLS
	PlainAddr      string // "127.0.0.1:port" when Options.Plain, else ""
	CAFile         string // PEM of the CA that signed the server certificate
	Fingerprint    string // hex SHA-256 of the server certificate's DER
	Hostname       string // Postfix's myhostname (Hostname)
	CaptureDir     string // where delivered messages land (*.msg files)
	Dir            string // the instance's root directory

	l          layout
	execPrefix []string
	dovecot    *exec.Cmd
	dovecotCh  chan struct{} // closed when the dovecot process has exited
	stopOnce   sync.Once
	stopErr    error
}

// Available reports why real servers cannot run here, or nil when they can:
// we must be root and Postfix, Dovecot and their system users must exist.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("real mail servers need root (private Postfix instance): run the tests as root, e.g. in the CI container")
	}
	for _, bin := range []string{postfixBin, masterBin, dovecotBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s not found: run internal/testkit/testenv/install-deps.sh", bin)
		}
	}
	for _, u := range []string{"postfix", "dovecot", "dovenull", "nobody"} {
		if _, err := user.Lookup(u); err != nil {
			return fmt.Errorf("system user %q missing: run internal/testkit/testenv/install-deps.sh", u)
		}
	}
	if _, err := user.LookupGroup("postdrop"); err != nil {
		return errors.New("system group \"postdrop\" missing: run internal/testkit/testenv/install-deps.sh")
	}
	return nil
}

// Require skips the test when real servers are unavailable, or fails it when
// GSENDMAIL_REQUIRE_REAL_SERVERS=1 (CI must not silently skip).
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v (%s=1)", err, RequireEnv)
	}
	t.Skipf("skipping real-server test: %v (set %s=1 to fail instead)", err, RequireEnv)
}

// Start starts a server for the test and stops it in t.Cleanup. It calls
// Require first. On failure it fails the test with the log tails.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	s, err := StartProcess(o)
	if err != nil {
		t.Fatalf("start mail server: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix maillog (tail):\n%s\ndovecot log (tail):\n%s",
				tail(s.Log(), 40), tail(s.DovecotLog(), 20))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop mail server: %v", err)
		}
	})
	return s
}

// StartProcess starts a server that lives until Stop; for tools and
// benchmarks. The caller must call Stop.
func StartProcess(o Options) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := validate(o); err != nil {
		return nil, err
	}
	var err error
	// A port picked as free can be taken by another process before Postfix
	// binds it; retry with new ports in that (rare) case.
	for attempt := 0; attempt < 3; attempt++ {
		var s *Server
		s, err = start(o)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}
	return nil, err
}

var errAddrInUse = errors.New("address already in use")

func validate(o Options) error {
	for u, p := range o.Users {
		if u == "" || strings.ContainsAny(u, ":\n\r\x00") || strings.ContainsAny(p, "\n\r\x00") {
			return fmt.Errorf("user %q: names must be non-empty without ':' or control characters, passwords without line breaks or NUL", u)
		}
	}
	for k, v := range o.ExtraMain {
		if k == "" || strings.ContainsAny(k, " =\n\r") || strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("ExtraMain %q: parameter names must be single words and values single lines", k)
		}
	}
	for _, u := range []string{o.OAuthTokenInfoURL, o.OAuthIntrospectionURL, o.OAuthUsernameAttribute} {
		if strings.ContainsAny(u, "\n\r") {
			return errors.New("OAuth settings must be single lines")
		}
	}
	return nil
}

func start(o Options) (_ *Server, err error) {
	base := tempBase()
	reapOnce.Do(func() { reapOrphans(base) })
	root, err := os.MkdirTemp(base, "gsm-")
	if err != nil {
		return nil, err
	}
	if err := writeOwner(root); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	s := &Server{Dir: root, Hostname: Hostname, l: newLayout(root), execPrefix: o.ExecPrefix}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\npostfix maillog (tail):\n%s\ndovecot log (tail):\n%s",
				err, tail(s.Log(), 30), tail(s.DovecotLog(), 15))
			if stopErr := s.Stop(); stopErr != nil {
				err = fmt.Errorf("%w\nstop after failed start: %v", err, stopErr)
			}
		}
	}()
	// Postfix daemons (postfix, nobody, dovecot) must traverse root.
	if err := os.Chmod(root, 0o755); err != nil {
		return s, err
	}
	var p ports
	if p.submission, err = freePort(); err != nil {
		return s, err
	}
	if p.smtps, err = freePort(); err != nil {
		return s, err
	}
	if o.Plain {
		if p.plain, err = freePort(); err != nil {
			return s, err
		}
		s.PlainAddr = fmt.Sprintf("127.0.0.1:%d", p.plain)
	}
	s.SubmissionAddr = fmt.Sprintf("127.0.0.1:%d", p.submission)
	s.SMTPSAddr = fmt.Sprintf("127.0.0.1:%d", p.smtps)
	s.CAFile = s.l.caFile
	s.CaptureDir = s.l.capture

	tm, err := newTLSMaterial(o.CertKind, time.Now())
	if err != nil {
		return s, err
	}
	s.Fingerprint = tm.fingerprint
	if err := s.writeFiles(o, p, tm); err != nil {
		return s, err
	}
	if err := s.startDovecot(); err != nil {
		return s, err
	}
	// No test connection afterwards: master -w has bound every port,
	// and a probe would only add "lost connection" noise to the maillog.
	if err := s.startPostfix(); err != nil {
		return s, err
	}
	return s, nil
}

func (s *Server) writeFiles(o Options, p ports, tm *tlsMaterial) error {
	l := s.l
	ids, err := lookupIDs()
	if err != nil {
		return err
	}
	type dir struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}
	// The queue layout from /etc/postfix/postfix-files. "postfix start"
	// would create it in postfix-script check-fatal (post-install, then a
	// find over the queue in check-warn), which takes seconds; we create it
	// and start master directly (startPostfix). The quick-start file makes
	// a manual "postfix -c DIR start" on a kept instance skip those checks.
	dirs := []dir{
		{l.etc, 0, 0, 0o755},
		{l.spool, 0, 0, 0o755},
		{l.data, ids.postfix, 0, 0o700},
		{l.capture, ids.nobody, ids.nogroup, 0o755},
		{l.dovecotDir, 0, 0, 0o755},
		{l.spool + "/pid", 0, 0, 0o755},
		{l.spool + "/maildrop", ids.postfix, ids.postdrop, 0o730},
		{l.spool + "/public", ids.postfix, ids.postdrop, 0o710},
	}
	for _, q := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace"} {
		dirs = append(dirs, dir{l.spool + "/" + q, ids.postfix, 0, 0o700})
	}
	for _, d := range dirs {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			return err
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			return err
		}
		if err := os.Chmod(d.path, d.mode); err != nil { // umask
			return err
		}
	}
	type file struct {
		path     string
		data     string
		uid, gid int
		mode     os.FileMode
	}
	var users strings.Builder
	for u, pw := range o.Users {
		fmt.Fprintf(&users, "%s:{PLAIN}%s\n", strings.ToLower(u), pw)
	}
	files := []file{
		{l.etc + "/main.cf", mainCF(l, o), 0, 0, 0o644},
		{l.etc + "/master.cf", masterCF(l, p), 0, 0, 0o644},
		// smtpd loads the key as root before dropping privileges.
		{l.chain, string(tm.keyPEM) + string(tm.certPEM), 0, 0, 0o600},
		{l.caFile, string(tm.caPEM), 0, 0, 0o644},
		{l.root + "/server.pem", string(tm.certPEM), 0, 0, 0o644},
		{l.captureSh, captureScript, 0, 0, 0o755},
		{l.spool + "/quick-start", "", 0, 0, 0o644},
		{l.dovecotCfg, dovecotConf(l, o, filepath.Base(l.root)), 0, 0, 0o644},
		// Read by the auth process, which runs as "dovecot".
		{l.users, users.String(), 0, ids.dovecot, 0o640},
	}
	if o.oauth() {
		files = append(files, file{l.oauthCfg, oauthConf(o), 0, ids.dovecot, 0o640})
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chown(f.path, f.uid, f.gid); err != nil {
			return err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return err
		}
		// Postfix refuses to load a main.cf modified within the last
		// second (it may still be being written: dict_load_file) and
		// polls every 0.3 s until it is old enough; backdating saves
		// ~1.5 s per start, in master and again in each daemon.
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(f.path, old, old); err != nil {
			return err
		}
	}
	return nil
}

type sysIDs struct {
	postfix, postdrop, dovecot, nobody, nogroup int
}

func lookupIDs() (sysIDs, error) {
	var ids sysIDs
	for _, x := range []struct {
		name  string
		group bool
		dst   *int
	}{
		{"postfix", false, &ids.postfix},
		{"postdrop", true, &ids.postdrop},
		{"dovecot", true, &ids.dovecot},
		{"nobody", false, &ids.nobody},
		{"nogroup", true, &ids.nogroup},
	} {
		var id string
		if x.group {
			g, err := user.LookupGroup(x.name)
			if err != nil {
				return ids, fmt.Errorf("look up group %s: %w", x.name, err)
			}
			id = g.Gid
		} else {
			u, err := user.Lookup(x.name)
			if err != nil {
				return ids, fmt.Errorf("look up user %s: %w", x.name, err)
			}
			id = u.Uid
		}
		n, err := strconv.Atoi(id)
		if err != nil {
			return ids, err
		}
		*x.dst = n
	}
	return ids, nil
}

// startDovecot runs "dovecot -F" as our child, so Stop can always reap it,
// and waits for the auth socket Postfix will use.
func (s *Server) startDovecot() error {
	cmd := exec.Command(dovecotBin, "-F", "-c", s.l.dovecotCfg)
	out, err := os.Create(s.l.dovecotDir + "/stderr")
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dovecot: %w", err)
	}
	s.dovecot = cmd
	s.dovecotCh = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.dovecotCh)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(s.l.authSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		select {
		case <-s.dovecotCh:
			b, _ := os.ReadFile(s.l.dovecotDir + "/stderr")
			return fmt.Errorf("dovecot exited at start: %s", strings.TrimSpace(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("dovecot auth socket did not appear within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) startPostfix() error {
	out, err := os.Create(s.l.startOut)
	if err != nil {
		return err
	}
	defer out.Close()
	// "master -c DIR -w" is what "postfix -c DIR start" ends in when the
	// queue holds a quick-start file; calling it directly saves the
	// postfix-script shell and its postconf runs (~0.1-1 s under load).
	// -w returns once master has bound every listener, or fails.
	argv := append(append([]string(nil), s.execPrefix...), masterBin, "-c", s.l.etc, "-w")
	cmd := exec.Command(argv[0], argv[1:]...)
	// Files, not pipes: the daemonised master must not keep us waiting
	// for EOF on an inherited pipe.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(s.l.startOut)
		if bytes.Contains(b, []byte("in use")) || strings.Contains(s.Log(), "in use") {
			return fmt.Errorf("postfix master: %w", errAddrInUse)
		}
		return fmt.Errorf("postfix master: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// masterPID returns the pid in the queue's pid/master.pid, or 0.
func (s *Server) masterPID() int {
	b, err := os.ReadFile(s.l.spool + "/pid/master.pid")
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	// A stale pid file (orphaned instance, see reap.go) may name a reused
	// pid: only trust it if that process is our master.
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmd, []byte("\x00-c\x00"+s.l.etc+"\x00")) {
		return 0
	}
	return pid
}

// Stop stops Postfix and Dovecot and removes the instance directory (kept
// when GSENDMAIL_KEEP_MAILSERVER=1). It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	// Equivalent to "postfix -c DIR stop", which sleeps a whole second
	// before its first re-check: SIGTERM makes master terminate its
	// process group; SIGKILL the group if it does not go away.
	if pid := s.masterPID(); pid != 0 && alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(pid, 5*time.Second) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			if !waitGone(pid, 2*time.Second) {
				errs = append(errs, fmt.Errorf("postfix master %d did not exit", pid))
			}
		}
		// Master is a session leader (setsid); anything left in its
		// process group is one of its daemons that ignored SIGTERM.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if s.dovecot != nil && s.dovecot.Process != nil {
		// SIGKILL, not SIGTERM: Dovecot's graceful shutdown waits 1-5 s
		// for its children, and this instance is thrown away anyway. The
		// children (named "dovecot-<instance>/...") exit when their
		// master dies; killDovecotChildren makes sure of it.
		_ = s.dovecot.Process.Kill()
		select {
		case <-s.dovecotCh:
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("dovecot did not exit after SIGKILL"))
		}
	}
	if err := killDovecotChildren("dovecot-"+filepath.Base(s.Dir)+"/", 2*time.Second); err != nil {
		errs = append(errs, err)
	}
	if os.Getenv(KeepEnv) != "1" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
	} else {
		// Kept for debugging: no owner, so reapOrphans leaves it alone.
		_ = os.Remove(filepath.Join(s.Dir, ownerFile))
	}
	return errors.Join(errs...)
}

// killDovecotChildren kills processes whose command line starts with
// prefix (Dovecot sets argv[0] of its children to "dovecot-<instance>/name")
// and waits up to d for them to be gone.
func killDovecotChildren(prefix string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pids := findProcs(prefix)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot processes %v did not exit", pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func findProcs(prefix string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(b, []byte(prefix)) || !alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// alive reports whether pid exists and is not a zombie (the daemonised
// master is not our child; whoever inherits it may reap it late).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// "pid (comm) S ..." — the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Log returns the Postfix maillog so far (e.g. to assert "Helo command
// rejected").
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.l.maillog)
	return string(b)
}

// DovecotLog returns Dovecot's log so far (auth failures and oauth2 debug).
func (s *Server) DovecotLog() string {
	b, _ := os.ReadFile(s.l.dovecotLog)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tempBase is $TMPDIR when the Postfix and Dovecot users can traverse it
// (a private 0700 TMPDIR would lock them out of the instance), else /tmp.
// Socket paths inside must stay under 108 bytes, so long TMPDIRs are
// skipped as well.
func tempBase() string {
	dir := filepath.Clean(os.TempDir())
	if len(dir) > 40 || !filepath.IsAbs(dir) {
		return "/tmp"
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
