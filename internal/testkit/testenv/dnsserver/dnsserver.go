// Package dnsserver is the tests' private DNS: a Debian dnsmasq on a
// loopback address of its own (127.53.x.y, port 53), answering only from
// the records a test gives it (--no-resolv, --no-hosts, no config file),
// and a private mount namespace whose /etc/resolv.conf and /etc/hosts are
// bind-mounted test files, for the process under test.
//
// The machine's own /etc/resolv.conf and /etc/hosts are never touched: the
// bind mounts exist only inside the namespace that `unshare -m
// --propagation private` creates for one command (and a UTS namespace, so
// a test can give that command its own host name).
//
// Two ways to use it:
//   - Resolver returns a *net.Resolver whose Dial goes to the server, for
//     unit tests of code that takes an injected resolver (ehlo, doctor,
//     setup);
//   - Command wraps a command so that it runs inside the namespace; it then
//     reads the test resolv.conf (Go and glibc alike) and the test hosts
//     file. A private Postfix started through Command's argv does its
//     helo checks against the private DNS.
//
// Names under a domain listed in Options.Local that have no record get
// NXDOMAIN; any other name gets REFUSED (there is no upstream).
package dnsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv turns a missing dnsmasq/unshare/root into a failure instead of
// a skip (set by .ci/run); the same variable as the mail servers use.
const RequireEnv = "GSENDMAIL_REQUIRE_REAL_SERVERS"

const (
	dnsmasqBin = "/usr/sbin/dnsmasq"
	unshareBin = "/usr/bin/unshare"
)

// Record kinds, one dnsmasq option each.
type (
	// Host is an A or AAAA record with the matching PTR (--host-record).
	Host struct{ Name, Addr string }
	// Address is an A or AAAA record without a PTR (--address=/name/addr;
	// dnsmasq also answers it for names below Name).
	Address struct{ Name, Addr string }
	// PTR maps an address to a name and nothing back (--ptr-record).
	PTR struct{ Addr, Name string }
	// MX is an MX record (--mx-host).
	MX struct {
		Name, Target string
		Pref         int
	}
	// SRV is an SRV record (--srv-host). Name is the full owner, e.g.
	// "_submission._tcp.example.org"; Target "." with Port 0 is RFC 2782's
	// "service not available".
	SRV struct {
		Name, Target           string
		Port, Priority, Weight int
	}
)

// Options are the records the server answers.
type Options struct {
	Hosts     []Host
	Addresses []Address
	PTRs      []PTR
	MXs       []MX
	SRVs      []SRV
	// Local lists domains the server is authoritative for: names below
	// them without a record get NXDOMAIN. Reverse zones of PTR and Host
	// addresses need not be listed.
	Local []string
}

// Server is a running dnsmasq.
type Server struct {
	// Addr is the loopback address it listens on, port 53.
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Available says why the private DNS cannot run here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("the private DNS needs root (port 53, mount namespaces): run the tests as root, e.g. in the CI container")
	}
	for _, bin := range []string{dnsmasqBin, unshareBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s not found: run internal/testkit/testenv/install-deps.sh", bin)
		}
	}
	if err := namespaceWorks(); err != nil {
		return err
	}
	return nil
}

var (
	nsOnce sync.Once
	nsErr  error
)

// namespaceWorks checks once per process that a private mount namespace
// with a bind mount can be made (a container may forbid it).
func namespaceWorks() error {
	nsOnce.Do(func() {
		out, err := exec.Command(unshareBin, "-m", "-u", "--propagation", "private",
			"sh", "-c", "mount --bind /dev/null /etc/hosts && hostname gsendmail-nscheck && test ! -s /etc/hosts").CombinedOutput()
		if err != nil {
			nsErr = fmt.Errorf("cannot make a private mount namespace here (%v: %s)", err, strings.TrimSpace(string(out)))
		}
	})
	return nsErr
}

// Require skips the test when the private DNS cannot run, or fails it
// under GSENDMAIL_REQUIRE_REAL_SERVERS=1.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v (%s=1)", err, RequireEnv)
	}
	t.Skipf("skipping private-DNS test: %v (set %s=1 to fail instead)", err, RequireEnv)
}

// Start starts a server for the test and stops it in t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	var lastErr error
	for range 5 {
		s, err := start(t.TempDir(), o)
		if err == nil {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("dnsmasq log (tail):\n%s", s.Log())
				}
				s.stop()
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start dnsmasq: %v", lastErr)
	return nil
}

func (o Options) args(addr, logFile string) []string {
	a := []string{
		"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--port=53", "--listen-address=" + addr, "--bind-interfaces",
		"--user=root", "--pid-file=", "--no-negcache",
		"--log-queries", "--log-facility=" + logFile,
	}
	local := map[string]bool{"invalid": true}
	a = append(a, "--local=/invalid/")
	addLocal := func(d string) {
		d = strings.Trim(d, ".")
		if d != "" && !local[d] {
			local[d] = true
			a = append(a, "--local=/"+d+"/")
		}
	}
	for _, d := range o.Local {
		addLocal(d)
	}
	for _, h := range o.Hosts {
		a = append(a, "--host-record="+h.Name+","+h.Addr)
		addLocal(reverseZone(h.Addr))
	}
	for _, r := range o.Addresses {
		a = append(a, "--address=/"+r.Name+"/"+r.Addr)
	}
	for _, p := range o.PTRs {
		rev, err := reverseName(p.Addr)
		if err != nil {
			rev = p.Addr // already a reverse name
		}
		a = append(a, "--ptr-record="+rev+","+p.Name)
		addLocal(reverseZone(p.Addr))
	}
	for _, m := range o.MXs {
		a = append(a, fmt.Sprintf("--mx-host=%s,%s,%d", m.Name, m.Target, m.Pref))
	}
	for _, s := range o.SRVs {
		if s.Target == "." || s.Target == "" {
			// dnsmasq: an SRV without target is "service not available".
			a = append(a, "--srv-host="+s.Name)
			continue
		}
		a = append(a, fmt.Sprintf("--srv-host=%s,%s,%d,%d,%d", s.Name, s.Target, s.Port, s.Priority, s.Weight))
	}
	return a
}

