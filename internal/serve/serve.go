// Package serve is gsendmail's local SMTP submission proxy ("gsendmail
// serve", and "sendmail -bs" over standard input and output). It owns the
// local side of the dialogue, on github.com/emersion/go-smtp's server:
// listeners (TCP, Unix sockets, systemd socket activation), peer
// credentials and the PeerPolicy hook, local AUTH PLAIN/LOGIN, the limits
// (sessions, recipients, size, command and data timeouts), graceful
// shutdown, and turning a relay error into the SMTP reply the client sees.
// It also keeps warm upstream sessions (Pool).
//
// It does not choose accounts, rewrite messages, queue or decide policy:
// each transaction is handed to a Relay (internal/app), which applies the
// same rules as a piped message.
//
// The reliability contract: a client gets 250 at the end of data only when
// Relay.Deliver returned nil, that is when the upstream server accepted the
// message or it was fsynced into the queue. Shutdown never turns a
// transaction in flight into a 250 it did not earn: connections are closed
// between transactions, and a transaction cut off by the shutdown deadline
// gets no reply at all.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// Txn is one mail transaction as the relay sees it.
type Txn struct {
	ID         string // for the log line; unique per transaction
	Peer       Peer
	Helo       string // the client's EHLO/HELO argument (informational only)
	User       string // local AUTH user; "" without AUTH
	From       string // envelope sender after the policy; "" is the null sender
	HeaderFrom string // From: header value the policy imposes; "" keeps the message's
	To         []string
	Size       int64 // SIZE= the client declared; 0 when none
	UTF8       bool  // SMTPUTF8 on MAIL
	EightBit   bool  // BODY=8BITMIME on MAIL
	DSNReturn  string
	EnvID      string
	DSNNotify  string // NOTIFY= of the first recipient that set one
	// Reply, set by Relay.Deliver on success, is the text of the 250
	// (the upstream queue id, or where it was queued).
	Reply string
}

// Relay does the work behind the dialogue.
type Relay interface {
	// Recipient checks one RCPT TO; an error refuses only that recipient
	// (reply chosen by RcptReply).
	Recipient(ctx context.Context, t *Txn, to string) error
	// Deliver is called after the end of data. data is the message with
	// dot-stuffing removed, as the client sent it; it must be read to the
	// end before anything slow happens (the data timeout runs until
	// then). nil means delivered or durably queued: the client gets 250.
	// An error becomes the reply chosen by DataReply.
	Deliver(ctx context.Context, t *Txn, data io.Reader) error
}

// MailChecker is an optional Relay method called at MAIL FROM, after the
// policy: an error refuses MAIL (the reply chosen by RcptReply), such as a
// declared SIZE over the upstream server's own limit.
type MailChecker interface {
	Mail(ctx context.Context, t *Txn) error
}

// Authenticator checks a local user's password. nil means accepted; an
// error with Temporary() true gives 454 (the password could not be
// checked now), any other error 535 after Options.AuthFailureDelay.
type Authenticator func(ctx context.Context, user, password string) error

// Options configures a Server.
type Options struct {
	Hostname string // greeting name; "" means "localhost"
	Relay    Relay
	Policy   PeerPolicy
	// Auth enables local AUTH PLAIN and LOGIN; nil offers no AUTH.
	Auth        Authenticator
	RequireAuth bool // MAIL is refused until the client authenticated
	TLSConfig   *tls.Config
	// Limits; zero values take the defaults below.
	MaxSessions      int
	MaxRecipients    int
	MaxMessageSize   int64
	CommandTimeout   time.Duration // per command read; < 0: none
	DataTimeout      time.Duration // the whole DATA or BDAT sequence
	AuthFailureDelay time.Duration
	// Log receives one line per notable event (refused AUTH, refused
	// connections); nil discards. Per-message lines are the relay's.
	Log func(line string)
}

// Defaults for Options.
const (
	DefaultMaxSessions      = 100
	DefaultMaxRecipients    = 100
	DefaultMaxMessageSize   = 50 << 20
	DefaultCommandTimeout   = 5 * time.Minute
	DefaultDataTimeout      = 10 * time.Minute
	DefaultAuthFailureDelay = time.Second
)

