// Package smtpd speaks the server side of SMTP (RFC 5321) over a plain
// reader and writer, for "sendmail -bs": the caller (Symfony Mailer's
// sendmail transport, some PHP frameworks, old MUAs) talks SMTP on our
// standard input and output instead of piping a bare message.
//
// It owns the dialogue: greeting, EHLO/HELO, MAIL, RCPT, DATA with
// dot-unstuffing, RSET, NOOP, VRFY, HELP, QUIT, pipelined input, command
// line limits, sequence errors, and turning a delivery error's exit code
// into an SMTP reply. It does not own delivery, recipient policy (aliases,
// local_domain), account selection or message parsing: each accepted
// message is handed to Server.Deliver, and each recipient optionally to
// Server.Recipient. It does not do TLS or AUTH (there is no network: the
// peer is the process that started us), and it never prints anywhere but
// the writer it is given.
package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Limits. RFC 5321 4.5.3.1.4 asks for at least 512 octets per command
// line; we allow more because some clients send long parameter lists.
const (
	// MaxCommandLine is the longest command line accepted, CRLF included.
	MaxCommandLine = 4096
	// DefaultMaxRecipients is the RCPT limit per transaction when
	// Server.MaxRecipients is 0 (RFC 5321 4.5.3.1.8 requires at least 100).
	DefaultMaxRecipients = 1000
	// maxReplyText is how much of an error message goes on one reply line
	// (RFC 5321 4.5.3.1.5: 512 octets with code and CRLF).
	maxReplyText = 400
	// maxErrors is how many consecutive failed commands end the session,
	// so a caller that is not speaking SMTP at all gets a clear reply and
	// an exit instead of a screen of 500s.
	maxErrors = 50
)

// DeliverFunc delivers one message. from is the reverse-path ("" for the
// null sender <>), to the accepted forward-paths in order, data the message
// content with dot-stuffing removed and the terminating "." line not
// included; line endings are as the client sent them (CRLF or bare LF).
// The error's exit code (sysexits.Code) picks the SMTP reply; its text
// becomes the reply text, so it must be one line without secrets.
type DeliverFunc func(ctx context.Context, from string, to []string, data io.Reader) error

// RecipientFunc checks one recipient at RCPT time. A nil error accepts it;
// an error refuses only this recipient with a reply chosen by its exit
// code (67 gives "550 5.1.1").
type RecipientFunc func(ctx context.Context, from, to string) error

// Server is one SMTP dialogue's configuration. The zero value with
// Deliver set is usable.
type Server struct {
	// Hostname is the name in the greeting and the EHLO reply; "" means
	// "localhost".
	Hostname string
	// Deliver is called once per message after the end of DATA.
	Deliver DeliverFunc
	// Recipient, when set, is called for each RCPT TO.
	Recipient RecipientFunc
	// MaxMessageSize, when > 0, is advertised with SIZE (RFC 1870) and
	// enforced on MAIL FROM's SIZE= parameter and on the DATA actually
	// received.
	MaxMessageSize int64
	// MaxRecipients per transaction; 0 means DefaultMaxRecipients.
	MaxRecipients int
}

// ErrDataTruncated is returned by Serve (wrapped) when the input ends in
// the middle of DATA: the message was not delivered.
var ErrDataTruncated = errors.New("input ended inside DATA before the terminating \".\" line; the message was not sent")

// Serve runs the dialogue until QUIT, the end of input, or a write error.
// It returns nil after QUIT or when the input ends between commands.
func (s *Server) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	c := &conn{
		srv: s,
		ctx: ctx,
		r:   bufio.NewReaderSize(r, MaxCommandLine),
		w:   bufio.NewWriter(w),
	}
	return c.serve()
}

type conn struct {
	srv *Server
	ctx context.Context
	r   *bufio.Reader
	w   *bufio.Writer

	greeted  bool // HELO or EHLO seen
	inMail   bool // MAIL accepted
	from     string
	rcpts    []string
	declared int64 // SIZE= from MAIL, 0 when not given
	errors   int
}

