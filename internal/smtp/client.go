// Package smtp owns gsendmail's SMTP submission client (RFC 5321, RFC 6409):
// connecting with implicit TLS or STARTTLS, EHLO with the caller's name
// (the same before and after STARTTLS), AUTH through go-sasl mechanisms,
// MAIL/RCPT/DATA with PIPELINING, BDAT with CHUNKING, SIZE, 8BITMIME,
// SMTPUTF8 and DSN parameters, bounded reply parsing, per-step deadlines,
// and a -v transcript with AUTH payloads replaced by "***".
//
// It does not choose the EHLO name (internal/ehlo), build TLS policy or
// pins (the caller's tls.Config), obtain credentials or tokens
// (internal/secret, internal/oauth), retry or queue (internal/queue), or
// read the message off stdin (internal/message), or decide what an error
// means for the caller: it reports facts (an *Error for a server reply, a
// *Failure with its Reason otherwise) and internal/outcome turns them into
// an exit code and what to do.
//
// It is not go-smtp's client or net/smtp (see DESIGN.md for why). Replies
// are read with its own bounded reader on bufio rather than
// net/textproto's Reader, whose lines and multi-line replies are
// unbounded.
package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// TLSMode says how the connection is protected. Its words, from String
// and ParseTLSMode, are the one spelling of the setting everywhere: the
// configuration file's tls key, doctor's report, setup's wizard and the
// files it writes.
type TLSMode int

const (
	// None ("none"): plain text. AUTH is refused unless
	// Options.AllowInsecureAuth.
	None TLSMode = iota
	// StartTLS ("starttls"): plain connect, then STARTTLS (RFC 3207),
	// which the server must offer.
	StartTLS
	// Implicit ("tls"): TLS from the first byte (RFC 8314 3, "implicit
	// TLS", usually port 465).
	Implicit
)

// tlsModeWords are the modes' words, in the order error messages list
// them. Every spelling gsendmail accepts is here; there are no aliases.
var tlsModeWords = []struct {
	mode TLSMode
	word string
}{{StartTLS, "starttls"}, {Implicit, "tls"}, {None, "none"}}