// ErrDataTruncated is returned by ServeConn when the input ended in the
// middle of a message: that message was not delivered.
var ErrDataTruncated = errors.New("input ended in the middle of a message; it was not sent")

// Server is a running proxy. Create it with New.
type Server struct {
	o  Options
	gs *gosmtp.Server

	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc
	slots  chan struct{}

	mu        sync.Mutex
	conns     map[*trackedConn]struct{}
	closing   bool
	truncated bool
}

// New builds a server; it listens nowhere until Serve.
func New(o Options) *Server {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.DataTimeout == 0 {
		o.DataTimeout = DefaultDataTimeout
	}
	if o.AuthFailureDelay == 0 {
		o.AuthFailureDelay = DefaultAuthFailureDelay
	}
	s := &Server{o: o, slots: make(chan struct{}, o.MaxSessions), conns: map[*trackedConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	gs := gosmtp.NewServer(backend{s})
	gs.Domain = o.Hostname
	gs.MaxRecipients = o.MaxRecipients
	gs.MaxMessageBytes = o.MaxMessageSize
	if o.CommandTimeout > 0 {
		gs.ReadTimeout = o.CommandTimeout
		gs.WriteTimeout = o.CommandTimeout
	}
	gs.TLSConfig = o.TLSConfig
	// Whether AUTH may go before TLS is decided per connection (only on
	// loopback and Unix sockets) in AuthMechanisms and Auth.
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = true
	gs.EnableDSN = true
	gs.ErrorLog = logAdapter{s}
	s.gs = gs
	return s
}

func (s *Server) logf(format string, args ...any) {
	if s.o.Log != nil {
		s.o.Log(redact.OneLine(fmt.Sprintf(format, args...)))
	}
}

// Serve accepts connections on l until Shutdown; it returns nil after a
// shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.gs.Serve(&limitListener{Listener: l, s: s})
	if errors.Is(err, gosmtp.ErrServerClosed) || s.isClosing() {
		return nil
	}
	return err
}

// ServeConn runs one dialogue on c ("sendmail -bs") and returns when it
// ends. It returns ErrDataTruncated when c's input ended inside DATA.
func (s *Server) ServeConn(c net.Conn) error {
	l := &oneConnListener{c: c, done: make(chan struct{})}
	err := s.gs.Serve(&limitListener{Listener: l, s: s})
	if errors.Is(err, errOneConnDone) {
		err = nil
	}
	// Wait for go-smtp's connection goroutine: nothing may touch c after
	// we return.
	s.gs.Shutdown(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.truncated {
		return ErrDataTruncated
	}
	return err
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, closes connections without an open transaction
// at once and the others as soon as their transaction ends (after MAIL, a
// transaction may finish), and waits until every connection is
// gone or ctx ends. Then it cancels the deliveries still running and
// closes what is left: those clients get no reply, so they keep their
// message.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		if !c.busy {
			c.Conn.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.gs.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		s.cancel()
		return ignoreClosed(err)
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Conn.Close()
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return ctx.Err()
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, gosmtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// --- connections ---

// trackedConn is an accepted connection holding a session slot.
type trackedConn struct {
	net.Conn
	s     *Server
	peer  Peer
	local bool // loopback or Unix socket: AUTH before TLS is allowed
	busy  bool // a transaction is open: from MAIL to its end or RSET (guarded by s.mu)
	once  sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		<-c.s.slots
	})
	return err
}

// limitListener enforces max_sessions: a connection over the limit gets
// 421 and is closed (RFC 5321 3.8), without reaching go-smtp.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.s
		select {
		case s.slots <- struct{}{}:
		default:
			s.logf("refused connection from %s: max_sessions (%d) reached", c.RemoteAddr(), s.o.MaxSessions)
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.7.0 "+s.o.Hostname+" too many connections, try again later\r\n")
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: &filterConn{Conn: c}, s: s, peer: PeerOf(c)}
		tc.local = tc.peer.Network == "unix" || isLoopbackConn(c)
		s.mu.Lock()
		closing := s.closing
		if !closing {
			s.conns[tc] = struct{}{}
		}
		s.mu.Unlock()
		if closing {
			c.Close()
			<-s.slots
			continue
		}
		return tc, nil
	}
}