func (c *conn) hostname() string {
	if c.srv.Hostname != "" {
		return c.srv.Hostname
	}
	return "localhost"
}

func (c *conn) maxRcpts() int {
	if c.srv.MaxRecipients > 0 {
		return c.srv.MaxRecipients
	}
	return DefaultMaxRecipients
}

func (c *conn) reset() {
	c.inMail = false
	c.from = ""
	c.rcpts = nil
	c.declared = 0
}

// reply queues one reply; it is sent when the next read would block
// (RFC 2920 3.2: responses to a pipelined group may be batched).
func (c *conn) reply(code int, text string) {
	fmt.Fprintf(c.w, "%d %s\r\n", code, text)
}

// replyLines sends a multiline reply (RFC 5321 4.2.1): "code-" on every
// line but the last.
func (c *conn) replyLines(code int, lines []string) {
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(c.w, "%d%s%s\r\n", code, sep, l)
	}
}

// fail counts a failed command and replies.
func (c *conn) fail(code int, text string) {
	c.errors++
	c.reply(code, text)
}

func (c *conn) ok(code int, text string) {
	c.errors = 0
	c.reply(code, text)
}

// flushIfIdle sends queued replies before a read that would block. A
// pipelining client may have sent several commands; answering them in one
// write is allowed, but never waiting for input with replies held back.
func (c *conn) flushIfIdle() error {
	if c.r.Buffered() > 0 {
		return nil
	}
	return c.w.Flush()
}