// String returns the mode's word: "starttls", "tls" or "none".
func (m TLSMode) String() string {
	for _, w := range tlsModeWords {
		if w.mode == m {
			return w.word
		}
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// DefaultPort is the port a mode is served on when none is given: 465
// for Implicit (RFC 8314 7.3, submissions), 587 for StartTLS (RFC 6409
// 3.1, submission), 25 for None (a relay).
func (m TLSMode) DefaultPort() int {
	switch m {
	case Implicit:
		return 465
	case None:
		return 25
	}
	return 587
}

// TLSModeWords lists the words ParseTLSMode accepts, in the order a
// message offering them should list them ("starttls", "tls", "none").
func TLSModeWords() []string {
	out := make([]string, len(tlsModeWords))
	for i, w := range tlsModeWords {
		out[i] = w.word
	}
	return out
}

// ParseTLSMode is String's inverse. Words are matched exactly, as the
// configuration file has always required.
func ParseTLSMode(s string) (TLSMode, bool) {
	for _, w := range tlsModeWords {
		if w.word == s {
			return w.mode, true
		}
	}
	return 0, false
}

// DefaultCommandTimeout bounds each command step when
// Options.CommandTimeout is zero.
const DefaultCommandTimeout = 60 * time.Second

// Options configure Dial.
type Options struct {
	Addr string  // host:port to dial
	TLS  TLSMode // how to protect the connection

	// TLSConfig is built by the caller (ServerName, RootCAs,
	// VerifyConnection for pinning). It is cloned; ServerName defaults to
	// Addr's host and MinVersion, when zero, to TLS 1.2.
	TLSConfig *tls.Config

	// HelloName is called once after connecting with the socket's local
	// address and returns the EHLO argument. The same name is used before
	// and after STARTTLS. Nil uses the address literal of the local
	// address (RFC 5321 4.1.3), e.g. "[192.0.2.7]".
	HelloName func(local net.Addr) (string, error)

	// CommandTimeout bounds each step: one command (or one pipelined group)
	// and its reply, the TLS handshake, one chunk of message upload. The
	// deadline is not extended while a reply trickles in.
	CommandTimeout time.Duration

	// Dialer replaces net.Dialer.DialContext (tests, proxies).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	// Transcript receives the -v protocol transcript: "<- " server lines,
	// "-> " client lines. AUTH payloads and SASL responses appear as "***",
	// message content as "-> [message: N bytes]".
	Transcript io.Writer

	// AllowInsecureAuth permits AUTH on a connection without TLS (meant
	// for a loopback server only).
	AllowInsecureAuth bool

	// DisableChunking keeps to DATA even when the server offers CHUNKING.
	DisableChunking bool
}

// Client is one SMTP connection. It is not safe for concurrent use.
type Client struct {
	o       Options
	host    string   // Addr without port, for messages and ServerName
	raw     net.Conn // the TCP connection under any TLS, closed on ctx end
	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	timeout time.Duration

	tlsState  *tls.ConnectionState
	greeting  string
	hello     string
	ehloReply []string
	ext       map[string]string // upper-case keyword -> parameters

	pending   *pendingAuth // AUTH deferred to the next pipelined group (AuthOptions.Pipeline)
	needReset bool         // a transaction was left open; RSET before the next
	lastOK    bool         // the last Send succeeded: QUIT need not wait
	lastReply string
	closed    bool
}

// Dial connects, reads the greeting, says EHLO (falling back to HELO on a
// server that does not know EHLO) and, for StartTLS, upgrades the
// connection and says EHLO again with the same name.
func Dial(ctx context.Context, o Options) (*Client, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fail(BadAddress, StepConnect, err, "invalid server address %q: %v", o.Addr, err)
	}
	c := &Client{o: o, host: host, timeout: o.CommandTimeout}
	if c.timeout <= 0 {
		c.timeout = DefaultCommandTimeout
	}
	dial := o.Dialer
	if dial == nil {
		dial = (&net.Dialer{Timeout: c.timeout}).DialContext
	}
	conn, err := dial(ctx, "tcp", o.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxErr(ctx, o.Addr, "connect")
		}
		return nil, dialError(host, o.Addr, err)
	}
	c.raw = conn
	c.setConn(conn)
	stop := c.watch(ctx)
	defer stop()

	if err := c.handshake(ctx); err != nil {
		c.conn.Close()
		c.closed = true
		return nil, err
	}
	return c, nil
}

func (c *Client) handshake(ctx context.Context) error {
	if c.o.TLS == Implicit {
		if err := c.startTLS(ctx); err != nil {
			return err
		}
	}
	// RFC 5321 4.3.1: the greeting.
	r, err := c.read(ctx, CmdGreeting)
	if err != nil {
		return err
	}
	c.greeting = r.text()
	if r.code != 220 {
		return c.replyErr(CmdGreeting, r)
	}

	local := c.conn.LocalAddr()
	if c.o.HelloName != nil {
		c.hello, err = c.o.HelloName(local)
		if err != nil {
			return fmt.Errorf("choosing the EHLO name: %w", err)
		}
	} else {
		c.hello = addressLiteral(local)
	}
	if strings.ContainsAny(c.hello, "\r\n\x00 ") || c.hello == "" {
		return fail(BadHelloName, StepEHLO, nil, "invalid EHLO name %q", c.hello)
	}
	if err := c.ehlo(ctx); err != nil {
		return err
	}
	if c.o.TLS != StartTLS {
		return nil
	}
	// RFC 3207 4: STARTTLS must be advertised; we never fall back to
	// clear text.
	if _, ok := c.ext["STARTTLS"]; !ok {
		return protocolErr(NoSTARTTLS, StepSTARTTLS, "server %s does not offer STARTTLS; refusing to send credentials or mail in clear text", c.o.Addr)
	}
	r, err = c.cmd(ctx, "STARTTLS", "STARTTLS")
	if err != nil {
		return err
	}
	if r.code >= 400 && r.code <= 499 {
		// RFC 3207 4: 454 "TLS not available due to temporary reason";
		// any 4xx is a refusal for now (75, queue and retry), not a
		// protocol failure.
		return c.replyErr("STARTTLS", r)
	}
	if r.code != 220 {
		return protocolErr(ProtocolViolation, StepSTARTTLS, "server %s refused STARTTLS: %d %s; cannot continue without TLS", c.o.Addr, r.code, oneLine(r.text()))
	}
	// RFC 3207 4 / CVE-2011-0411: anything the server sent after its 220
	// and before the handshake was injected in clear text; it must not be
	// read as a reply on the protected connection.
	if c.br.Buffered() > 0 {
		return protocolErr(ProtocolViolation, StepSTARTTLS, "server %s sent %d unexpected bytes after its STARTTLS reply (possible command injection); refusing to continue", c.o.Addr, c.br.Buffered())
	}
	if err := c.startTLS(ctx); err != nil {
		return err
	}
	// RFC 3207 4.2: discard what we learnt before TLS and ask again,
	// with the same name.
	return c.ehlo(ctx)
}