func isLoopbackConn(c net.Conn) bool {
	switch a := c.LocalAddr().(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case pipeAddr:
		return true
	}
	return false
}

// pipeAddr names the two ends of "sendmail -bs": the process that started us.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "stdio" }

// PipeAddr is the address of a connection over standard input and output;
// such a connection counts as local.
var PipeAddr net.Addr = pipeAddr{}

var errOneConnDone = errors.New("serve: the single connection ended")

// oneConnListener yields one connection, then waits for it to close.
type oneConnListener struct {
	c      net.Conn
	given  bool
	done   chan struct{}
	closed sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.given {
		l.given = true
		return &notifyConn{Conn: l.c, l: l}, nil
	}
	<-l.done
	return nil, errOneConnDone
}

func (l *oneConnListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

type notifyConn struct {
	net.Conn
	l *oneConnListener
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.l.Close()
	return err
}

// tracked finds our trackedConn under go-smtp's (possibly TLS-wrapped) conn.
func tracked(c net.Conn) *trackedConn {
	for {
		switch t := c.(type) {
		case *trackedConn:
			return t
		case *tls.Conn:
			c = t.NetConn()
		default:
			return nil
		}
	}
}

// --- go-smtp backend and session ---

type backend struct{ s *Server }

func (b backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	tc := tracked(c.Conn())
	if tc == nil {
		return nil, errors.New("internal error: untracked connection")
	}
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, c: c, tc: tc, tls: isTLS}, nil
}

type session struct {
	s    *Server
	c    *gosmtp.Conn
	tc   *trackedConn
	tls  bool
	user string
	txn  *Txn
}

var (
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
)