func (c *conn) serve() error {
	// RFC 5321 4.3.1: the greeting.
	c.reply(220, c.hostname()+" gsendmail ESMTP")
	for {
		if err := c.ctx.Err(); err != nil {
			c.reply(421, "4.3.2 "+c.hostname()+" shutting down")
			c.w.Flush()
			return err
		}
		if err := c.flushIfIdle(); err != nil {
			return fmt.Errorf("writing SMTP reply: %w", err)
		}
		line, err := c.readCommand()
		if errors.Is(err, errLineTooLong) {
			c.fail(500, "5.5.2 command line too long (limit "+strconv.Itoa(MaxCommandLine)+" octets)")
			continue
		}
		if err == io.EOF {
			// The client went away without QUIT; nothing is pending
			// because DATA is read to its end before replying.
			return c.w.Flush()
		}
		if err != nil {
			c.w.Flush()
			return fmt.Errorf("reading SMTP command: %w", err)
		}
		quit, err := c.command(line)
		if err != nil {
			c.w.Flush()
			return err
		}
		if quit {
			return c.w.Flush()
		}
		if c.errors >= maxErrors {
			c.reply(421, "4.7.0 "+c.hostname()+" too many errors; closing (is the caller speaking SMTP? without -bs, sendmail reads a message, not commands)")
			return c.w.Flush()
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readCommand reads one command line without its CRLF (or bare LF: RFC
// 5321 2.3.8 forbids it, but local callers send it and nothing is gained
// by refusing). An over-long line is consumed and reported.
func (c *conn) readCommand() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = c.r.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return "", err
		}
		return "", errLineTooLong
	}
	if err == io.EOF && len(b) > 0 {
		// A last command without a line ending: act on it.
		err = nil
	}
	if err != nil {
		return "", err
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// command runs one command line and reports whether the session ends.
func (c *conn) command(line string) (bool, error) {
	verb, arg := line, ""
	if i := strings.IndexByte(line, ' '); i >= 0 {
		verb, arg = line[:i], strings.TrimSpace(line[i+1:])
	}
	switch strings.ToUpper(verb) {
	case "EHLO":
		c.ehlo(arg)
	case "HELO":
		c.helo(arg)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		return false, c.data(arg)
	case "RSET":
		// RFC 5321 4.1.1.5
		if arg != "" {
			c.fail(501, "5.5.4 RSET takes no argument")
			return false, nil
		}
		c.reset()
		c.ok(250, "2.0.0 Ok")
	case "NOOP":
		// RFC 5321 4.1.1.9: the argument, if any, is ignored.
		c.ok(250, "2.0.0 Ok")
	case "QUIT":
		// RFC 5321 4.1.1.10
		c.reply(221, "2.0.0 "+c.hostname()+" closing connection")
		return true, nil
	case "VRFY":
		// RFC 5321 3.5.3: 252 when we will try but cannot verify.
		if arg == "" {
			c.fail(501, "5.5.4 VRFY needs an argument")
			return false, nil
		}
		c.ok(252, "2.5.0 cannot VRFY the user, but will accept the message and attempt delivery")
	case "EXPN":
		c.fail(502, "5.5.1 EXPN is not implemented")
	case "HELP":
		// RFC 5321 4.1.1.8
		c.errors = 0
		c.replyLines(214, []string{
			"2.0.0 gsendmail speaks SMTP on standard input (sendmail -bs)",
			"2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
			"2.0.0 end of HELP",
		})
	case "STARTTLS", "AUTH", "BDAT", "ETRN", "TURN", "SEND", "SOML", "SAML":
		c.fail(502, "5.5.1 "+strings.ToUpper(verb)+" is not implemented")
	case "":
		c.fail(500, "5.5.2 empty command")
	default:
		c.fail(500, "5.5.2 command not recognized: "+printable(verb, 32))
	}
	return false, nil
}

// RFC 5321 4.1.1.1; RFC 1869 for the extension list.
func (c *conn) ehlo(arg string) {
	if arg == "" {
		c.fail(501, "5.5.4 EHLO needs a domain or address literal")
		return
	}
	c.reset()
	c.greeted = true
	c.errors = 0
	lines := []string{c.hostname() + " greets " + printable(arg, 64)}
	lines = append(lines, "PIPELINING") // RFC 2920
	if c.srv.MaxMessageSize > 0 {
		lines = append(lines, "SIZE "+strconv.FormatInt(c.srv.MaxMessageSize, 10)) // RFC 1870
	} else {
		lines = append(lines, "SIZE")
	}
	lines = append(lines,
		"8BITMIME",            // RFC 6152
		"SMTPUTF8",            // RFC 6531
		"ENHANCEDSTATUSCODES", // RFC 2034
		"HELP",
	)
	c.replyLines(250, lines)
}

func (c *conn) helo(arg string) {
	if arg == "" {
		c.fail(501, "5.5.4 HELO needs a domain")
		return
	}
	c.reset()
	c.greeted = true
	c.ok(250, c.hostname())
}

// mail handles MAIL FROM:<reverse-path> [params] (RFC 5321 4.1.1.2).
// HELO/EHLO first is not required: sendmail -bs never required it and
// callers that skip it exist.
func (c *conn) mail(arg string) {
	if c.inMail {
		c.fail(503, "5.5.1 nested MAIL command: send RSET first")
		return
	}
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		c.fail(501, "5.5.4 syntax: MAIL FROM:<address>")
		return
	}
	addr, params, err := parsePath(rest)
	if err != nil {
		c.fail(501, "5.1.7 bad sender address syntax: "+err.Error())
		return
	}
	var size int64
	utf8Requested := false
	for _, p := range params {
		k, v, hasV := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE": // RFC 1870 6
			n, err := strconv.ParseInt(v, 10, 64)
			if !hasV || err != nil || n < 0 {
				c.fail(501, "5.5.4 bad SIZE parameter")
				return
			}
			if c.srv.MaxMessageSize > 0 && n > c.srv.MaxMessageSize {
				c.fail(552, "5.3.4 message size exceeds the limit of "+strconv.FormatInt(c.srv.MaxMessageSize, 10)+" octets")
				return
			}
			size = n
		case "BODY": // RFC 6152 2: both values are passed through as is.
			switch strings.ToUpper(v) {
			case "7BIT", "8BITMIME":
			default:
				c.fail(501, "5.5.4 BODY must be 7BIT or 8BITMIME")
				return
			}
		case "SMTPUTF8": // RFC 6531 3.4
			if hasV {
				c.fail(501, "5.5.4 SMTPUTF8 takes no value")
				return
			}
			utf8Requested = true
		default:
			// RFC 5321 4.1.1.11: a parameter we did not advertise.
			c.fail(555, "5.5.4 MAIL parameter not supported: "+printable(k, 32))
			return
		}
	}
	if !utf8Requested && !isASCII(addr) {
		c.fail(553, "5.6.7 non-ASCII sender address needs the SMTPUTF8 parameter")
		return
	}
	c.inMail = true
	c.from = addr
	c.rcpts = nil
	c.declared = size
	c.ok(250, "2.1.0 Ok")
}

// rcpt handles RCPT TO:<forward-path> (RFC 5321 4.1.1.3). A bare local
// name ("root", "<postmaster>") is accepted here; Recipient decides.
func (c *conn) rcpt(arg string) {
	if !c.inMail {
		c.fail(503, "5.5.1 need MAIL before RCPT")
		return
	}
	rest, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		c.fail(501, "5.5.4 syntax: RCPT TO:<address>")
		return
	}
	addr, params, err := parsePath(rest)
	if err != nil {
		c.fail(501, "5.1.3 bad recipient address syntax: "+err.Error())
		return
	}
	if addr == "" {
		c.fail(501, "5.1.3 the null address <> is not a recipient")
		return
	}
	if len(params) > 0 {
		k, _, _ := strings.Cut(params[0], "=")
		c.fail(555, "5.5.4 RCPT parameter not supported: "+printable(k, 32))
		return
	}
	if len(c.rcpts) >= c.maxRcpts() {
		// RFC 5321 4.5.3.1.10: 452 for too many recipients.
		c.fail(452, "4.5.3 too many recipients; send the rest in another transaction")
		return
	}
	if c.srv.Recipient != nil {
		if err := c.srv.Recipient(c.ctx, c.from, addr); err != nil {
			code, ext := rcptReply(sysexits.Code(err))
			c.errorReply(code, ext, err)
			c.errors++
			return
		}
	}
	c.rcpts = append(c.rcpts, addr)
	c.ok(250, "2.1.5 Ok")
}

