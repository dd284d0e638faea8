package app

import (
	"context"
	"net"
	"net/smtp"
	"slices"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The verbs whose outcome is not one error line: doctor's report carries
// its own exit code, and serve runs until it is stopped.

func TestDoctorsReportCarriesTheExitCodeWithoutAnExtraLine(t *testing.T) {
	cases := []struct {
		name   string
		refuse func(u *upstream)
		code   int
		line   string // a line of the report
	}{
		{"a healthy account", nil, 0, "ok       auth"},
		{"a refused password", func(u *upstream) {
			u.authErr = refusal(535, gosmtp.EnhancedCode{5, 7, 8}, "credentials invalid")
		}, sysexits.NoPerm, "error    auth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, accountTOML("t", u, upUser, ""))
			if c.refuse != nil {
				u.set(c.refuse)
			}
			for _, args := range [][]string{{"doctor", "t"}, {"-v", "doctor", "t"}} {
				r := w.run("", "gsendmail", args...)
				if r.code != c.code {
					t.Fatalf("gsendmail %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, c.code, r)
				}
				if r.stderr != "" {
					t.Errorf("gsendmail %s: stderr %q, want nothing: the report is the message", strings.Join(args, " "), r.stderr)
				}
				if !strings.Contains(r.stdout, "\n"+c.line) || !strings.Contains(r.stdout, "summary: ") {
					t.Errorf("gsendmail %s: the report has no %q line and summary:\n%s", strings.Join(args, " "), c.line, r.stdout)
				}
				for _, s := range secretForms(u) {
					if strings.Contains(r.stdout, s) {
						t.Errorf("gsendmail %s shows the password (%q)", strings.Join(args, " "), s)
					}
				}
			}
			if n := len(u.received()); n != 0 {
				t.Errorf("doctor sent %d messages, want none", n)
			}
		})
	}
}

func TestServeRefusesBadArgumentsAndOpenRelays(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		code    int
		phrases []string
	}{
		{"--listen without an address", []string{"serve", "--listen"}, sysexits.Usage, []string{"--listen", "127.0.0.1:2525"}},
		{"an unexpected argument", []string{"serve", "extra"}, sysexits.Usage, []string{`"extra"`}},
		// 192.0.2.1 (TEST-NET-1) is on no interface: if the refusal broke,
		// the bind fails instead of opening a listener beyond loopback.
		{"a non-loopback address without auth and TLS", []string{"serve", "--listen", "192.0.2.1:2525"}, sysexits.Config, []string{"192.0.2.1:2525", "require_auth", "open relay"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, accountTOML("t", u, upUser, ""))
			// A serve that wrongly started stops after the timeout.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r := w.runCtx(ctx, "", "gsendmail", c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.code, r)
			}
			oneErrorLine(t, r, c.phrases...)
		})
	}
}

// "gsendmail serve" relays what a local client submits through the
// account, and exits 0 when it is told to stop (SIGTERM is ctx's end).
func TestServeRelaysThroughTheAccountAndExitsZeroWhenStopped(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, ""))
	addr := closedPortAddr(t)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan ran, 1)
	go func() { done <- w.runCtx(ctx, "", "gsendmail", "serve", "--listen", addr) }()
	waitListening(t, addr, done)

	msg := "From: " + upUser + "\r\nTo: relay@example.net\r\nSubject: through serve\r\n\r\nrelayed\r\n"
	if err := smtp.SendMail(addr, nil, upUser, []string{"relay@example.net"}, []byte(msg)); err != nil {
		t.Fatalf("submitting to serve: %v", err)
	}
	m := u.only(t)
	if m.from != upUser || !slices.Equal(m.to, []string{"relay@example.net"}) || !strings.Contains(crlf(m.data), "\n\nrelayed\n") || m.user != upUser {
		t.Errorf("upstream got from %q to %q as %q: %q", m.from, m.to, m.user, m.data)
	}

	stop()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("serve stopped with exit %d, want 0\n%s", r.code, r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30 s of being stopped")
	}
}

// closedPortAddr is a loopback address nobody listens on.
func closedPortAddr(t *testing.T) string { return net.JoinHostPort("127.0.0.1", closedPort(t)) }

// waitListening waits until addr accepts connections, failing if the
// server returned first.
func waitListening(t *testing.T, addr string, done <-chan ran) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case r := <-done:
			t.Fatalf("serve returned before it listened:\n%s", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen on %s within 20 s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
