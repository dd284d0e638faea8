package app

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func init() { extraCommands["serve"] = serveCommand }

const serveUsage = `usage: gsendmail [-C CONFIG] [-v] serve [--listen ADDR]...

Runs the local SMTP submission proxy: applications that speak SMTP send to
ADDR (default 127.0.0.1:2525; also [::1]:2525, localhost:2525, or a Unix
socket path /path or unix:/path; repeat --listen for several), and each
message is relayed through the account chosen as for a piped message.
--listen replaces [serve] listen; sockets passed by systemd (LISTEN_FDS)
replace both. SIGTERM/SIGINT stop gracefully, SIGHUP reloads the
configuration. See gsendmail(1) and the [serve] table in gsendmail.toml(5).
`

// DefaultShutdownTimeout is [serve] shutdown_timeout when unset.
const DefaultShutdownTimeout = 30 * time.Second

// serveState is one loaded configuration; SIGHUP replaces it whole.
type serveState struct {
	file   *config.File
	err    error // -bs: a broken configuration is reported per RCPT
	d      submit.Deps
	tokens *sharedTokens
	policy serve.PeerPolicy // from servePolicyFor; nil: none
}

// relay is internal/serve's Relay: each transaction goes through the same
// prepare and delivery rule as a piped message.
type relay struct {
	env    *Env
	inv    *cli.Invocation
	state  atomic.Pointer[serveState]
	pool   *serve.Pool // nil for -bs: one connection per message, as sendmail
	send   transport   // the daemon's: through pool (replaceable in tests)
	kick   chan string // daemon: wake the queue runner ("" or an account to flush now)
	logOut io.Writer   // per-message lines when an account has no logfile/syslog
}

func (r *relay) accountFor(st *serveState, t *serve.Txn) string {
	if t.User != "" {
		if u := st.file.Serve.Users[t.User]; u != nil {
			return u.Account
		}
	}
	if r.inv.Account == "" && t.Peer.HasCred && st.file.SystemMTA != nil && st.file.SystemMTA.Account != "" {
		// A local user on the system MTA's socket: [system] account.
		return st.file.SystemMTA.Account
	}
	return r.inv.Account
}

// Recipient refuses at RCPT what the account cannot send to (a bare name
// without alias or local_domain).
func (r *relay) Recipient(ctx context.Context, t *serve.Txn, to string) error {
	st := r.state.Load()
	if st.err != nil {
		return st.err
	}
	return checkRecipient(st.file, r.accountFor(st, t), to)
}

// Mail refuses a declared SIZE the upstream server of the sender's
// account announced it would refuse (RFC 1870 6.1: 552 at MAIL).
func (r *relay) Mail(ctx context.Context, t *serve.Txn) error {
	st := r.state.Load()
	if st.err != nil || r.pool == nil || t.Size <= 0 {
		return nil
	}
	name := r.accountFor(st, t)
	a, _, err := st.file.Select(name, t.From, "")
	if err != nil {
		return nil // decided after DATA, with the From: header
	}
	if limit := r.pool.SizeLimit(a.Name); limit > 0 && t.Size > limit {
		return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: fmt.Sprintf("message size %d exceeds the limit of account %s's server (%d bytes)", t.Size, a.Name, limit)}
	}
	return nil
}

// Deliver applies the message rules (prepare) and delivers.
func (r *relay) Deliver(ctx context.Context, t *serve.Txn, data io.Reader) error {
	m, err := message.Read(data, message.ReadOptions{IgnoreDots: true})
	if err != nil {
		return err
	}
	defer m.Close()
	st := r.state.Load()
	if st.err != nil {
		return st.err
	}
	if t.HeaderFrom != "" {
		if err := m.Replace("From", t.HeaderFrom); err != nil {
			return err
		}
	}
	one := *r.inv
	one.Mode = cli.Send
	one.Recipients = t.To
	one.ReadRecipients = false
	one.From, one.FromSet = t.From, true
	one.Account = r.accountFor(st, t)
	if t.DSNNotify != "" {
		one.DSNNotify = t.DSNNotify
	}
	if t.DSNReturn != "" {
		one.DSNReturn = t.DSNReturn
	}
	if t.EnvID != "" {
		one.EnvID = t.EnvID
	}
	p, err := prepare(st.file, &one, m)
	if err != nil {
		return err
	}
	if t.UTF8 && m.HeaderNonASCII() {
		p.env.UTF8 = true
	}
	if r.send == nil {
		// -bs: exactly what a piped message does.
		side := *r.env
		side.Stdout = r.env.Stderr
		if one.Pretend {
			return pretend(ctx, &side, p)
		}
		return deliver(ctx, &side, &one, p)
	}
	if t.Peer.HasCred {
		p.submitter = submitterOf(t.Peer.UID) // mailq.go
	}
	out, err := deliverWith(ctx, r.env, p, r.send, delivery{id: t.ID, client: t.Peer.Addr, logFallback: r.logOut})
	switch {
	case out.Queued != "":
		t.Reply = "queued as " + out.Queued + "; gsendmail will retry"
		r.wake("")
	case err == nil && out.Reply != "":
		reply := out.Reply
		if code, rest, ok := strings.Cut(reply, " "); ok && strings.Count(code, ".") == 2 && strings.Trim(code, "0123456789.") == "" {
			reply = rest // the enhanced code is ours to send
		}
		t.Reply = "upstream: " + reply
	}
	switch {
	case out.Queued != "":
	case err == nil && p.acct.Queue:
		r.wake(p.acct.Name) // upstream is back: send what waits
	}
	return err
}