// data handles DATA (RFC 5321 4.1.1.4, 3.3).
func (c *conn) data(arg string) error {
	if arg != "" {
		c.fail(501, "5.5.4 DATA takes no argument")
		return nil
	}
	if !c.inMail {
		c.fail(503, "5.5.1 need MAIL before DATA")
		return nil
	}
	if len(c.rcpts) == 0 {
		c.fail(554, "5.5.1 no valid recipients")
		return nil
	}
	c.reply(354, "End data with <CR><LF>.<CR><LF>")
	if err := c.flushIfIdle(); err != nil {
		return fmt.Errorf("writing SMTP reply: %w", err)
	}
	dr := &dataReader{r: c.r, atLineStart: true, limit: c.srv.MaxMessageSize}
	var derr error
	if c.srv.Deliver == nil {
		derr = sysexits.New(sysexits.Software, errors.New("no delivery configured"))
	} else {
		derr = c.srv.Deliver(c.ctx, c.from, append([]string(nil), c.rcpts...), dr)
	}
	// Whatever the callback read, the rest of the message is still on
	// the wire: consume it so the next command is read in sync.
	if err := dr.drain(); err != nil {
		c.reset()
		return fmt.Errorf("reading message data: %w", err)
	}
	c.reset()
	switch {
	case dr.tooBig:
		c.fail(552, "5.3.4 message size exceeds the limit of "+strconv.FormatInt(c.srv.MaxMessageSize, 10)+" octets")
	case derr != nil:
		code, ext := dataReply(sysexits.Code(derr))
		c.errorReply(code, ext, derr)
		c.errors++
	default:
		c.ok(250, "2.0.0 Ok")
	}
	return nil
}

