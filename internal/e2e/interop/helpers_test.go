// Package interop_test drives the built gsendmail binary through the
// findings of independent interop testing (issue 14) that need real
// parts: a private DNS server (dnsmasq) and a private mount namespace
// whose /etc/resolv.conf and /etc/hosts are test files, a private Postfix
// with reject_unknown_helo_hostname resolving through that DNS, and a
// loopback server that refuses long lines and offers no 8BITMIME (as
// aiosmtpd does).
//
// It owns no production code.
package interop_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
)

const (
	user = "user@gsendmail.test"
	pass = "interop-Pa55word-for-tests"
	rcpt = "someone@example.org"
)

// home is one user: a configuration and private HOME and state.
type home struct {
	dir, cfg, state string
}

func newHome(t *testing.T, cfg string) *home {
	t.Helper()
	h := &home{dir: t.TempDir(), state: t.TempDir()}
	h.cfg = filepath.Join(h.dir, "config.toml")
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *home) env() []string {
	return []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "GSENDMAIL_CONFIG=" + h.cfg, "HOME=" + h.dir, "XDG_STATE_HOME=" + h.state}
}

func (h *home) queued(t *testing.T) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(h.state, "gsendmail", "queue"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".env"); ok && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

type result = testbin.Result

// run runs gsendmail directly (no namespace).
func (h *home) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return testbin.Exec(t, testbin.Command(t, h.env(), args...), strings.NewReader(stdin))
}

// runNS runs gsendmail inside dns's private namespace.
func (h *home) runNS(t *testing.T, dns *dnsserver.Server, ns dnsserver.Namespace, stdin string, args ...string) result {
	t.Helper()
	cmd, err := dns.Command(context.Background(), t.TempDir(), ns, testbin.Path(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = h.env()
	return testbin.Exec(t, cmd, strings.NewReader(stdin))
}

func message(subject, body string) string {
	return "From: Interop Test <" + user + ">\nTo: " + rcpt + "\nSubject: " + subject +
		"\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@gsendmail.test>\nDate: Tue, 01 Dec 2026 10:00:00 +0000\n\n" + body
}

// strictServer is a loopback SMTP server like aiosmtpd: it offers no
// 8BITMIME and answers "500 Line too long" to any line over 1000 octets
// with CRLF (RFC 5321 4.5.3.1.6). It records the DATA it accepted.
type strictServer struct {
	ln      net.Listener
	mu      sync.Mutex
	data    []string
	refused int
	quit    int
}

func startStrict(t *testing.T) *strictServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &strictServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *strictServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *strictServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(c, 1<<20)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 strict.test.example ESMTP")
	var data *strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if len(line) > 1000 {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			say("500 Line too long")
			data = nil
			continue
		}
		l := strings.TrimRight(line, "\r\n")
		if data != nil {
			if l == "." {
				s.mu.Lock()
				s.data = append(s.data, data.String())
				s.mu.Unlock()
				data = nil
				say("250 OK")
				continue
			}
			data.WriteString(strings.TrimPrefix(l, ".") + "\n")
			continue
		}
		switch verb := strings.ToUpper(strings.Fields(l + " x")[0]); verb {
		case "EHLO":
			say("250-strict.test.example")
			say("250 SIZE 10000000")
		case "MAIL", "RCPT", "RSET", "NOOP":
			if strings.Contains(strings.ToUpper(l), "BODY=8BITMIME") {
				say("501 5.5.4 BODY=8BITMIME not offered")
				continue
			}
			say("250 OK")
		case "DATA":
			data = &strings.Builder{}
			say("354 End data with <CR><LF>.<CR><LF>")
		case "QUIT":
			s.mu.Lock()
			s.quit++
			s.mu.Unlock()
			say("221 Bye")
			return
		default:
			say("500 Error: command not recognized")
		}
	}
}

func (s *strictServer) counts() (refused, quit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused, s.quit
}

func (s *strictServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.data...)
}

func plainConfig(port int, extra string) string {
	return fmt.Sprintf(`[account.strict]
host = "127.0.0.1"
port = %d
tls = "none"
auth = "none"
from = %q
ehlo_name = "client.gsendmail.test"
%s`, port, user, extra)
}