func newTxnID() string {
	var b [6]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func (x *session) Mail(from string, opts *gosmtp.MailOptions) error {
	from = stripMarker(from)
	s := x.s
	if s.isClosing() {
		x.tc.Conn.Close()
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "shutting down, try again later"}
	}
	if s.o.RequireAuth && x.user == "" {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	t := &Txn{ID: newTxnID(), Peer: x.tc.peer, Helo: x.c.Hostname(), User: x.user, From: from}
	if s.o.Policy != nil {
		env, hdr, err := s.o.Policy.Sender(x.tc.peer, from)
		if err != nil {
			return policyReply(err)
		}
		t.From, t.HeaderFrom = env, hdr
	}
	if opts != nil {
		t.Size = opts.Size
		t.UTF8 = opts.UTF8
		t.EightBit = opts.Body == gosmtp.Body8BitMIME
		t.DSNReturn = string(opts.Return)
		t.EnvID = opts.EnvelopeID
	}
	if mc, ok := s.o.Relay.(MailChecker); ok {
		if err := mc.Mail(s.ctx, t); err != nil {
			return RcptReply(err)
		}
	}
	s.mu.Lock()
	x.txn = t
	x.tc.busy = true
	s.mu.Unlock()
	return nil
}

func (x *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	to = stripMarker(to)
	if x.txn == nil {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	if err := x.s.o.Relay.Recipient(x.s.ctx, x.txn, to); err != nil {
		return RcptReply(err)
	}
	if opts != nil && len(opts.Notify) > 0 && x.txn.DSNNotify == "" {
		n := make([]string, len(opts.Notify))
		for i, v := range opts.Notify {
			n[i] = string(v)
		}
		x.txn.DSNNotify = strings.Join(n, ",")
	}
	x.txn.To = append(x.txn.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	s := x.s
	s.mu.Lock()
	t := x.txn // BDAT runs this in its own goroutine while RSET may clear x.txn
	s.mu.Unlock()
	if t == nil || len(t.To) == 0 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
	}
	// The data timeout covers reading the whole message (slow-loris
	// guard for DATA and all BDAT chunks); delivery afterwards is bounded
	// by the account's own timeouts.
	raw := x.tc.Conn
	timer := time.AfterFunc(s.o.DataTimeout, func() {
		s.logf("closing connection from %s: message not received within data_timeout (%v)", x.tc.peer.Addr, s.o.DataTimeout)
		raw.Close()
	})
	defer timer.Stop()
	dr := &dataReader{r: r, timer: timer}
	err := s.o.Relay.Deliver(s.ctx, t, dr)
	if dr.err != nil && errors.Is(dr.err, io.ErrUnexpectedEOF) {
		s.mu.Lock()
		s.truncated = true
		s.mu.Unlock()
	}
	if err == nil {
		if f, ok := x.tc.Conn.(*filterConn); ok && t.Reply != "" {
			f.setOK(Sanitize(t.Reply))
		}
		return nil
	}
	if dr.err != nil {
		// The client's side broke (size limit, reset, closed): report
		// that, not what the relay made of the short read.
		var se *gosmtp.SMTPError
		if errors.As(dr.err, &se) {
			return se
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "message not received completely; not sent"}
	}
	return DataReply(err)
}

// dataReader stops the data timer at the end of the message and keeps the
// client-side read error.
type dataReader struct {
	r     io.Reader
	timer *time.Timer
	err   error
}

func (d *dataReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == io.EOF {
		d.timer.Stop()
	} else if err != nil && d.err == nil {
		d.err = err
	}
	return n, err
}

// Reset ends the transaction (RSET, the end of DATA/BDAT, a new EHLO).
// During a shutdown the connection is closed here, between transactions:
// the reply to the last one is already written.
func (x *session) Reset() {
	s := x.s
	s.mu.Lock()
	x.txn = nil
	x.tc.busy = false
	closing := s.closing
	s.mu.Unlock()
	if closing {
		x.tc.Conn.Close()
	}
}

// Logout ends the session (connection closed, or STARTTLS starting a new
// one): no transaction stays open.
func (x *session) Logout() error {
	x.s.mu.Lock()
	x.txn = nil
	x.tc.busy = false
	x.s.mu.Unlock()
	return nil
}

// AuthMechanisms offers AUTH only where users are configured, and before
// TLS only on loopback or a Unix socket (RFC 4954 4: no cleartext
// passwords over a network).
func (x *session) AuthMechanisms() []string {
	if x.s.o.Auth == nil || !(x.tls || x.tc.local) {
		return nil
	}
	return []string{"PLAIN", "LOGIN"}
}

var errTLSFirst = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}

func (x *session) Auth(mech string) (sasl.Server, error) {
	if x.s.o.Auth == nil {
		return nil, gosmtp.ErrAuthUnsupported
	}
	if !(x.tls || x.tc.local) {
		return nil, errTLSFirst
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return newPlainServer(x.check), nil
	case "LOGIN":
		return newLoginServer(x.check), nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// check verifies one local login; failures are delayed and logged without
// the password.
func (x *session) check(identity, user, password string) error {
	if identity != "" && identity != user {
		x.s.logf("refused AUTH from %s: authorization identity %q differs from user %q", x.tc.peer.Addr, identity, user)
		return gosmtp.ErrAuthFailed
	}
	err := x.s.o.Auth(x.s.ctx, user, password)
	if err == nil {
		x.user = user
		return nil
	}
	if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
		x.s.logf("AUTH for user %q from %s could not be checked: %v", user, x.tc.peer.Addr, err)
		return &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "temporary authentication failure"}
	}
	x.s.logf("refused AUTH for user %q from %s: %v", user, x.tc.peer.Addr, err)
	select {
	case <-time.After(x.s.o.AuthFailureDelay):
	case <-x.s.ctx.Done():
	}
	return gosmtp.ErrAuthFailed
}

type logAdapter struct{ s *Server }

func (l logAdapter) Printf(format string, v ...any) { l.s.logf(format, v...) }
func (l logAdapter) Println(v ...any)               { l.s.logf("%s", fmt.Sprint(v...)) }
