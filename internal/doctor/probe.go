package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// ProbeOptions say which server to probe and how.
type ProbeOptions struct {
	// Target is HOST, HOST:PORT or [IPv6]:PORT. Without a port: 465 for
	// TLS = smtp.Implicit, else 587.
	Target string
	// TLS is smtp.StartTLS or smtp.Implicit; ModeSet says the user chose
	// it. Unset, port 465 means implicit TLS and any other port STARTTLS.
	TLS     smtp.TLSMode
	ModeSet bool
	// TrustFile is a PEM bundle to verify the server with instead of the
	// system roots.
	TrustFile string
	// EHLOName is sent instead of the chosen name when set.
	EHLOName string
	// From and To, when To is set, run MAIL FROM and RCPT TO, then RSET.
	From string
	To   []string

	Chooser  *ehlo.Chooser
	Resolver Resolver
	Dialer   Dialer
	Timeout  time.Duration // per step; zero: MaxStepTimeout
	Now      func() time.Time
}

// Probe examines any SMTP server the way web "test my SMTP server" tools
// do: DNS, TCP, TLS and certificate, greeting, EHLO and capabilities,
// optionally the envelope, with the full transcript (timed per line) in
// the report. It never authenticates and never sends a message.
func Probe(ctx context.Context, o ProbeOptions) *Report {
	r := &Report{Command: "probe", Subject: o.Target}
	host, port, mode, err := parseTarget(o.Target, o.TLS, o.ModeSet)
	if err != nil {
		r.fail("target", sysexits.Usage, err.Error(), "give HOST, HOST:PORT or [IPv6]:PORT")
		return r
	}
	r.Subject = net.JoinHostPort(host, strconv.Itoa(port)) + " (" + mode.String() + ")"
	policy := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	trust := "the system's CA roots"
	if o.TrustFile != "" {
		pem, err := os.ReadFile(o.TrustFile)
		if err != nil {
			r.fail("target", sysexits.NoInput, fmt.Sprintf("cannot read the trust file: %v", err), "name a readable PEM file")
			return r
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			r.fail("target", sysexits.DataErr, o.TrustFile+" holds no PEM certificate", "name a PEM file of the CA")
			return r
		}
		policy.RootCAs = pool
		trust = o.TrustFile
	}
	var chooser ehlo.Chooser
	if o.Chooser != nil {
		chooser = *o.Chooser
	}
	chooser.Configured = o.EHLOName
	if chooser.Configured != "" {
		if err := ehlo.Validate(chooser.Configured); err != nil {
			r.fail("ehlo", sysexits.Usage, fmt.Sprintf("invalid EHLO name: %v", err), "give a fully qualified name or an address literal")
			return r
		}
	}
	t := &target{srv: submit.Server{Host: host, Port: port, TLS: mode, TLSConfig: policy, Chooser: chooser}, trust: trust}
	return r.probe(ctx, t, o)
}

// probe is the server part every report shares from the connection on.
func (r *Report) probe(ctx context.Context, t *target, o ProbeOptions) *Report {
	rec := newRecorder()
	defer func() { r.Transcript = rec.result() }()
	t.setup(o.Resolver, o.Dialer, o.Timeout, o.Now, rec)
	c := r.connect(ctx, t)
	if c == nil {
		return r
	}
	defer c.Quit()
	if len(o.To) > 0 {
		r.checkEnvelope(ctx, c, o.From, o.To)
	}
	return r
}

// ServerInfo is --serverinfo: the server part of doctor for an account
// (DNS, TCP, TLS, certificate, greeting, EHLO, capabilities) without
// credentials, like msmtp --serverinfo.
func ServerInfo(ctx context.Context, a *config.Account, o ProbeOptions) *Report {
	r := &Report{Command: "serverinfo", Subject: fmt.Sprintf("account %q (%s:%d)", a.Name, a.Host, a.Port)}
	t := r.accountTarget(a, o.Chooser)
	if t == nil {
		return r
	}
	if o.Timeout <= 0 {
		o.Timeout = accountTimeout(a)
	}
	return r.probe(ctx, t, o)
}

// accountTarget is the server of an account as a send reaches it
// (submit.AccountServer: host and port, TLS mode and policy, EHLO
// chooser from base, whether AUTH may go in clear text). It adds the
// error line and returns nil when the TLS policy cannot be built. Doctor
// and ServerInfo both start here.
func (r *Report) accountTarget(a *config.Account, base *ehlo.Chooser) *target {
	srv, err := submit.AccountServer(a, base)
	if err != nil {
		r.fail("tls", outcome.Code(err), redact.OneLine(err.Error()), "fix tls_trust_file: it must be a readable PEM file of the CA")
		return nil
	}
	trust := "the system's CA roots"
	if a.TLSTrustFile != "" {
		trust = "tls_trust_file " + a.TLSTrustFile
	}
	return &target{srv: srv, trust: trust}
}

// accountTimeout is the step timeout for an account: its own, at most
// MaxStepTimeout (zero: MaxStepTimeout).
func accountTimeout(a *config.Account) time.Duration {
	if a.Timeout > 0 {
		return min(a.Timeout, MaxStepTimeout)
	}
	return MaxStepTimeout
}

// parseTarget splits HOST[:PORT] and settles the TLS mode and port.
func parseTarget(s string, mode smtp.TLSMode, modeSet bool) (string, int, smtp.TLSMode, error) {
	if s == "" {
		return "", 0, mode, fmt.Errorf("no server given")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare name, address or bracketed IPv6 address.
		host, portStr = s, ""
		if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			host = s[1 : len(s)-1]
		}
	}
	if host == "" {
		return "", 0, mode, fmt.Errorf("%q has no host", s)
	}
	for _, c := range host {
		if c <= ' ' || c == '/' || c == '@' || c == '[' || c == ']' {
			return "", 0, mode, fmt.Errorf("%q is not a host name or address", host)
		}
	}
	port := 0
	if portStr != "" {
		port, err = strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, mode, fmt.Errorf("%q is not a port number", portStr)
		}
	}
	switch {
	case port == 0 && modeSet && mode == smtp.Implicit:
		port = 465
	case port == 0:
		port, mode = 587, smtp.StartTLS
	case !modeSet && port == 465:
		mode = smtp.Implicit
	case !modeSet:
		mode = smtp.StartTLS
	}
	return host, port, mode, nil
}
