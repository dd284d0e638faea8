package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// backend is a go-smtp backend that records what it sees and can inject
// errors at each step.
type backend struct {
	mu       sync.Mutex
	helos    []string // Conn.Hostname() at each NewSession (one per EHLO after STARTTLS)
	user     string
	from     string
	rcpts    []string
	data     []byte
	authErr  error
	mailErr  error
	rcptErr  error
	dataErr  error
	wantPass string
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	b.mu.Lock()
	b.helos = append(b.helos, c.Hostname())
	b.mu.Unlock()
	return &session{b: b}, nil
}

type session struct{ b *backend }

func (s *session) AuthMechanisms() []string { return []string{gosasl.Plain} }

func (s *session) Auth(mech string) (gosasl.Server, error) {
	return gosasl.NewPlainServer(func(identity, user, pass string) error {
		if s.b.authErr != nil {
			return s.b.authErr
		}
		if pass != s.b.wantPass {
			return gosmtp.ErrAuthFailed
		}
		s.b.mu.Lock()
		s.b.user = user
		s.b.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.b.mailErr != nil {
		return s.b.mailErr
	}
	s.b.mu.Lock()
	s.b.from = from
	s.b.mu.Unlock()
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.b.mu.Lock()
	s.b.rcpts = append(s.b.rcpts, to)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Data(r io.Reader) error {
	d, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.b.mu.Lock()
	s.b.data = d
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// startGoSMTP runs a go-smtp server with STARTTLS on loopback.
func startGoSMTP(t *testing.T, b *backend, cert tls.Certificate) string {
	t.Helper()
	srv := gosmtp.NewServer(b)
	srv.Domain = "gosmtp.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestGoSMTPServerSeesSameEHLONameBeforeAndAfterSTARTTLSAndExactBytes(t *testing.T) {
	cert, pool := selfSigned(t, farFuture())
	b := &backend{wantPass: "s3cret"}
	addr := startGoSMTP(t, b, cert)
	ctx := context.Background()
	c, err := Dial(ctx, Options{
		Addr:           addr,
		TLS:            StartTLS,
		TLSConfig:      &tls.Config{RootCAs: pool},
		HelloName:      func(net.Addr) (string, error) { return "laptop.example.com", nil },
		CommandTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(ctx, sasl.Plain("alice", "s3cret"), AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: exact\n\n.starts with a dot\r\nmixed endings\nh\xc3\xa9\n"
	for _, chunking := range []bool{true, false} {
		b.mu.Lock()
		b.data = nil
		b.mu.Unlock()
		c.o.DisableChunking = !chunking
		if err := c.Send(ctx, Envelope{From: "alice@example.com", To: []string{"bob@example.net"}, EightBit: true}, strings.NewReader(msg)); err != nil {
			t.Fatalf("chunking=%v: %v", chunking, err)
		}
		want := "Subject: exact\r\n\r\n.starts with a dot\r\nmixed endings\r\nh\xc3\xa9\r\n"
		b.mu.Lock()
		got := string(b.data)
		b.mu.Unlock()
		if got != want {
			t.Errorf("chunking=%v: server got %q, want %q", chunking, got, want)
		}
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.helos) != 2 || b.helos[0] != "laptop.example.com" || b.helos[1] != "laptop.example.com" {
		t.Errorf("EHLO names seen by the server: %q; want the same name twice", b.helos)
	}
	if b.user != "alice" || b.from != "alice@example.com" {
		t.Errorf("user %q from %q", b.user, b.from)
	}
}

func TestGoSMTPInjectedErrorsMapToExitCodes(t *testing.T) {
	cert, pool := selfSigned(t, farFuture())
	smtpErr := func(code int, enh gosmtp.EnhancedCode, msg string) error {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	}
	tests := []struct {
		name    string
		set     func(*backend)
		code    int
		command string
	}{
		{"535 on AUTH", func(b *backend) { b.authErr = smtpErr(535, gosmtp.EnhancedCode{5, 7, 8}, "bad credentials") }, sysexits.NoPerm, "AUTH PLAIN"},
		{"454 on AUTH", func(b *backend) { b.authErr = smtpErr(454, gosmtp.EnhancedCode{4, 7, 0}, "try later") }, sysexits.TempFail, "AUTH PLAIN"},
		{"451 on MAIL", func(b *backend) { b.mailErr = smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "later") }, sysexits.TempFail, "MAIL FROM:<a@x.org>"},
		{"553 on MAIL", func(b *backend) { b.mailErr = smtpErr(553, gosmtp.EnhancedCode{5, 7, 1}, "not yours") }, sysexits.Unavailable, "MAIL FROM:<a@x.org>"},
		{"450 on RCPT", func(b *backend) { b.rcptErr = smtpErr(450, gosmtp.EnhancedCode{4, 2, 0}, "busy") }, sysexits.TempFail, "RCPT TO:<b@y.org>"},
		{"550 on RCPT", func(b *backend) { b.rcptErr = smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "unknown") }, sysexits.Unavailable, "RCPT TO:<b@y.org>"},
		{"452 on DATA", func(b *backend) { b.dataErr = smtpErr(452, gosmtp.EnhancedCode{4, 3, 1}, "disk full") }, sysexits.TempFail, CmdEndOfData},
		{"554 on DATA", func(b *backend) { b.dataErr = smtpErr(554, gosmtp.EnhancedCode{5, 7, 1}, "spam") }, sysexits.Unavailable, CmdEndOfData},
	}
	for _, tt := range tests {
		for _, chunking := range []bool{false, true} {
			name := tt.name
			if chunking {
				name += " (BDAT)"
			}
			t.Run(name, func(t *testing.T) {
				b := &backend{wantPass: "p"}
				tt.set(b)
				addr := startGoSMTP(t, b, cert)
				ctx := context.Background()
				c, err := Dial(ctx, Options{Addr: addr, TLS: StartTLS, TLSConfig: &tls.Config{RootCAs: pool}, DisableChunking: !chunking,
					HelloName: func(net.Addr) (string, error) { return "h.example.com", nil }, CommandTimeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				err = c.Auth(ctx, sasl.Plain("u", "p"), AuthOptions{})
				if err == nil {
					err = c.Send(ctx, Envelope{From: "a@x.org", To: []string{"b@y.org"}}, strings.NewReader("hello\n"))
				}
				if got := exitCode(err); got != tt.code {
					t.Errorf("exit code %d (%v), want %d", got, err, tt.code)
				}
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("err %v is not an *Error", err)
				}
				cmd := tt.command
				if chunking && cmd == CmdEndOfData {
					cmd = "BDAT 7 LAST"
				}
				if se.Command != cmd {
					t.Errorf("Command = %q, want %q", se.Command, cmd)
				}
				if se.Temporary() != (tt.code == sysexits.TempFail) {
					t.Errorf("Temporary() = %v", se.Temporary())
				}
			})
		}
	}
}

func TestTLSVerificationFailuresAreProtocolErrorsNamingTheProblem(t *testing.T) {
	good, pool := selfSigned(t, farFuture())
	expired, expiredPool := selfSigned(t, time.Now().Add(-time.Hour))
	tests := []struct {
		name string
		cert tls.Certificate
		cfg  *tls.Config
		addr func(string) string
		want string
	}{
		{"untrusted self-signed", good, &tls.Config{}, nil, "unknown authority"},
		{"name mismatch", good, &tls.Config{RootCAs: pool, ServerName: "mail.example.com"}, nil, "name mismatch"},
		{"expired", expired, &tls.Config{RootCAs: expiredPool}, nil, "expired"},
		{"pin mismatch", good, &tls.Config{RootCAs: pool, VerifyConnection: func(tls.ConnectionState) error {
			return errors.New("certificate fingerprint mismatch: got sha256:ab, pinned sha256:cd")
		}}, nil, "fingerprint mismatch"},
	}
	for _, tt := range tests {
		for _, mode := range []TLSMode{StartTLS, Implicit} {
			t.Run(tt.name+" "+mode.String(), func(t *testing.T) {
				var addr string
				if mode == Implicit {
					ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tt.cert}})
					if err != nil {
						t.Fatal(err)
					}
					srv := gosmtp.NewServer(&backend{})
					go srv.Serve(ln)
					t.Cleanup(func() { srv.Close() })
					addr = ln.Addr().String()
				} else {
					addr = startGoSMTP(t, &backend{}, tt.cert)
				}
				_, err := Dial(context.Background(), Options{Addr: addr, TLS: mode, TLSConfig: tt.cfg, CommandTimeout: 5 * time.Second})
				if got := exitCode(err); got != sysexits.Protocol {
					t.Errorf("exit code %d (%v), want Protocol", got, err)
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "certificate") {
					t.Errorf("error %v does not say %q", err, tt.want)
				}
			})
		}
	}
}

func TestImplicitTLSToAPlainServerIsAProtocolError(t *testing.T) {
	f := startFake(t, []string{"S: 220 plain text server"}, nil)
	_, err := Dial(context.Background(), Options{Addr: f.addr, TLS: Implicit, CommandTimeout: 5 * time.Second})
	if exitCode(err) != sysexits.Protocol {
		t.Errorf("err = %v (code %d)", err, exitCode(err))
	}
}
