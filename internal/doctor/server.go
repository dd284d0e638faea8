package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Dialer opens the TCP connection (net.Dialer.DialContext fits).
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// recorder keeps the protocol transcript with the time of each line.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	lines []Line
	part  []byte
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (rc *recorder) Write(p []byte) (int, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.part = append(rc.part, p...)
	for {
		i := strings.IndexByte(string(rc.part), '\n')
		if i < 0 {
			break
		}
		rc.lines = append(rc.lines, Line{time.Since(rc.start), strings.TrimRight(string(rc.part[:i]), "\r")})
		rc.part = rc.part[i+1:]
	}
	return len(p), nil
}

// note adds a line of our own ("-- ...") between protocol lines.
func (rc *recorder) note(format string, a ...any) {
	fmt.Fprintf(rc, "-- "+format+"\n", a...)
}

func (rc *recorder) result() []Line {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Line(nil), rc.lines...)
}

// target is a server to examine, as submit reaches it (submit.Server),
// and what the report needs around it.
type target struct {
	srv      submit.Server
	trust    string // what srv's TLS policy trusts, for messages
	resolver Resolver
	dialer   Dialer
	now      func() time.Time
	rec      *recorder
}

// setup completes t with the parts every report shares: the resolver,
// dialer and clock (nil: the system's), the step timeout (zero:
// MaxStepTimeout) and the transcript. Doctor, Probe and ServerInfo all
// start here.
func (t *target) setup(res Resolver, dialer Dialer, timeout time.Duration, now func() time.Time, rec *recorder) *target {
	if res == nil {
		res = net.DefaultResolver
	}
	if now == nil {
		now = time.Now
	}
	if timeout <= 0 {
		timeout = MaxStepTimeout
	}
	t.resolver, t.dialer, t.now, t.rec = res, dialer, now, rec
	t.srv.Timeout = timeout
	return t
}

func (t *target) addr() string { return t.srv.Addr() }

