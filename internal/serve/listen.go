package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// DefaultListen is the address served when neither --listen nor
// [serve] listen names one: loopback only.
const DefaultListen = "127.0.0.1:2525"

// UnixPath reports whether addr names a Unix socket ("/path" or
// "unix:/path") and returns the path.
func UnixPath(addr string) (string, bool) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return p, true
	}
	if strings.HasPrefix(addr, "/") {
		return addr, true
	}
	return "", false
}

// CheckAddr validates a listen address without binding it.
func CheckAddr(addr string) error {
	if p, ok := UnixPath(addr); ok {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("unix socket path %q must be absolute", p)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want HOST:PORT (127.0.0.1:2525, [::1]:2525) or a socket path: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: bad port %q", addr, port)
	}
	_ = host
	return nil
}

// IsLoopbackAddr reports whether a listen address reaches only this host:
// a Unix socket, localhost, or an address in 127.0.0.0/8 or ::1. An empty
// host (":2525", all interfaces) is not loopback.
func IsLoopbackAddr(addr string) bool {
	if _, ok := UnixPath(addr); ok {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ListenerIsLoopback is IsLoopbackAddr for a socket that is already open
// (systemd passes them).
func ListenerIsLoopback(l net.Listener) bool {
	switch a := l.Addr().(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		return a.IP != nil && a.IP.IsLoopback()
	}
	return false
}

// Listen opens one listen address. A Unix socket is created mode 0666 (the
// directory it lives in decides who may connect), after removing a stale
// socket left by a daemon that died; a live one is an error. Errors carry
// exit code 71 (cannot bind) or 78 (bad address).
func Listen(addr string) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, sysexits.New(sysexits.Config, err)
	}
	if p, ok := UnixPath(addr); ok {
		return listenUnix(p)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot listen on %s: %v: is another server using the port?", addr, unwrapOp(err)))
	}
	return l, nil
}

func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, sysexits.New(sysexits.Config, fmt.Errorf("cannot listen on %s: it exists and is not a socket: choose another path", path))
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot listen on %s: another server is accepting connections there", path))
		}
		// Stale: nobody accepts. Remove it so Listen can bind.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot remove stale socket %s: %v", path, unwrapOp(err)))
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot listen on %s: %v: check that the directory exists and is writable", path, unwrapOp(err)))
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot chmod socket %s: %v", path, unwrapOp(err)))
	}
	return l, nil
}

func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// listenFDsStart is the first file descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// SystemdListeners returns the sockets passed by systemd socket activation
// (sd_listen_fds(3): LISTEN_PID is our PID, LISTEN_FDS counts descriptors
// from 3), or nil when there are none. The variables are cleared so child
// processes (password_command) do not inherit them.
func SystemdListeners(getenv func(string) string) ([]net.Listener, error) {
	pid, fds := getenv("LISTEN_PID"), getenv("LISTEN_FDS")
	if pid == "" || fds == "" {
		return nil, nil
	}
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 64 {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("LISTEN_FDS=%q from systemd is not a small number", fds))
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	var ls []net.Listener
	for i := 0; i < n; i++ {
		f := os.NewFile(uintptr(listenFDsStart+i), "systemd-socket-"+strconv.Itoa(i))
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, sysexits.New(sysexits.OSErr, fmt.Errorf("socket %d passed by systemd is not a listening stream socket: %v (set ListenStream= in the .socket unit)", listenFDsStart+i, err))
		}
		ls = append(ls, l)
	}
	return ls, nil
}
