package serve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordRelay accepts everything and records transactions.
type recordRelay struct {
	mu   sync.Mutex
	txns []Txn
	data []string
}

func (r *recordRelay) Recipient(context.Context, *Txn, string) error { return nil }

func (r *recordRelay) Deliver(_ context.Context, t *Txn, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txns = append(r.txns, *t)
	r.data = append(r.data, string(b))
	return nil
}

type policyFunc func(p Peer, from string) (string, string, error)

func (f policyFunc) Sender(p Peer, from string) (string, string, error) { return f(p, from) }

type tempErr struct{ error }

func (tempErr) Temporary() bool { return true }

// talk runs a scripted dialogue and returns the final reply lines.
func talk(t *testing.T, c net.Conn, lines ...string) []string {
	t.Helper()
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	read := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(l) >= 4 && l[3] == ' ' {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	out := []string{read()}
	for _, l := range lines {
		io.WriteString(c, l+"\r\n")
		if l == "DATA" || !strings.HasPrefix(l, "Subject") && l != "." && l != "" {
			out = append(out, read())
		} else if l == "." {
			out = append(out, read())
		}
	}
	return out
}

func TestUnixSocketPeerCredentialsReachThePolicy(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skip("no peer credentials on " + runtime.GOOS)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "serve.sock")
	// A stale socket from a daemon that died is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	l, err := Listen("unix:" + path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v (%v), want 0666", fi.Mode().Perm(), err)
	}
	if _, err := Listen(path); err == nil {
		t.Errorf("a second Listen on a live socket succeeded")
	}
	var seen Peer
	rr := &recordRelay{}
	s := New(Options{Relay: rr, Policy: policyFunc(func(p Peer, from string) (string, string, error) {
		seen = p
		switch from {
		case "limited@example.org":
			return "", "", tempErr{errors.New("rate limit for uid")}
		case "forbidden@example.org":
			return "", "", errors.New("uid may not send as this address")
		}
		return "uid-user@example.org", "Uid User <uid-user@example.org>", nil
	})})
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := talk(t, c, "EHLO local", "MAIL FROM:<limited@example.org>", "MAIL FROM:<forbidden@example.org>",
		"MAIL FROM:<app@example.org>", "RCPT TO:<bob@example.net>", "DATA", "Subject: s", "", ".")
	if !strings.HasPrefix(got[2], "451 4.7.1 ") || !strings.HasPrefix(got[3], "550 5.7.1 uid may not") {
		t.Errorf("policy refusals: %q, %q", got[2], got[3])
	}
	if !strings.HasPrefix(got[len(got)-1], "250 ") {
		t.Fatalf("end of data: %q", got)
	}
	if !seen.HasCred || seen.UID != os.Getuid() || seen.Network != "unix" {
		t.Errorf("policy saw %+v, want our own uid %d over unix", seen, os.Getuid())
	}
	if runtime.GOOS == "linux" && seen.PID != os.Getpid() {
		t.Errorf("policy saw pid %d, want %d", seen.PID, os.Getpid())
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.txns) != 1 || rr.txns[0].From != "uid-user@example.org" || rr.txns[0].HeaderFrom != "Uid User <uid-user@example.org>" {
		t.Errorf("relay got %+v, want the policy's sender and From:", rr.txns)
	}
}

func TestTCPPeerHasNoCredentials(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := PeerOf(c)
	if p.HasCred || p.Network != "tcp" || !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Errorf("TCP peer %+v", p)
	}
}

func TestNoAuthBeforeTLSOffLoopback(t *testing.T) {
	s := New(Options{Relay: &recordRelay{}, Auth: func(context.Context, string, string) error { return nil }})
	remote := &session{s: s, tc: &trackedConn{local: false}}
	if m := remote.AuthMechanisms(); m != nil {
		t.Errorf("non-loopback, no TLS: AUTH %v offered", m)
	}
	if _, err := remote.Auth("PLAIN"); err != errTLSFirst {
		t.Errorf("non-loopback AUTH before TLS: %v, want 530 STARTTLS first", err)
	}
	remote.tls = true
	if m := remote.AuthMechanisms(); len(m) != 2 {
		t.Errorf("after TLS: AUTH %v, want PLAIN LOGIN", m)
	}
	local := &session{s: s, tc: &trackedConn{local: true}}
	if m := local.AuthMechanisms(); len(m) != 2 {
		t.Errorf("loopback: AUTH %v, want PLAIN LOGIN", m)
	}
	none := &session{s: New(Options{Relay: &recordRelay{}}), tc: &trackedConn{local: true}}
	if m := none.AuthMechanisms(); m != nil {
		t.Errorf("without users: AUTH %v offered", m)
	}
}

func TestLoopbackAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:2525": true, "[::1]:2525": true, "localhost:2525": true, "127.1.2.3:25": true,
		"/run/gsendmail.sock": true, "unix:/tmp/x.sock": true,
		"0.0.0.0:2525": false, ":2525": false, "[::]:2525": false, "192.168.1.5:2525": false, "example.org:2525": false,
	} {
		if got := IsLoopbackAddr(addr); got != want {
			t.Errorf("IsLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