// connect runs DNS, then submit's Dial (TCP, TLS, greeting, EHLO) with a
// trace, adding a line for each step; it returns the client, or nil after
// adding the error line.
func (r *Report) connect(ctx context.Context, t *target) *smtp.Client {
	host := t.srv.Host
	// DNS for the smarthost.
	if _, err := netip.ParseAddr(host); err == nil {
		r.ok("dns", "%s is an address; nothing to resolve", host)
	} else {
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		hs, err := t.resolver.LookupHost(lctx, host)
		cancel()
		if err != nil || len(hs) == 0 {
			why := "no addresses"
			if err != nil {
				why = err.Error()
			}
			if isNotFound(err) {
				// As a send: no such host is 68, not worth a retry.
				r.fail("dns", sysexits.NoHost, fmt.Sprintf("%s does not exist in DNS: %s", host, why),
					fmt.Sprintf("check host = %q for a typo", host))
				return nil
			}
			r.fail("dns", sysexits.TempFail, fmt.Sprintf("cannot resolve %s: %s", host, why),
				fmt.Sprintf("check host = %q for typos and that this machine's DNS works (getent hosts %s); try again when the network is up", host, host))
			return nil
		}
		c := r.ok("dns", "%s resolves to %s", host, strings.Join(hs, ", "))
		c.Elapsed = time.Since(start)
	}

	var (
		dialErr   error
		dialDur   time.Duration
		remote    net.Addr
		localAddr net.Addr
		dialDone  time.Time
		tlsDur    time.Duration
		choice    ehlo.Choice
		chose     bool
		chooseErr error
	)
	trace := &submit.Trace{
		Dial: func(addr string) { t.rec.note("connecting to %s", addr) },
		Connected: func(conn net.Conn, d time.Duration, err error) {
			dialDur, dialErr, dialDone = d, err, time.Now()
			if err != nil {
				t.rec.note("connect failed: %v", err)
				return
			}
			remote, localAddr = conn.RemoteAddr(), conn.LocalAddr()
			t.rec.note("connected to %s from %s", remote, localAddr)
		},
		EHLOName: func(c ehlo.Choice, err error) { choice, chose, chooseErr = c, true, err },
	}
	w := &tlsWatch{now: t.now, onDone: func(cs tls.ConnectionState) {
		if t.srv.TLS == smtp.Implicit {
			tlsDur = time.Since(dialDone)
		}
		t.rec.note("TLS handshake: %s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	}}
	srv := t.srv
	srv.TLSConfig = w.config(srv.TLSConfig)
	c, _, err := submit.Dial(ctx, srv, submit.Deps{Dialer: t.dialer, Transcript: t.rec, Trace: trace})
	if dialErr != nil {
		// err is the client's fact about dialErr (smtp.ConnectFailed).
		if err == nil {
			err = dialErr
		}
		r.fail("tcp", outcome.Code(err), fmt.Sprintf("cannot connect to %s: %v", t.addr(), dialErr), dialFix(t, err))
		return nil
	}
	if remote == nil && err != nil {
		r.fail("tcp", outcome.Code(err), err.Error(), dialFix(t, err))
		return nil
	}
	r.ok("tcp", "connected to %s", remote).Elapsed = dialDur

	st, chainErr, verifyErr := w.result()
	switch {
	case t.srv.TLS == smtp.None && isLoopback(host):
		r.ok("tls", "none (tls = none) to a loopback host")
	case t.srv.TLS == smtp.None:
		r.warn("tls", "none: the password and mail cross the network in clear text",
			`use tls = "starttls" (port 587) or tls = "tls" (port 465)`)
	case st != nil:
		r.reportTLS(st, chainErr, verifyErr, w.skip, w.pinned, t.trust, t.now(), tlsDur)
	}
	if err != nil && verifyErr != nil {
		return nil // the verify line says it all
	}
	if err == nil {
		r.ok("greeting", "%s", c.Greeting())
	}
	if chooseErr != nil {
		r.fail("ehlo", sysexits.Config, chooseErr.Error(), `set ehlo_name = "host.example.com" in the account`)
		return nil
	}
	if chose {
		var seen netip.Addr
		have := false
		if c != nil {
			seen, have = SeenAddress(c.EHLOReply())
		}
		var server, local netip.Addr
		if ta, ok := remote.(*net.TCPAddr); ok {
			server, _ = netip.AddrFromSlice(ta.IP)
		}
		if la, ok := localAddr.(*net.TCPAddr); ok {
			local, _ = netip.AddrFromSlice(la.IP)
		}
		r.explainEHLO(ctx, choice, ehloEnv{
			server: server.Unmap(), local: local.Unmap(), seen: seen, haveSeen: have,
			res: t.resolver, hostsFile: t.srv.Chooser.HostsFile,
		})
	}
	if err != nil {
		r.fail(dialStep(err), outcome.Code(err), err.Error(), dialFix(t, err))
		return nil
	}
	r.capabilities(c, t.srv.Port)
	return c
}

// where is what outcome's fixes may name about t.
func (t *target) where() outcome.Where {
	return outcome.Where{Addr: t.addr(), Port: t.srv.Port, TLS: t.srv.TLS}
}

// dialStep names the report step a Dial error ended, from the step the
// SMTP client reports (smtp.Error.Step, smtp.Failure.Step).
func dialStep(err error) string {
	var (
		se   *smtp.Error
		f    *smtp.Failure
		step smtp.Step
	)
	switch {
	case errors.As(err, &se):
		step = se.Step()
	case errors.As(err, &f):
		step = f.Step
	}
	switch step {
	case smtp.StepConnect:
		return "tcp"
	case smtp.StepTLS, smtp.StepSTARTTLS:
		return "tls"
	case smtp.StepGreeting:
		return "greeting"
	case smtp.StepEHLO, smtp.StepHELO:
		return "ehlo reply"
	}
	return "smtp"
}

// dialFix is outcome's fix for a Dial error at t, or, for an error that
// carries no SMTP fact, a pointer to the transcript.
func dialFix(t *target, err error) string {
	if fix := outcome.FixAt(err, t.where()); fix != "" {
		return fix
	}
	return "check host, port and tls; run gsendmail probe for a transcript"
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// capabilities adds the line listing what the server offers after EHLO
// (RFC 5321 4.1.1.1 and the extension RFCs).
func (r *Report) capabilities(c *smtp.Client, port int) {
	ext := c.Extensions()
	var have, missing []string
	if v, ok := ext["SIZE"]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			have = append(have, "SIZE "+humanSize(n))
		} else {
			have = append(have, "SIZE (no limit given)")
		}
	} else {
		missing = append(missing, "SIZE")
	}
	for _, k := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING", "ENHANCEDSTATUSCODES"} {
		if _, ok := ext[k]; ok {
			have = append(have, k)
		} else {
			missing = append(missing, k)
		}
	}
	if v, ok := ext["AUTH"]; ok {
		have = append(have, "AUTH "+strings.ToUpper(strings.Join(strings.Fields(v), " ")))
	} else {
		missing = append(missing, "AUTH")
	}
	known := map[string]bool{"SIZE": true, "PIPELINING": true, "8BITMIME": true, "SMTPUTF8": true, "DSN": true, "CHUNKING": true, "ENHANCEDSTATUSCODES": true, "AUTH": true}
	var other []string
	for k := range ext {
		if !known[k] {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	have = append(have, other...)
	msg := strings.Join(have, ", ")
	if len(missing) > 0 {
		msg += "; not offered: " + strings.Join(missing, ", ")
	}
	if _, ok := ext["AUTH"]; !ok && (port == 587 || port == 465) {
		r.warn("capabilities", msg, "a submission port without AUTH usually means the server offers AUTH only after TLS, or only to its own network; check tls and port")
		return
	}
	r.ok("capabilities", "%s", msg)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1024:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