func (r *relay) wake(account string) {
	if r.kick == nil {
		return
	}
	select {
	case r.kick <- account:
	default:
	}
}

// authenticate checks a local [serve.user.NAME] login.
func (r *relay) authenticate(ctx context.Context, user, password string) error {
	st := r.state.Load()
	if st.err != nil {
		return tempError{st.err}
	}
	u := st.file.Serve.Users[user]
	if u == nil {
		return errors.New("no such [serve.user] (wrong user name)")
	}
	want, err := secret.Password(ctx, u.PasswordSource(), st.d.Keyring)
	if err != nil {
		return tempError{err}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return errors.New("wrong password")
	}
	return nil
}

// tempError marks a local AUTH that could not be checked (454, not 535).
type tempError struct{ error }

func (tempError) Temporary() bool { return true }

// sharedTokens keeps one in-memory token source per account for the
// daemon's lifetime (per configuration), so concurrent upstream sessions
// share one access token. Underneath, oauth.Config's token file lock still
// makes the daemon and sendmail invocations refresh at most once.
type sharedTokens struct {
	mu sync.Mutex
	m  map[string]*memoToken
}

// memoTTL is how long a token stays in memory: oauth hands out tokens
// valid for at least its refresh margin (5 minutes), so this is safe.
const memoTTL = 4 * time.Minute

type memoToken struct {
	mu    sync.Mutex
	src   submit.TokenSource
	tok   string
	until time.Time
}

func (s *sharedTokens) source(a *config.Account, mk func() (submit.TokenSource, error)) (submit.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.m[a.Name]; t != nil {
		return t, nil
	}
	src, err := mk()
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = map[string]*memoToken{}
	}
	t := &memoToken{src: src}
	s.m[a.Name] = t
	return t, nil
}

func (t *memoToken) AccessToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && time.Now().Before(t.until) {
		return t.tok, nil
	}
	tok, err := t.src.AccessToken(ctx)
	if err != nil {
		return "", err
	}
	t.tok, t.until = tok, time.Now().Add(memoTTL)
	return tok, nil
}

func (t *memoToken) Invalidate() error {
	t.mu.Lock()
	t.tok = ""
	t.mu.Unlock()
	return t.src.Invalidate()
}

// newServeState loads the configuration and the deps every session uses.
func newServeState(env *Env, inv *cli.Invocation) *serveState {
	file, err := loadConfig(env, inv.ConfigFile)
	if err != nil {
		return &serveState{err: err}
	}
	st := &serveState{file: file, tokens: &sharedTokens{}}
	d := deps(env, inv, file)
	d.Transcript = nil // the daemon never prints the protocol
	oauthFor := d.OAuth
	d.OAuth = func(a *config.Account) (submit.TokenSource, error) {
		return st.tokens.source(a, func() (submit.TokenSource, error) { return oauthFor(a) })
	}
	st.d = d
	if servePolicyFor != nil {
		if st.policy, err = servePolicyFor(file); err != nil {
			return &serveState{err: err}
		}
	}
	return st
}

// servePolicyFor, when set (the system MTA mode registers it from its own
// file), builds the PeerPolicy of a configuration. It is called at start
// and at every SIGHUP reload; an error is a configuration error.
var servePolicyFor func(file *config.File) (serve.PeerPolicy, error)

// statePolicy asks the current configuration's policy, so a reload
// changes it for the next MAIL.
type statePolicy struct{ r *relay }

func (p statePolicy) Sender(peer serve.Peer, mailFrom string) (string, string, error) {
	if pol := p.r.state.Load().policy; pol != nil {
		return pol.Sender(peer, mailFrom)
	}
	return mailFrom, "", nil
}