// errorReply sends err's message as a reply, split over several lines when
// it is long so nothing the user needs is cut off.
func (c *conn) errorReply(code int, ext string, err error) {
	text := printable(err.Error(), 4*maxReplyText)
	var lines []string
	for len(text) > maxReplyText {
		cut := strings.LastIndexByte(text[:maxReplyText], ' ')
		if cut <= 0 {
			cut = maxReplyText
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
		}
		lines = append(lines, ext+" "+text[:cut])
		text = strings.TrimLeft(text[cut:], " ")
	}
	lines = append(lines, ext+" "+text)
	c.replyLines(code, lines)
}

// dataReply maps a delivery error's exit code to the reply after DATA. A
// temporary failure (4xx) tells the caller to keep the message and retry;
// a configuration error is temporary too, since fixing it will let the
// same message through.
func dataReply(code int) (int, string) {
	switch code {
	case sysexits.TempFail:
		return 451, "4.3.0"
	case sysexits.Config:
		return 451, "4.3.5" // RFC 3463 4.3.5: system incorrectly configured
	case sysexits.DataErr:
		return 554, "5.6.0" // RFC 3463 5.6.0: other or undefined media error
	case sysexits.NoUser:
		return 550, "5.1.1" // RFC 3463 5.1.1: bad destination mailbox
	case sysexits.Unavailable:
		return 554, "5.0.0"
	case sysexits.NoPerm:
		return 554, "5.7.0" // RFC 3463 5.7.0: security or policy status
	}
	return 451, "4.3.0"
}