// reverseZone is the /24 (IPv4) or /64 (IPv6) reverse zone of addr, so
// that other addresses there get NXDOMAIN rather than REFUSED.
func reverseZone(addr string) string {
	rev, err := reverseName(addr)
	if err != nil {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(rev, "."), ".")
	if strings.HasSuffix(rev, "in-addr.arpa.") {
		return strings.Join(labels[1:], ".")
	}
	return strings.Join(labels[16:], ".")
}

func reverseName(addr string) (string, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return "", fmt.Errorf("not an address: %q", addr)
	}
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", v4[3], v4[2], v4[1], v4[0]), nil
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String(), nil
}

func start(dir string, o Options) (*Server, error) {
	// A random 127.53.x.y per server: parallel tests and other programs
	// on 127.0.0.53 never collide; resolv.conf cannot name a port.
	addr := fmt.Sprintf("127.53.%d.%d", rand.IntN(254)+1, rand.IntN(254)+1)
	logFile := filepath.Join(dir, "dnsmasq.log")
	cmd := exec.Command(dnsmasqBin, o.args(addr, logFile)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	// Ready when it answers NXDOMAIN for a name of its own ".invalid".
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("dnsmasq exited: %s", strings.TrimSpace(stderr.String()))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := s.Resolver().LookupHost(ctx, "gsendmail-readiness.invalid")
		cancel()
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			if err := s.writeFiles(); err != nil {
				s.stop()
				return nil, err
			}
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("dnsmasq on %s did not answer within 5s: %s", addr, strings.TrimSpace(stderr.String()))
}

func (s *Server) writeFiles() error {
	return os.WriteFile(s.ResolvConf(), []byte("nameserver "+s.Addr+"\noptions timeout:1 attempts:1\n"), 0o644)
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// Log returns dnsmasq's query log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dnsmasq.log"))
	return string(b)
}

// ResolvConf is the path of a resolv.conf that names only this server.
func (s *Server) ResolvConf() string { return filepath.Join(s.dir, "resolv.conf") }

// Resolver returns a pure-Go resolver that asks only this server; it
// does not read /etc/resolv.conf (it still reads /etc/hosts: code under
// test that must not should take a hosts path of its own).
func (s *Server) Resolver() *net.Resolver {
	addr := net.JoinHostPort(s.Addr, "53")
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Namespace describes the private namespace a command runs in.
type Namespace struct {
	// ResolvConf is bind-mounted over /etc/resolv.conf; "" means the
	// server's own (Server.ResolvConf).
	ResolvConf string
	// Hosts is the content of the /etc/hosts seen inside; "" means
	// "127.0.0.1 localhost" only.
	Hosts string
	// Hostname, when set, is the host name inside (a private UTS namespace).
	Hostname string
}

// Prefix returns the argv that runs a command inside the namespace:
// append the command and its arguments. The files it names live in dir
// (use t.TempDir()). The process keeps its PID through unshare and sh
// (both exec), so a caller may signal it directly.
func (s *Server) Prefix(dir string, ns Namespace) ([]string, error) {
	resolv := ns.ResolvConf
	if resolv == "" {
		if s == nil {
			return nil, errors.New("dnsserver: Prefix without a server needs Namespace.ResolvConf")
		}
		resolv = s.ResolvConf()
	}
	hosts := ns.Hosts
	if hosts == "" {
		hosts = "127.0.0.1 localhost\n"
	}
	hostsFile, err := os.CreateTemp(dir, "hosts-*")
	if err != nil {
		return nil, err
	}
	if _, err := hostsFile.WriteString(hosts); err != nil {
		hostsFile.Close()
		return nil, err
	}
	if err := hostsFile.Close(); err != nil {
		return nil, err
	}
	// The namespace needs readable files for unprivileged daemons too.
	if err := os.Chmod(hostsFile.Name(), 0o644); err != nil {
		return nil, err
	}
	script := `mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts || exit 71
if [ -n "$3" ]; then hostname "$3" || exit 71; fi
shift 3
exec "$@"`
	return []string{unshareBin, "-m", "-u", "--propagation", "private", "sh", "-c", script, "sh", resolv, hostsFile.Name(), ns.Hostname}, nil
}

// Command returns cmd name args... run inside the namespace.
func (s *Server) Command(ctx context.Context, dir string, ns Namespace, name string, args ...string) (*exec.Cmd, error) {
	p, err := s.Prefix(dir, ns)
	if err != nil {
		return nil, err
	}
	p = append(p, name)
	p = append(p, args...)
	return exec.CommandContext(ctx, p[0], p[1:]...), nil
}

// DeadResolvConf writes a resolv.conf naming a loopback address where no
// server listens, for "the resolver fails" (as opposed to NXDOMAIN), and
// returns its path.
func DeadResolvConf(dir string) (string, error) {
	p := filepath.Join(dir, "resolv-dead.conf")
	// Start never picks 127.53.0.y, so nothing answers: connection refused.
	return p, os.WriteFile(p, []byte("nameserver 127.53.0.254\noptions timeout:1 attempts:1\n"), 0o644)
}