// parseServeArgs reads "--listen ADDR" (repeatable) and --help.
func parseServeArgs(args []string) (listen []string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			return nil, true, nil
		case a == "--listen":
			if i+1 >= len(args) {
				return nil, false, usageErr("serve: --listen needs an address, such as 127.0.0.1:2525")
			}
			i++
			listen = append(listen, args[i])
		case strings.HasPrefix(a, "--listen="):
			listen = append(listen, strings.TrimPrefix(a, "--listen="))
		default:
			return nil, false, usageErr("serve: unexpected argument %q (usage: gsendmail serve [--listen ADDR]...)", a)
		}
	}
	for _, l := range listen {
		if err := serve.CheckAddr(l); err != nil {
			return nil, false, usageErr("serve: %v", err)
		}
	}
	return listen, false, nil
}

// concurrentProcs gives the daemon the Ps the runtime would have chosen
// (the GOMAXPROCS variable if it is a number, else the CPUs this process
// may use): cmd/gsendmail starts every run with one, for a send
// (cmd/gsendmail/internal/startup), and serve is the one mode whose
// sessions run in parallel.
func concurrentProcs(getenv func(string) string) {
	if n, err := strconv.Atoi(getenv("GOMAXPROCS")); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
		return
	}
	runtime.SetDefaultGOMAXPROCS()
}

// serveCommand is "gsendmail serve".
func serveCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	listen, help, err := parseServeArgs(inv.SubArgs)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(env.Stdout, serveUsage)
		return nil
	}
	concurrentProcs(env.Getenv)
	st := newServeState(env, inv)
	if st.err != nil {
		return st.err
	}
	sc := st.file.Serve
	if len(listen) == 0 {
		listen = sc.Listen
	}
	if len(listen) == 0 {
		listen = []string{serve.DefaultListen}
	}
	fdNames := env.Getenv("LISTEN_FDNAMES") // SystemdListeners clears it
	systemd, err := serve.SystemdListeners(env.Getenv)
	if err != nil {
		return err
	}
	systemd, queryListeners := splitQueryListeners(systemd, fdNames)
	secure := sc.RequireAuth && sc.TLSCertFile != ""
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	if len(systemd) > 0 {
		listeners = systemd
		for _, l := range listeners {
			if !serve.ListenerIsLoopback(l) && !secure {
				closeAll()
				return sysexits.New(sysexits.Config, fmt.Errorf("serve: refusing the socket %s from systemd: a non-loopback address needs require_auth = true, tls_cert_file and tls_key_file in [serve] (never an open relay)", l.Addr()))
			}
		}
	} else {
		for _, a := range listen {
			if !serve.IsLoopbackAddr(a) && !secure {
				return sysexits.New(sysexits.Config, fmt.Errorf("serve: refusing to listen on %s: a non-loopback address needs require_auth = true, tls_cert_file and tls_key_file in [serve] (never an open relay)", a))
			}
		}
	}
	var tlsConfig *tls.Config
	if sc.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(sc.TLSCertFile, sc.TLSKeyFile)
		if err != nil {
			closeAll()
			return sysexits.New(sysexits.Config, fmt.Errorf("serve: cannot load tls_cert_file/tls_key_file: %v", err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if len(systemd) == 0 {
		for _, a := range listen {
			l, err := serve.Listen(a)
			if err != nil {
				closeAll()
				return err
			}
			listeners = append(listeners, l)
		}
	}

	logLine := func(line string) { fmt.Fprintf(env.Stderr, "gsendmail: serve: %s\n", line) }
	r := &relay{env: env, inv: inv, kick: make(chan string, 1), logOut: env.Stderr}
	r.state.Store(st)
	idle := sc.UpstreamIdle
	if idle == 0 {
		idle = serve.DefaultUpstreamIdle
	}
	r.pool = &serve.Pool{
		Idle:   idle,
		Max:    sc.UpstreamSessions,
		SendOn: sendOn,
		Dial: func(ctx context.Context, a *config.Account) (*submit.Session, error) {
			return submit.Connect(ctx, a, r.state.Load().d)
		},
	}
	r.send = r.pool.Send
	o := serve.Options{
		Hostname:       stdioHostname(),
		Relay:          r,
		RequireAuth:    sc.RequireAuth,
		TLSConfig:      tlsConfig,
		MaxSessions:    sc.MaxSessions,
		MaxRecipients:  sc.MaxRecipients,
		MaxMessageSize: sc.MaxMessageSize,
		CommandTimeout: sc.CommandTimeout,
		DataTimeout:    sc.DataTimeout,
		Log:            logLine,
	}
	if len(sc.Users) > 0 {
		o.Auth = r.authenticate
	}
	if servePolicyFor != nil {
		o.Policy = statePolicy{r}
	}
	srv := serve.New(o)

	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	qs := r.startQueryServer(queryListeners, listeners, len(systemd) > 0, logLine) // mailq.go
	var names []string
	for _, l := range listeners {
		names = append(names, l.Addr().String())
	}
	logLine(fmt.Sprintf("listening on %s (pid %d)", strings.Join(names, ", "), os.Getpid()))

	runCtx, stopRunner := context.WithCancel(context.Background())
	runnerDone := make(chan struct{})
	go func() { defer close(runnerDone); r.runQueue(runCtx, logLine) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			next := newServeState(env, inv)
			if next.err != nil {
				logLine("reload failed, keeping the old configuration: " + redact.OneLine(next.err.Error()))
				continue
			}
			r.state.Store(next)
			logLine("configuration reloaded (listen addresses and limits apply at the next start)")
		case err := <-errc:
			if err != nil {
				serveErr = sysexits.New(sysexits.OSErr, fmt.Errorf("serve: %v", err))
				break loop
			}
		}
	}
	timeout := sc.ShutdownTimeout
	if timeout == 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logLine(fmt.Sprintf("shutdown_timeout (%v) reached: closed the connections still in a transaction (those clients got no reply and keep their mail)", timeout))
	}
	qs.Close()
	stopRunner()
	<-runnerDone
	r.pool.Close()
	logLine("stopped")
	return serveErr
}