// startTLS runs the client handshake on the current connection.
func (c *Client) startTLS(ctx context.Context) error {
	cfg := c.o.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg.ServerName = c.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tc := tls.Client(c.conn, cfg)
	c.conn.SetDeadline(c.deadline(ctx))
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return ctxErr(ctx, c.o.Addr, "TLS handshake")
		}
		return tlsErr(c.o.Addr, err)
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.setConn(tc)
	return nil
}

// ehlo says EHLO, or HELO when the server does not know EHLO
// (RFC 5321 4.1.4), and records the extensions (RFC 5321 4.1.1.1).
func (c *Client) ehlo(ctx context.Context) error {
	c.ext = map[string]string{}
	c.ehloReply = nil
	r, err := c.cmd(ctx, "EHLO "+c.hello, "EHLO "+c.hello)
	if err != nil {
		return err
	}
	if r.code == 250 {
		c.ehloReply = r.lines
		for _, l := range r.lines[1:] {
			k, v, _ := strings.Cut(l, " ")
			k = strings.ToUpper(k)
			// Old servers advertise "AUTH=LOGIN PLAIN" too.
			if kk, vv, ok := strings.Cut(k, "="); ok && kk == "AUTH" {
				if _, seen := c.ext["AUTH"]; !seen {
					c.ext["AUTH"] = strings.TrimSpace(vv + " " + v)
				}
				continue
			}
			c.ext[k] = v
		}
		return nil
	}
	e := c.replyErr("EHLO "+c.hello, r)
	if !ehloUnknown(r) {
		return e
	}
	r, err = c.cmd(ctx, "HELO "+c.hello, "HELO "+c.hello)
	if err != nil {
		return err
	}
	if r.code != 250 {
		return c.replyErr("HELO "+c.hello, r)
	}
	c.ehloReply = r.lines
	return nil
}

// ehloUnknown reports a refusal that means "no ESMTP here" rather than
// "bad name": 500/502 (unrecognised/not implemented) or 504/550 that do
// not mention the name.
func ehloUnknown(r *reply) bool {
	switch r.code {
	case 500, 502, 504, 550:
	default:
		return false
	}
	m := strings.ToLower(r.text())
	return !strings.Contains(m, "helo") && !strings.Contains(m, "ehlo") && !strings.Contains(m, "hostname") && !strings.Contains(m, "domain")
}

