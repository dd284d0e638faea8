package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
)

// Doctor names the step and the fix of a Dial error from the client's
// facts (the reason, the step, the cause), not from its words: each
// Msg here says the words of another case.
func TestDialErrorStepAndFixComeFromTheFacts(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	misleading := "did not answer with TLS; does not offer STARTTLS; connection refused"
	tests := []struct {
		name string
		mode smtp.TLSMode
		err  error
		step string
		fix  string
	}{
		{"refused", smtp.StartTLS, &smtp.Failure{Reason: smtp.ConnectFailed, Step: smtp.StepConnect, Msg: "x", Err: refused}, "tcp",
			`nothing accepts connections on 192.0.2.1:2587: check port (587 for tls = "starttls", 465 for tls = "tls")`},
		{"dial timeout", smtp.StartTLS, &smtp.Failure{Reason: smtp.ConnectFailed, Step: smtp.StepConnect, Msg: misleading, Err: timeout}, "tcp",
			"no answer from 192.0.2.1:2587: a firewall may drop port 2587"},
		{"no STARTTLS", smtp.StartTLS, &smtp.Failure{Reason: smtp.NoSTARTTLS, Step: smtp.StepSTARTTLS, Msg: "connection refused"}, "tls",
			"port 2587 does not offer STARTTLS"},
		{"plain SMTP for TLS", smtp.Implicit, &smtp.Failure{Reason: smtp.TLSNotTLS, Step: smtp.StepTLS, Msg: "does not offer STARTTLS"}, "tls",
			`port 2587 speaks plain SMTP first: use tls = "starttls"`},
		{"handshake closed, starttls", smtp.StartTLS, &smtp.Failure{Reason: smtp.TLSClosed, Step: smtp.StepTLS, Msg: misleading}, "tls",
			`if the port expects TLS from the first byte (465) use tls = "tls"`},
		{"handshake failed, tls", smtp.Implicit, &smtp.Failure{Reason: smtp.TLSFailed, Step: smtp.StepTLS, Msg: misleading}, "tls",
			`if the port is 587 or 25 use tls = "starttls"`},
		{"no greeting, starttls", smtp.StartTLS, &smtp.Failure{Reason: smtp.TimedOut, Step: smtp.StepGreeting, Msg: misleading}, "greeting",
			`no greeting from port 2587: if the port expects TLS from the first byte (usually 465) use tls = "tls"`},
		{"greeting 554", smtp.StartTLS, &smtp.Error{Command: smtp.CmdGreeting, Code: 554, Message: misleading}, "greeting",
			"refused the session before EHLO"},
		{"EHLO 550", smtp.StartTLS, &smtp.Error{Command: "ehlo yoga", Code: 550, Message: misleading, HelloName: "yoga"}, "ehlo reply",
			`rejected our EHLO name "yoga": set ehlo_name`},
		{"STARTTLS 454", smtp.StartTLS, &smtp.Error{Command: "STARTTLS", Code: 454, Message: misleading}, "tls", "try again later"},
		{"STARTTLS 554", smtp.StartTLS, &smtp.Error{Command: "STARTTLS", Code: 554, Message: misleading}, "tls", `try implicit TLS (tls = "tls"`},
		{"connection lost at EHLO", smtp.StartTLS, fmt.Errorf("wrapped: %w", &smtp.Failure{Reason: smtp.ConnectionLost, Step: smtp.StepEHLO, Msg: misleading}), "ehlo reply", "try again later"},
		{"bad reply", smtp.None, &smtp.Failure{Reason: smtp.BadReply, Step: smtp.StepGreeting, Msg: misleading}, "greeting", "not speaking SMTP correctly"},
		{"no fact", smtp.StartTLS, errors.New(misleading), "smtp", "run gsendmail probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &target{srv: submit.Server{Host: "192.0.2.1", Port: 2587, TLS: tt.mode}}
			if step := dialStep(tt.err); step != tt.step {
				t.Errorf("step %q, want %q", step, tt.step)
			}
			fix := dialFix(tg, tt.err)
			if !strings.Contains(fix, tt.fix) {
				t.Errorf("fix %q, want one with %q", fix, tt.fix)
			}
			// One home: the fix is outcome's for this fact at this target.
			if want := outcome.FixAt(tt.err, tg.where()); want != "" && fix != want {
				t.Errorf("fix %q is not outcome's %q", fix, want)
			}
		})
	}
}

