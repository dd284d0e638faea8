package submit

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// The first step of a submission: reach the server. Dial opens the TCP
// connection, sets up TLS (implicit, or STARTTLS after a first EHLO),
// chooses the EHLO name and greets the server (smtp.Dial falls back to
// HELO where the server wants it). Connect runs it for an account;
// doctor, probe and serverinfo run it too, so they report on the path a
// send takes.

// Server is where a submission connects and how.
type Server struct {
	Host string
	Port int
	TLS  smtp.TLSMode
	// TLSConfig is the certificate policy (TLSConfig for an account); a
	// caller may wrap it to watch the handshake.
	TLSConfig *tls.Config
	Chooser   ehlo.Chooser  // the EHLO name
	Timeout   time.Duration // each protocol step
	// AllowInsecureAuth lets AUTH go without TLS (a loopback relay).
	AllowInsecureAuth bool
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// AccountServer is the server of an account as a send reaches it: its
// host and port, TLS mode and certificate policy, EHLO chooser (base nil:
// the system's) and timeout. The error is the policy's (an unreadable
// tls_trust_file, 78).
func AccountServer(a *config.Account, base *ehlo.Chooser) (Server, error) {
	tc, err := TLSConfig(a)
	if err != nil {
		return Server{}, err
	}
	return Server{
		Host: a.Host, Port: a.Port, TLS: TLSMode(a), TLSConfig: tc,
		Chooser: EHLOChooser(a, base), Timeout: a.Timeout,
		AllowInsecureAuth: a.CleartextAuthAllowed(),
	}, nil
}

// Dial connects to srv through d.Dialer (nil: net.Dialer) with d's
// transcript, and returns the greeted client and how its EHLO name was
// chosen. d.Trace's Dial, Connected and EHLOName watch the steps.
func Dial(ctx context.Context, srv Server, d Deps) (*smtp.Client, ehlo.Choice, error) {
	tr := d.Trace
	if tr == nil {
		tr = &Trace{}
	}
	dial := d.Dialer
	if tr.Dial != nil || tr.Connected != nil {
		if dial == nil {
			timeout := srv.Timeout
			if timeout <= 0 {
				timeout = smtp.DefaultCommandTimeout
			}
			dial = (&net.Dialer{Timeout: timeout}).DialContext
		}
		base := dial
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if tr.Dial != nil {
				tr.Dial(addr)
			}
			start := time.Now()
			conn, err := base(ctx, network, addr)
			if tr.Connected != nil {
				tr.Connected(conn, time.Since(start), err)
			}
			return conn, err
		}
	}
	var choice ehlo.Choice
	ch := srv.Chooser
	c, err := smtp.Dial(ctx, smtp.Options{
		Addr:      srv.Addr(),
		TLS:       srv.TLS,
		TLSConfig: srv.TLSConfig,
		HelloName: func(local net.Addr) (string, error) {
			var err error
			choice, err = ch.Choose(ctx, local)
			if tr.EHLOName != nil {
				tr.EHLOName(choice, err)
			}
			return choice.Name, err
		},
		CommandTimeout:    srv.Timeout,
		Dialer:            dial,
		Transcript:        d.Transcript,
		AllowInsecureAuth: srv.AllowInsecureAuth,
	})
	return c, choice, err
}