// addressLiteral is the RFC 5321 4.1.3 literal for a socket address.
func addressLiteral(a net.Addr) string {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err == nil {
			ip = net.ParseIP(host)
		}
	}
	if ip == nil {
		return "[127.0.0.1]"
	}
	if ip4 := ip.To4(); ip4 != nil {
		return "[" + ip4.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// Extension reports whether the server advertised name in its last EHLO
// reply and its parameters ("SIZE" -> "35882577").
func (c *Client) Extension(name string) (string, bool) {
	v, ok := c.ext[strings.ToUpper(name)]
	return v, ok
}

// Extensions returns a copy of the advertised extensions, keys upper-case.
func (c *Client) Extensions() map[string]string {
	m := make(map[string]string, len(c.ext))
	for k, v := range c.ext {
		m[k] = v
	}
	return m
}

// HelloName is the name sent with EHLO/HELO.
func (c *Client) HelloName() string { return c.hello }

// Greeting is the text of the server's 220 greeting.
func (c *Client) Greeting() string { return c.greeting }

// EHLOReply returns the text of the last EHLO (or HELO) reply lines; the
// first often names the client address the server sees.
func (c *Client) EHLOReply() []string { return append([]string(nil), c.ehloReply...) }

// TLSState returns the TLS connection state, if the connection uses TLS.
func (c *Client) TLSState() (tls.ConnectionState, bool) {
	if c.tlsState == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tlsState, true
}

// LocalAddr is the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// LastReply is the text of the final reply to the last successful Send
// (often the server's queue id: "2.0.0 Ok: queued as 4Xk2").
func (c *Client) LastReply() string { return c.lastReply }

// Reset sends RSET (RFC 5321 4.1.1.5), ending any transaction so another
// message can follow on this connection.
func (c *Client) Reset(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	if err := c.sendPendingAuth(ctx); err != nil {
		return err
	}
	return c.rset(ctx)
}

// rset sends RSET and clears needReset on 250: the one RSET of the
// client (Reset, Send before a further message, CheckEnvelope).
func (c *Client) rset(ctx context.Context) error {
	r, err := c.cmd(ctx, "RSET", "RSET")
	if err != nil {
		return err
	}
	if r.code != 250 {
		return c.replyErr("RSET", r)
	}
	c.needReset = false
	return nil
}

// quitWait bounds how long Quit waits for the 221.
const quitWait = time.Second

// Quit sends QUIT (RFC 5321 4.1.1.10) and closes the connection. After a
// successful Send it does not wait for the 221: the message is already
// accepted, the reply cannot change the outcome, and waiting would add a
// round trip to every submission (a deliberate departure from the SHOULD
// in 4.1.1.10). Otherwise it waits at most one second. Its error is only
// informational. A pending AUTH (AuthOptions.Pipeline) goes in the same
// write as QUIT and its refusal is Quit's error.
func (c *Client) Quit() error {
	if c.closed {
		return nil
	}
	defer c.Close()
	if c.pending != nil {
		ctx, cancel := context.WithTimeout(context.Background(), min(quitWait, c.timeout))
		defer cancel()
		if err := c.sendPendingAuth(ctx, "QUIT"); err != nil {
			return err
		}
		c.conn.SetDeadline(time.Now().Add(min(quitWait, c.timeout)))
	} else {
		c.conn.SetDeadline(time.Now().Add(min(quitWait, c.timeout)))
		if err := c.writeLines("QUIT"); err != nil {
			return netErr(c.o.Addr, "QUIT", err)
		}
	}
	if c.lastOK {
		return nil
	}
	r, err := readReply(c.br, c.traceServer)
	if err != nil {
		return netErr(c.o.Addr, "QUIT", err)
	}
	if r.code != 221 {
		return c.replyErr("QUIT", r)
	}
	return nil
}

// Close closes the connection without QUIT. A pending AUTH
// (AuthOptions.Pipeline) is dropped unsent: no credentials go on the wire
// when no command follows them.
func (c *Client) Close() error {
	c.pending = nil
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.Close()
}

// --- low-level I/O ---

// writeBuffer is the write buffer of commands and message chunks: one
// TLS record's worth of plaintext (16 KB, RFC 8446 5.1). A chunk larger
// than the free space is written past it, and TLS cuts everything into
// records of that size anyway, so a larger buffer only adds touched pages.
const writeBuffer = 16 << 10

// setConn points the buffered reader and writer at conn; after STARTTLS
// or implicit TLS they are the same buffers, reset, not new ones.
func (c *Client) setConn(conn net.Conn) {
	c.conn = conn
	if c.br != nil {
		c.br.Reset(conn)
		c.bw.Reset(conn)
		return
	}
	c.br = bufio.NewReaderSize(conn, maxReplyLine)
	c.bw = bufio.NewWriterSize(conn, writeBuffer)
}

func (c *Client) usable() error {
	if c.closed {
		return fail(Closed, "", nil, "connection to %s is closed", c.o.Addr)
	}
	return nil
}

// watch closes the connection when ctx ends, so no step outlives it.
func (c *Client) watch(ctx context.Context) (stop func()) {
	raw := c.raw
	s := context.AfterFunc(ctx, func() { raw.Close() })
	return func() { s() }
}

// deadline is now+CommandTimeout, or ctx's deadline if sooner.
func (c *Client) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// cmd sends one command line and reads its reply. shown is the line as
// the transcript and errors show it.
func (c *Client) cmd(ctx context.Context, line, shown string) (*reply, error) {
	c.conn.SetDeadline(c.deadline(ctx))
	c.trace("-> " + shown)
	if err := c.writeLines(line); err != nil {
		return nil, c.ioErr(ctx, shown, err)
	}
	return c.read(ctx, shown)
}

// writeLines writes command lines in one flush (one write for a pipelined
// group, RFC 2920 3.1).
func (c *Client) writeLines(lines ...string) error {
	for _, l := range lines {
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	return c.bw.Flush()
}

// read reads one reply under a fresh step deadline.
// okReply is what readOK returns for a one-line 250.
var okReply = &reply{code: 250}

// readOK reads a reply like read, except that a one-line 250 already in
// the buffer is consumed without allocating: the BDAT loop reads one per
// chunk, 8192 for a 1 GB message, and their garbage would stay resident
// (or set off a GC) for nothing. It returns okReply then, whose text is
// empty; anything else, and every reply when a transcript is written,
// goes through read.
func (c *Client) readOK(ctx context.Context, step string) (*reply, error) {
	if c.o.Transcript == nil {
		c.conn.SetDeadline(c.deadline(ctx))
		// Peek(1) waits for the reply like read's first ReadSlice would,
		// and fails with the same error.
		if _, err := c.br.Peek(1); err != nil {
			return nil, c.ioErr(ctx, step, err)
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 4 && string(buf[:4]) == "250 " {
			c.br.Discard(i + 1)
			return okReply, nil
		}
	}
	return c.read(ctx, step)
}

func (c *Client) read(ctx context.Context, step string) (*reply, error) {
	c.conn.SetDeadline(c.deadline(ctx))
	r, err := readReply(c.br, c.traceServer)
	if err != nil {
		return nil, c.ioErr(ctx, step, err)
	}
	return r, nil
}

// ioErr turns a read/write failure into a classified error. The connection
// is unusable afterwards.
func (c *Client) ioErr(ctx context.Context, step string, err error) error {
	c.Close()
	if ctx.Err() != nil {
		return ctxErr(ctx, c.o.Addr, step)
	}
	return netErr(c.o.Addr, step, err)
}

func ctxErr(ctx context.Context, addr, step string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fail(TimeLimit, StepOf(step), ctx.Err(), "gave up on %s during %s: time limit reached: %v", addr, step, ctx.Err())
	}
	// The cause says why ("terminated signal received" from
	// signal.NotifyContext), where ctx.Err() only says "context canceled".
	return fail(Cancelled, StepOf(step), ctx.Err(), "submission to %s cancelled during %s: %v", addr, step, context.Cause(ctx))
}

func (c *Client) replyErr(command string, r *reply) *Error {
	return &Error{Command: command, Code: r.code, EnhancedCode: r.enh, Message: r.text(), HelloName: c.hello}
}

func (c *Client) trace(line string) {
	if c.o.Transcript != nil {
		io.WriteString(c.o.Transcript, line+"\n")
	}
}

func (c *Client) traceServer(line string) {
	if c.o.Transcript != nil {
		// A transcript keeps the server's own spacing: one reply line
		// is one line here, so only secrets and unsafe characters go.
		c.trace("<- " + redact.String(line))
	}
}