// doctorAt runs doctor for an account without auth on 127.0.0.1:port.
func doctorAt(t *testing.T, port int, mode smtp.TLSMode) *Report {
	t.Helper()
	a := &config.Account{Name: "t", Host: "127.0.0.1", Port: port, TLS: mode, Auth: config.AuthNone,
		EHLOName: "client.test.example", Timeout: time.Second}
	return Doctor(context.Background(), Options{ConfigPath: "/x/c.toml", ConfigWhy: "test", File: &config.File{}, Account: a, AccountWhy: "test"})
}

func firstError(r *Report) *Check {
	for i := range r.Checks {
		if r.Checks[i].Status == Error {
			return &r.Checks[i]
		}
	}
	return nil
}

// On the real path (submit's Dial against loopback listeners) the wrong
// port or the wrong TLS mode ends at the right step with the fix for it
// and the exit code a send would have.
func TestDoctorNamesTheWrongPortOrTLSModeOnTheRealPath(t *testing.T) {
	closed := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		return port
	}()
	plain := fakeSubmission(t) // plain SMTP, no STARTTLS
	tlsPort := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsPort.Close)
	tlsPortNo := tlsPort.Listener.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		port int
		mode smtp.TLSMode
		step string
		code int
		fix  string
	}{
		{"closed port", closed, smtp.StartTLS, "tcp", 75,
			fmt.Sprintf("nothing accepts connections on 127.0.0.1:%d: check port (587", closed)},
		{"plain SMTP port with tls = tls", plain, smtp.Implicit, "tls", 76,
			fmt.Sprintf(`port %d speaks plain SMTP first: use tls = "starttls"`, plain)},
		{"plain SMTP port without STARTTLS with tls = starttls", plain, smtp.StartTLS, "tls", 76,
			fmt.Sprintf("port %d does not offer STARTTLS", plain)},
		{"TLS port with tls = starttls", tlsPortNo, smtp.StartTLS, "greeting", 75,
			fmt.Sprintf(`no greeting from port %d: if the port expects TLS from the first byte (usually 465) use tls = "tls"`, tlsPortNo)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doctorAt(t, tt.port, tt.mode)
			c := firstError(r)
			if c == nil {
				t.Fatalf("no error line: %+v", r.Checks)
			}
			if c.Step != tt.step || c.Code != tt.code || !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("error line %s (%d): %s; fix %q\nwant step %s, code %d, fix with %q", c.Step, c.Code, c.Message, c.Fix, tt.step, tt.code, tt.fix)
			}
		})
	}
}

// The AUTH fix is outcome's for the server's reply, named for the
// account; the provider codes are read from the enhanced code, not the
// words.
func TestAuthFixComesFromTheReplyFacts(t *testing.T) {
	pw := &config.Account{Name: "work", User: "me@example.org", Auth: config.AuthPlain}
	oa := &config.Account{Name: "work", User: "me@example.org", Auth: config.AuthOAuth2}
	auth := func(mech string, code int, enh, text string) error {
		return &smtp.AuthError{Mechanism: mech, Reply: &smtp.Error{Command: "AUTH " + mech, Code: code, EnhancedCode: enh, Message: text}}
	}
	tests := []struct {
		name string
		a    *config.Account
		err  error
		fix  string
	}{
		{"535 password", pw, auth("PLAIN", 535, "5.7.8", "5.7.139 application-specific password"), `check user "me@example.org" and the password (gsendmail password set work`},
		{"535 token", oa, auth("XOAUTH2", 535, "5.7.8", "bad"), `check that user "me@example.org" is the account the token was issued for, then re-authorise: gsendmail auth login work`},
		{"Microsoft tenant", pw, auth("LOGIN", 535, "5.7.139", "Authentication unsuccessful"), "Authenticated SMTP"},
		{"Google app password", pw, auth("PLAIN", 534, "5.7.9", "please log in"), "app password"},
		{"454", pw, auth("PLAIN", 454, "4.7.0", "5.7.139"), "try again later"},
		{"refresh failed after a refused token", oa, errors.New("invalid_grant"), "re-authorise: gsendmail auth login work"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fix := authFix(tt.a, tt.err); !strings.Contains(fix, tt.fix) {
				t.Errorf("fix %q, want one with %q", fix, tt.fix)
			}
		})
	}
}