// runQueue is the daemon's own retry loop: it flushes entries whose retry
// time has come (the queue's backoff), sleeping until the next one is due,
// so a machine running serve needs no timer.
func (r *relay) runQueue(ctx context.Context, logLine func(string)) {
	force := ""
	for {
		wait := r.flushOnce(ctx, force, logLine)
		force = ""
		select {
		case <-ctx.Done():
			return
		case force = <-r.kick:
		case <-time.After(wait):
		}
	}
}

// maxQueueWait bounds the sleep between queue scans (entries queued by
// sendmail invocations are found this late at most).
const maxQueueWait = time.Minute

func (r *relay) flushOnce(ctx context.Context, force string, logLine func(string)) time.Duration {
	st := r.state.Load()
	wait := maxQueueWait
	for _, dir := range queueDirs(r.env, st.file) {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		q, err := queue.Open(dir)
		if err != nil {
			continue
		}
		if entries, err := q.List(); err != nil || len(entries) == 0 {
			continue
		}
		fo := flushOptions(ctx, r.env, st.file, st.d, q, force, force != "")
		rep, err := q.Flush(ctx, poolSender{r}, fo)
		if rep.Sent+rep.Deferred+rep.Failed > 0 || err != nil {
			line := fmt.Sprintf("queue %s: %d sent, %d deferred, %d failed", dir, rep.Sent, rep.Deferred, rep.Failed)
			if err != nil {
				line += ": " + redact.OneLine(err.Error())
			}
			logLine(line)
		}
		entries, _ := q.List()
		for _, e := range entries {
			if d := time.Until(e.NextAttempt); d < wait {
				wait = max(d, time.Second)
			}
		}
	}
	return wait
}

// poolSender lets the queue send through the warm sessions, within
// upstream_sessions.
type poolSender struct{ r *relay }

type poolConn struct {
	r *relay
	a *config.Account
}

func (p poolSender) Open(ctx context.Context, account string) (queue.Conn, error) {
	st := p.r.state.Load()
	a, ok := st.file.Accounts[account]
	if !ok {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("account %q is no longer in %s", account, st.file.Path))
	}
	return poolConn{p.r, a}, nil
}

func (c poolConn) Send(ctx context.Context, e queue.Entry, msg io.Reader) error {
	_, err := c.r.pool.Send(ctx, c.a, envelopeOf(e), msg)
	return err
}
func (c poolConn) Reset(ctx context.Context) error { return nil }
func (c poolConn) Close() error                    { return nil }

// checkRecipient refuses at RCPT time a recipient that no account could
// deliver to (a bare local name without alias or local_domain), so the
// caller learns which recipient is wrong. Without a local AUTH user (or
// -a) the account is only known for sure after DATA (the From: header can
// choose it), so with several accounts a recipient is refused only when
// every candidate refuses it.
func checkRecipient(file *config.File, account, to string) error {
	names := file.Order
	if account != "" {
		names = []string{account}
	}
	if len(names) == 0 {
		_, _, err := file.Select(account, "", "")
		return err
	}
	var first error
	for _, n := range names {
		a := file.Accounts[n]
		if a == nil {
			// -a names no account: say so now.
			_, _, err := file.Select(account, "", "")
			return err
		}
		_, err := expandRecipients(a, []string{to})
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