// rcptReply maps a recipient check's exit code to the RCPT reply; the
// codes RFC 5321 4.3.2 allows after RCPT are 550-553 and 450-452.
func rcptReply(code int) (int, string) {
	switch code {
	case sysexits.NoUser:
		return 550, "5.1.1"
	case sysexits.DataErr, sysexits.Usage:
		return 553, "5.1.3" // bad destination mailbox address syntax
	case sysexits.Unavailable:
		return 550, "5.0.0"
	case sysexits.NoPerm:
		return 550, "5.7.0"
	case sysexits.Config:
		return 451, "4.3.5"
	}
	return 451, "4.3.0"
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// printable makes client- or error-supplied text safe for one reply line:
// control characters become '?', and it is cut to at most max bytes on a
// rune boundary.
func printable(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			if r == '\r' || r == '\n' || r == '\t' {
				r = ' '
			} else {
				r = '?'
			}
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parsePath parses "<path> params" after MAIL FROM: or RCPT TO: (RFC 5321
// 4.1.2). A space after the colon and a missing pair of angle brackets
// are tolerated, as sendmail and Postfix do. A source route
// ("<@a,@b:user@c>") is accepted and ignored (RFC 5321 4.1.2, C). The
// returned address has no brackets; quoted local parts keep their quotes.
func parsePath(s string) (addr string, params []string, err error) {
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return "", nil, errors.New("missing address")
	}
	var rest string
	if s[0] == '<' {
		end, err := closingBracket(s)
		if err != nil {
			return "", nil, err
		}
		addr, rest = s[1:end], s[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, errors.New("text after '>' must be separated by a space")
		}
	} else {
		addr, rest, _ = strings.Cut(s, " ")
	}
	if strings.HasPrefix(addr, "@") {
		// Source route: drop everything up to the colon.
		i := strings.IndexByte(addr, ':')
		if i < 0 {
			return "", nil, errors.New("source route without ':'")
		}
		addr = addr[i+1:]
		if addr == "" {
			return "", nil, errors.New("source route without a mailbox")
		}
	}
	if err := checkMailbox(addr); err != nil {
		return "", nil, err
	}
	params = strings.Fields(rest)
	return addr, params, nil
}

// closingBracket finds the '>' ending a path that starts at s[0]=='<',
// skipping quoted strings in the local part.
func closingBracket(s string) (int, error) {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch ch := s[i]; {
		case quoted && ch == '\\':
			i++
		case ch == '"':
			quoted = !quoted
		case !quoted && ch == '>':
			return i, nil
		case !quoted && (ch == '<' || ch == ' '):
			return 0, fmt.Errorf("unexpected %q in address", ch)
		}
	}
	return 0, errors.New("missing '>'")
}

// checkMailbox rejects what cannot be a mailbox or local name: controls,
// spaces and brackets outside a quoted local part, an empty side of '@',
// invalid UTF-8, and over-long addresses (RFC 5321 4.5.3.1.3: 256 octets
// for a path).
func checkMailbox(addr string) error {
	if addr == "" {
		return nil // the null path <>; the caller decides
	}
	if len(addr) > 254 {
		return errors.New("address longer than 254 octets")
	}
	if !utf8.ValidString(addr) {
		return errors.New("address is not valid UTF-8")
	}
	quoted := false
	for i := 0; i < len(addr); i++ {
		ch := addr[i]
		switch {
		case ch < 0x20 || ch == 0x7f:
			return errors.New("control character in address")
		case quoted && ch == '\\':
			i++
		case ch == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(" <>()[],;:", ch) >= 0:
			if ch == '[' || ch == ']' || ch == ':' {
				// Allowed inside an address-literal domain.
				if j := strings.LastIndexByte(addr, '@'); j >= 0 && i > j {
					continue
				}
			}
			return fmt.Errorf("%q not allowed in an address", ch)
		}
	}
	if quoted {
		return errors.New("unterminated quoted string in address")
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && !strings.HasSuffix(addr[:i], "\"") {
		if i == 0 || i == len(addr)-1 {
			return errors.New("empty local part or domain")
		}
	} else if i == len(addr)-1 {
		return errors.New("empty domain")
	}
	return nil
}

var errTooBig = errors.New("message exceeds the size limit")

// dataReader yields the DATA content: dot-unstuffed (RFC 5321 4.5.2),
// ended by a line holding only "." (CRLF or bare LF), which is consumed
// but not returned. Lines of any length stream through without being
// held in memory. Past limit (when > 0) it returns errTooBig; drain still
// consumes the rest up to the terminator.
type dataReader struct {
	r           *bufio.Reader
	atLineStart bool
	done        bool
	err         error
	limit       int64
	n           int64
	tooBig      bool
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.tooBig {
		return 0, errTooBig
	}
	n, err := d.read(p)
	d.n += int64(n)
	if d.limit > 0 && d.n > d.limit {
		d.tooBig = true
		return 0, errTooBig
	}
	return n, err
}

// drain reads up to and including the terminating line, ignoring the
// size limit.
func (d *dataReader) drain() error {
	var buf [4096]byte
	for {
		_, err := d.read(buf[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d *dataReader) read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if d.atLineStart {
		b, err := d.r.Peek(3)
		if len(b) == 0 {
			return 0, d.fail(err)
		}
		if b[0] == '.' {
			switch {
			case len(b) >= 2 && b[1] == '\n':
				d.r.Discard(2)
				d.done = true
				return 0, io.EOF
			case len(b) == 3 && b[1] == '\r' && b[2] == '\n':
				d.r.Discard(3)
				d.done = true
				return 0, io.EOF
			case len(b) < 3:
				// Input ended within three bytes of a line start
				// without a terminator.
				return 0, d.fail(err)
			}
			d.r.Discard(1) // RFC 5321 4.5.2: drop the stuffed dot
		}
	}
	if _, err := d.r.Peek(1); err != nil {
		return 0, d.fail(err)
	}
	b, _ := d.r.Peek(min(d.r.Buffered(), len(p)))
	d.atLineStart = false
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
		d.atLineStart = true
	}
	n := copy(p, b)
	d.r.Discard(n)
	return n, nil
}

func (d *dataReader) fail(err error) error {
	if err == io.EOF {
		err = ErrDataTruncated
	}
	d.err = err
	return err
}
