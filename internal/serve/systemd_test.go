package serve_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// TestServeUsesSocketsPassedBySystemd starts the built binary the way
// systemd socket activation does: the listening socket as fd 3,
// LISTEN_FDS=1 and LISTEN_PID set to the daemon's own PID (sh's $$ before
// exec). It serves on that socket, not on its default address, and stops
// with exit 0 on SIGTERM.
func TestServeUsesSocketsPassedBySystemd(t *testing.T) {
	bin := testbin.Path(t)
	u := startUpstream(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(account(u, "")+"[serve]\nlisten = [\"127.0.0.1:1\"]\n"), 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the duplicate in f stays open for the child
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -C "$1" serve`, bin, cfg)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
	p := testbin.Start(t, cmd, nil)
	f.Close()
	defer cmd.Process.Kill()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the passed socket: %v\n%s", err, p.Stderr())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	cl.expect("220")
	cl.cmd("EHLO app", "250")
	if got := cl.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("end of data: %q\n%s", got, p.Stderr())
	}
	cl.cmd("QUIT", "221")
	cmd.Process.Signal(syscall.SIGTERM)
	if r := p.Wait(20 * time.Second); r.Code != 0 {
		t.Errorf("exit after SIGTERM:\n%s", r)
	}
	if !strings.Contains(p.Stderr(), "listening on "+addr) {
		t.Errorf("daemon did not say it serves the passed socket:\n%s", p.Stderr())
	}
}
