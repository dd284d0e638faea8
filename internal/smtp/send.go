package smtp

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
)

// Envelope is one transaction's envelope (RFC 5321 3.3).
type Envelope struct {
	From string   // reverse-path without brackets; "" is the null sender
	To   []string // forward-paths without brackets

	// Size is the message size on the wire including CRLF conversion
	// (see WireSize); 0 leaves out the SIZE parameter and check.
	Size int64

	EightBit bool // body has 8-bit bytes: BODY=8BITMIME when offered (RFC 6152)

	// UTF8 asks for SMTPUTF8 (RFC 6531). An address with non-ASCII
	// characters asks for it too. When it is needed and not offered,
	// Send fails with a *Failure (NeedsSMTPUTF8).
	UTF8 bool

	// DSN (RFC 3461), sent only when the server offers DSN.
	DSNNotify string // "NEVER" or a comma list of SUCCESS, FAILURE, DELAY; "" sends none
	DSNReturn string // "FULL" or "HDRS"; "" sends none
	EnvID     string // ENVID, xtext-encoded on the wire
}

// Chunk sizes for BDAT (RFC 3030).
const (
	// smallMessage is the largest message sent with MAIL, RCPT and
	// "BDAT n LAST" in one write.
	smallMessage = 64 * 1024
	// bdatChunk is the size of every BDAT chunk but the last. As large
	// as smallMessage, so both share one buffer of that size; chunks are
	// pipelined one deep and their one-line replies allocate nothing, so
	// 64 KB chunks cost no throughput (128 KB chunks cost 64 KB of RSS).
	bdatChunk = 64 * 1024
	readChunk = 16 * 1024
)

// Send runs one mail transaction: MAIL, RCPT for each recipient, then the
// message with DATA or BDAT. msg is the exact message with LF or CRLF line
// endings; it is streamed with bounded memory. If any recipient is refused
// nothing is sent and the error names every refused recipient. After an
// error the connection may still be used for another Send (Send issues
// RSET itself when needed) unless the error was a network or protocol
// error.
//
// A pending AUTH (AuthOptions.Pipeline) goes first in the same write as
// the MAIL/RCPT/(DATA|BDAT) group and its refusal is Send's error, an
// *AuthError: nothing is sent after a refused AUTH (a 354 is answered by
// closing the connection). One exception: when the server accepts a
// "BDAT n LAST" message despite refusing the AUTH, the message was
// accepted and Send succeeds (the transcript says so). An envelope Send
// refuses before writing anything leaves the AUTH pending.
func (c *Client) Send(ctx context.Context, env Envelope, msg io.Reader) error {
	if err := c.usable(); err != nil {
		return err
	}
	c.lastOK = false
	mail, rcpts, err := c.envelopeCommands(env)
	if err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()

	if c.needReset {
		// A pending AUTH must be answered before anything else.
		if err := c.sendPendingAuth(ctx); err != nil {
			return err
		}
		if err := c.rset(ctx); err != nil {
			return err
		}
	}
	// From here on a failure leaves a transaction open on the server.
	c.needReset = true

	_, pipelining := c.ext["PIPELINING"]
	_, chunking := c.ext["CHUNKING"]
	chunking = chunking && pipelining && !c.o.DisableChunking

	switch {
	case chunking:
		err = c.sendBDAT(ctx, mail, rcpts, env, msg)
	case pipelining:
		err = c.sendPipelinedDATA(ctx, mail, rcpts, env, msg)
	default:
		err = c.sendSerial(ctx, mail, rcpts, env, msg)
	}
	if err != nil {
		return err
	}
	c.needReset = false
	c.lastOK = true
	return nil
}

// envelopeCommands validates env and builds the MAIL and RCPT lines.
func (c *Client) envelopeCommands(env Envelope) (string, []string, error) {
	if len(env.To) == 0 {
		return "", nil, fail(NoRecipients, StepMAIL, nil, "no recipients")
	}
	// Envelope injection: a CR, LF or NUL would end our command line and
	// start one of the attacker's.
	check := func(what, v string) error {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fail(UnsafeEnvelope, StepMAIL, nil, "%s %q contains a line break or NUL", what, v)
		}
		return nil
	}
	if err := check("sender address", env.From); err != nil {
		return "", nil, err
	}
	needUTF8 := env.UTF8 || !IsASCII(env.From)
	for _, to := range env.To {
		if err := check("recipient address", to); err != nil {
			return "", nil, err
		}
		if to == "" {
			return "", nil, fail(UnsafeEnvelope, StepRCPT, nil, "empty recipient address")
		}
		needUTF8 = needUTF8 || !IsASCII(to)
	}
	for _, f := range [][2]string{{"DSN notify", env.DSNNotify}, {"DSN return", env.DSNReturn}, {"DSN envelope id", env.EnvID}} {
		if err := check(f[0], f[1]); err != nil {
			return "", nil, err
		}
	}

	var mp []string
	// RFC 1870 4: SIZE, and refuse early what the server will refuse.
	if limit, ok := c.ext["SIZE"]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(limit), 10, 64); err == nil && n > 0 && env.Size > n {
			// Permanent, as the server's own 552 would be.
			return "", nil, fail(TooBig, StepMAIL, nil, "message is %d bytes but %s accepts at most %d (SIZE)", env.Size, c.o.Addr, n)
		}
		if env.Size > 0 {
			mp = append(mp, "SIZE="+strconv.FormatInt(env.Size, 10))
		}
	}
	if _, ok := c.ext["8BITMIME"]; ok && env.EightBit {
		mp = append(mp, "BODY=8BITMIME") // RFC 6152 2
	}
	if needUTF8 {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return "", nil, fail(NeedsSMTPUTF8, StepMAIL, nil, "server does not support SMTPUTF8 (needed for non-ASCII address) at %s", c.o.Addr)
		}
		mp = append(mp, "SMTPUTF8") // RFC 6531 3.4
	}
	_, dsn := c.ext["DSN"]
	var notify string
	if dsn {
		if env.DSNReturn != "" {
			ret := strings.ToUpper(env.DSNReturn)
			if ret != "FULL" && ret != "HDRS" {
				return "", nil, fail(BadDSN, StepMAIL, nil, "invalid DSN return %q; use FULL or HDRS", env.DSNReturn)
			}
			mp = append(mp, "RET="+ret) // RFC 3461 4.3
		}
		if env.EnvID != "" {
			mp = append(mp, "ENVID="+xtext(env.EnvID)) // RFC 3461 4.4
		}
		if env.DSNNotify != "" {
			var err error
			if notify, err = DSNNotify(env.DSNNotify); err != nil {
				return "", nil, err
			}
		}
	}

	mail := "MAIL FROM:<" + env.From + ">"
	if len(mp) > 0 {
		mail += " " + strings.Join(mp, " ")
	}
	rcpts := make([]string, len(env.To))
	for i, to := range env.To {
		rcpts[i] = "RCPT TO:<" + to + ">"
		if notify != "" {
			rcpts[i] += " NOTIFY=" + notify // RFC 3461 4.1
		}
	}
	return mail, rcpts, nil
}

// DSNNotify validates a NOTIFY value (RFC 3461 4.1: NEVER alone, or a
// comma list of SUCCESS, FAILURE and DELAY), case-insensitively and with
// spaces around the items allowed, and returns it as sent: upper-case,
// each item once, in the RFC's order. A repeated item is the same request
// and accepted; NEVER with anything else (even itself repeated with
// another) is a usage error (64). Both -N and the envelope use it.
func DSNNotify(s string) (string, error) {
	seen := map[string]bool{}
	for _, p := range strings.Split(strings.ToUpper(s), ",") {
		p = strings.TrimSpace(p)
		switch p {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return "", fail(BadDSN, StepRCPT, nil, "invalid DSN notify %q; use NEVER or a list of SUCCESS, FAILURE, DELAY", s)
		}
		seen[p] = true
	}
	if seen["NEVER"] && len(seen) > 1 {
		return "", fail(BadDSN, StepRCPT, nil, "invalid DSN notify %q: NEVER cannot be combined", s)
	}
	var out []string
	for _, p := range []string{"NEVER", "SUCCESS", "FAILURE", "DELAY"} {
		if seen[p] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ","), nil
}

// xtext encodes s as RFC 3461 4: "+", "=" and bytes outside "!".."~"
// become "+XX".
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// IsASCII reports whether s is all US-ASCII. An address that is not needs
// SMTPUTF8 (RFC 6531 3.4); a text that is not needs an 8-bit or encoded
// transfer.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// NeedsUTF8 reports whether an envelope with these addresses needs
// SMTPUTF8 (RFC 6531 3.4): a sender or a recipient is not ASCII.
func NeedsUTF8(from string, to []string) bool {
	if !IsASCII(from) {
		return true
	}
	for _, t := range to {
		if !IsASCII(t) {
			return true
		}
	}
	return false
}

// shownCmd drops parameters from a command for errors and keeps the
// verb and path: "RCPT TO:<x@y>".
func shownCmd(line string) string {
	if i := strings.Index(line, "> "); i >= 0 {
		return line[:i+1]
	}
	return line
}

// envelopeReplies checks the replies to MAIL and the RCPTs. It returns the
// MAIL refusal, or the refused recipients (one *Error or a
// *RecipientsError), or nil.
func (c *Client) envelopeReplies(mail string, rcpts []string, replies []*reply) error {
	if replies[0].code != 250 {
		return c.replyErr(shownCmd(mail), replies[0])
	}
	var refused []*Error
	for i, r := range replies[1:] {
		if r.code != 250 && r.code != 251 {
			refused = append(refused, c.replyErr(shownCmd(rcpts[i]), r))
		}
	}
	switch len(refused) {
	case 0:
		return nil
	case 1:
		return refused[0]
	}
	return &RecipientsError{Refused: refused}
}

// pipelined is the outcome of one pipelined group.
type pipelined struct {
	replies []*reply // one per line, in order
	// authErr is the verdict on a pending AUTH that went first (nil when
	// there was none or the server answered 235): an *AuthError or a
	// protocol error.
	authErr error
}

// pipeline writes lines in one write and reads one reply per line
// (RFC 2920 3.1). extra is sent right after the lines in the same write
// (a small BDAT chunk).
//
// A pending AUTH (AuthOptions.Pipeline) goes in front of the lines in the
// same write and its reply is read first (RFC 4954 4 lets an AUTH PLAIN
// with an initial response be followed in the group; RFC 2920 3.1: the
// replies come in command order). When the server refuses it, the replies
// to the lines that followed are still read so the conversation stays in
// step; if the server hangs up instead of answering them (some close after
// a failed AUTH), the AUTH refusal is returned as err, since that is why
// nothing was sent. A 334 to the pipelined AUTH is a protocol error and
// the connection is closed (pipelinedAuthResult).
func (c *Client) pipeline(ctx context.Context, lines []string, extra []byte) (*pipelined, error) {
	auth := c.pending
	c.pending = nil
	c.conn.SetDeadline(c.deadline(ctx))
	if auth != nil {
		c.trace("-> " + auth.shown)
		c.bw.WriteString(auth.line)
		c.bw.WriteString("\r\n")
	}
	for _, l := range lines {
		c.trace("-> " + l)
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	if extra != nil {
		c.trace(fmt.Sprintf("-> [message: %d bytes]", len(extra)))
		c.bw.Write(extra)
	}
	first := shownCmd(lines[0])
	if auth != nil {
		first = "AUTH " + auth.mech
	}
	if err := c.bw.Flush(); err != nil {
		return nil, c.ioErr(ctx, first, err)
	}
	res := &pipelined{replies: make([]*reply, len(lines))}
	if auth != nil {
		r, err := c.read(ctx, first)
		if err != nil {
			return nil, err
		}
		res.authErr = c.pipelinedAuthResult(auth, r)
		if c.closed {
			return nil, res.authErr
		}
	}
	for i, l := range lines {
		r, err := c.read(ctx, shownCmd(l))
		if err != nil {
			if res.authErr != nil {
				return nil, res.authErr
			}
			return nil, err
		}
		res.replies[i] = r
	}
	return res, nil
}

// sendSerial is the one-command-at-a-time path for servers without
// PIPELINING. All recipients are tried so the error names every refusal.
func (c *Client) sendSerial(ctx context.Context, mail string, rcpts []string, env Envelope, msg io.Reader) error {
	// Without PIPELINING Auth never defers; kept for safety.
	if err := c.sendPendingAuth(ctx); err != nil {
		return err
	}
	replies := make([]*reply, 0, 1+len(rcpts))
	r, err := c.cmd(ctx, mail, mail)
	if err != nil {
		return err
	}
	replies = append(replies, r)
	if r.code == 250 {
		for _, l := range rcpts {
			r, err := c.cmd(ctx, l, l)
			if err != nil {
				return err
			}
			replies = append(replies, r)
		}
	}
	if err := c.envelopeReplies(mail, rcpts, replies); err != nil {
		return err
	}
	r, err = c.cmd(ctx, "DATA", "DATA")
	if err != nil {
		return err
	}
	if r.code != 354 {
		return c.replyErr("DATA", r)
	}
	return c.writeData(ctx, msg)
}

// sendPipelinedDATA sends MAIL, every RCPT and DATA in one write.
func (c *Client) sendPipelinedDATA(ctx context.Context, mail string, rcpts []string, env Envelope, msg io.Reader) error {
	lines := append(append([]string{mail}, rcpts...), "DATA")
	res, err := c.pipeline(ctx, lines, nil)
	if err != nil {
		return err
	}
	replies := res.replies
	data := replies[len(replies)-1]
	if res.authErr != nil {
		if data.code == 354 {
			// The AUTH that went first in the group was refused, yet
			// the server (one that does not insist on AUTH) is ready
			// for the message. The user's credentials are wrong, so
			// send nothing: closing without the final dot makes the
			// server discard it (RFC 5321 4.1.1.4).
			c.Close()
		}
		return res.authErr
	}
	if err := c.envelopeReplies(mail, rcpts, replies[:len(replies)-1]); err != nil {
		if data.code == 354 {
			// The server took DATA although a recipient (or MAIL) was
			// refused. There is no way to take DATA back, and sending
			// the final "." would deliver to the accepted recipients.
			// Closing the connection without the terminating dot makes
			// the server discard the partial message (RFC 5321 4.1.1.4:
			// the transaction only completes on <CRLF>.<CRLF>).
			c.Close()
		}
		return err
	}
	if data.code != 354 {
		return c.replyErr("DATA", data)
	}
	return c.writeData(ctx, msg)
}

// writeData streams msg dot-stuffed (RFC 5321 4.5.2), terminates it with
// "." and reads the final reply.
func (c *Client) writeData(ctx context.Context, msg io.Reader) error {
	enc := wireEncoder{dot: true}
	in := make([]byte, readChunk)
	out := make([]byte, 0, 2*readChunk+5)
	var total int64
	for {
		n, rerr := msg.Read(in)
		if n > 0 {
			out = enc.encode(out[:0], in[:n])
			total += int64(len(out))
			if err := c.writeChunk(ctx, out); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// Never send the final dot for a message we could not read
			// completely: close so the server discards it.
			c.Close()
			return fail(ReadFailed, StepDATA, rerr, "reading the message to send failed: %v", rerr)
		}
	}
	out = append(enc.finish(out[:0]), ".\r\n"...)
	total += int64(len(out)) - 3
	if err := c.writeChunk(ctx, out); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return c.ioErr(ctx, CmdEndOfData, err)
	}
	c.trace(fmt.Sprintf("-> [message: %d bytes]", total))
	c.trace("-> .")
	return c.final(ctx, CmdEndOfData)
}

// writeChunk writes part of the message, extending the write deadline
// as the upload progresses.
func (c *Client) writeChunk(ctx context.Context, b []byte) error {
	c.conn.SetWriteDeadline(c.deadline(ctx))
	if _, err := c.bw.Write(b); err != nil {
		return c.ioErr(ctx, "message upload", err)
	}
	return nil
}

// final reads the reply that accepts or refuses the message.
func (c *Client) final(ctx context.Context, step string) error {
	r, err := c.read(ctx, step)
	if err != nil {
		return err
	}
	if r.code != 250 {
		return c.replyErr(step, r)
	}
	c.lastReply = strings.TrimSpace(r.enh + " " + r.text())
	return nil
}

// sendBDAT sends the message with BDAT (RFC 3030): no dot-stuffing, chunk
// sizes count the CRLF-converted bytes.
func (c *Client) sendBDAT(ctx context.Context, mail string, rcpts []string, env Envelope, msg io.Reader) error {
	enc := wireEncoder{}
	src := &chunkReader{r: msg, enc: &enc}

	if len(rcpts) == 1 && env.Size <= smallMessage {
		// One recipient: read ahead up to smallMessage; if the whole
		// message fits, MAIL + RCPT + "BDAT n LAST" + content go in one
		// write. Safe: if the only RCPT is refused there is no valid
		// recipient, and the server refuses the BDAT (and discards its
		// chunk, RFC 3030 2).
		chunk, last, err := src.next(smallMessage)
		if err != nil {
			c.Close()
			return err
		}
		if last {
			bdat := fmt.Sprintf("BDAT %d LAST", len(chunk))
			res, err := c.pipeline(ctx, []string{mail, rcpts[0], bdat}, chunk)
			if err != nil {
				return err
			}
			replies := res.replies
			r := replies[2]
			if res.authErr != nil {
				if r.code != 250 {
					return res.authErr
				}
				// The AUTH in front of the group was refused but the
				// server took the message anyway (it does not require
				// AUTH from this client). BDAT LAST cannot be taken
				// back: the message WAS accepted, and exit 0 means
				// exactly that, so this is a success. Reporting the
				// refusal would make the caller queue or resend a
				// message the server already has.
				c.trace("-- AUTH was refused but the server accepted the message anyway")
				c.lastReply = strings.TrimSpace(r.enh + " " + r.text())
				return nil
			}
			if err := c.envelopeReplies(mail, rcpts, replies[:2]); err != nil {
				return err
			}
			if r.code != 250 {
				return c.replyErr(bdat, r)
			}
			c.lastReply = strings.TrimSpace(r.enh + " " + r.text())
			return nil
		}
		src.unread()
	}
	res, err := c.pipeline(ctx, append([]string{mail}, rcpts...), nil)
	if err != nil {
		return err
	}
	if res.authErr != nil {
		// No chunk has been sent; the message goes nowhere.
		return res.authErr
	}
	if err := c.envelopeReplies(mail, rcpts, res.replies); err != nil {
		return err
	}
	next := src.chunks(ctx, c)
	if env.Size > smallMessage {
		// The size is known (WireSize): each chunk's size can be
		// announced before its bytes are read, so they stream from the
		// reader to the connection without a chunk buffer.
		next = (&sizedReader{r: msg, left: env.Size, size: env.Size}).chunks(ctx, c)
	}
	return c.sendChunks(ctx, next)
}

// chunkSource writes the next chunk of at most max bytes. It returns the
// chunk's size, announced by calling header before any of its bytes are
// written, and whether it is the last.
type chunkSource func(max int, header func(n int, last bool)) (n int, last bool, err error)

// sendChunks sends the message in BDAT chunks of bdatChunk bytes, the
// last marked LAST, and reads their replies.
func (c *Client) sendChunks(ctx context.Context, next chunkSource) error {
	// The chunks are pipelined one deep (BDAT may be sent in a pipeline,
	// RFC 3030 2 and 4.2): chunk n+1 is on its way before the reply to
	// chunk n is read, so the server never waits for us between chunks
	// and the chunks can be small. The replies are one line each, so the
	// server never blocks writing them while we write.
	var line []byte
	fullStep := fmt.Sprintf("BDAT %d", bdatChunk)
	waiting := "" // the BDAT whose reply is still to be read
	header := func(n int, last bool) {
		// Built in a reused buffer: a 1 GB message has thousands of
		// chunks, and garbage per chunk would grow the heap until a GC
		// (whose own pages cost more than the garbage).
		line = strconv.AppendInt(append(line[:0], "BDAT "...), int64(n), 10)
		if last {
			line = append(line, " LAST"...)
		}
		c.conn.SetDeadline(c.deadline(ctx))
		c.bw.Write(line)
		c.bw.WriteString("\r\n")
	}
	for {
		// A pass through the scheduler per chunk: a goroutine that
		// runs 10 ms without one (writes that never wait, replies
		// already buffered) is preempted with a signal, whose handler
		// reads tables of the binary that then stay resident.
		runtime.Gosched()
		n, last, err := next(bdatChunk, header)
		if err != nil {
			// Stop mid-message: the transaction cannot complete
			// without BDAT LAST; close so the server drops it.
			c.Close()
			return err
		}
		bdat := fullStep // the step in errors; no garbage for a full chunk
		if n != bdatChunk || last {
			bdat = string(line)
		}
		if c.o.Transcript != nil {
			c.trace("-> " + bdat)
			c.trace(fmt.Sprintf("-> [message: %d bytes]", n))
		}
		if err := c.bw.Flush(); err != nil {
			return c.ioErr(ctx, bdat, err)
		}
		if waiting != "" {
			r, err := c.readOK(ctx, waiting)
			if err != nil {
				return err
			}
			if r.code != 250 {
				// The chunk just sent was too late to hold back; read
				// its reply too (a refusal) so the connection stays in
				// step for the RSET of a next Send.
				if _, err := c.read(ctx, bdat); err != nil {
					return err
				}
				return c.replyErr(waiting, r)
			}
		}
		waiting = bdat
		if last {
			r, err := c.read(ctx, bdat)
			if err != nil {
				return err
			}
			if r.code != 250 {
				return c.replyErr(bdat, r)
			}
			c.lastReply = strings.TrimSpace(r.enh + " " + r.text())
			return nil
		}
	}
}

// chunkReader yields the CRLF-converted message in chunks of a bounded
// size and says which is the last. It converts into one buffer allocated
// on first use and never grown, so memory stays the same at any message
// size. A chunk is valid until the next call to next.
type chunkReader struct {
	r      io.Reader
	enc    *wireEncoder
	buf    []byte // converted bytes; buf[:handed] is the last chunk
	handed int
	eof    bool
	in     []byte
}

// chunkBuf is the capacity of chunkReader's buffer: the largest chunk,
// plus one read that doubles in size (every byte an LF) and the final CRLF.
const chunkBuf = max(smallMessage, bdatChunk) + 2*readChunk + 2

// unread puts the last chunk back: the next call returns it again.
func (s *chunkReader) unread() { s.handed = 0 }

// chunks sends the reader's chunks for sendChunks: each is read whole,
// then its header and its bytes are written.
func (s *chunkReader) chunks(ctx context.Context, c *Client) chunkSource {
	return func(max int, header func(n int, last bool)) (int, bool, error) {
		chunk, last, err := s.next(max)
		if err != nil {
			return 0, false, err
		}
		header(len(chunk), last)
		return len(chunk), last, c.writeChunk(ctx, chunk)
	}
}

// next returns up to max (at most chunkBuf-2*readChunk-2) converted
// bytes; last is true when nothing follows.
func (s *chunkReader) next(max int) (chunk []byte, last bool, err error) {
	if s.buf == nil {
		s.in = make([]byte, readChunk)
		s.buf = make([]byte, 0, chunkBuf)
	}
	n := copy(s.buf, s.buf[s.handed:])
	s.buf, s.handed = s.buf[:n], 0
	for len(s.buf) <= max && !s.eof {
		n, rerr := s.r.Read(s.in)
		if n > 0 {
			s.buf = s.enc.encode(s.buf, s.in[:n])
		}
		if rerr == io.EOF {
			s.eof = true
			s.buf = s.enc.finish(s.buf)
		} else if rerr != nil {
			return nil, false, fail(ReadFailed, StepDATA, rerr, "reading the message to send failed: %v", rerr)
		}
	}
	s.handed = min(len(s.buf), max)
	return s.buf[:s.handed], s.eof && len(s.buf) <= max, nil
}

// sizedReader streams the wire form of a message whose wire size the
// caller declared (Envelope.Size, from WireSize): chunk sizes follow from
// the size, so each header goes out before the chunk's bytes are read and
// the bytes go from a 16 KB read through the encoder to the connection's
// buffer. A 1 MB or 1 GB message then needs 48 KB of buffers instead of
// chunkReader's 114 KB (BENCHMARKS.md, peak memory).
//
// A message that turns out longer or shorter than declared is never
// completed: its last bytes are written only once the reader has ended
// and the count is exact, and sendChunks closes the connection on the
// error, so the server drops the transaction.
type sizedReader struct {
	r       io.Reader
	enc     wireEncoder
	in, out []byte
	pending []byte // converted bytes not yet written
	left    int64  // converted bytes the declared size still allows
	size    int64
	eof     bool
}

func (s *sizedReader) chunks(ctx context.Context, c *Client) chunkSource {
	sent := int64(0)
	return func(max int, header func(n int, last bool)) (int, bool, error) {
		n := int(min(int64(max), s.size-sent))
		last := sent+int64(n) == s.size
		header(n, last)
		for todo := n; todo > 0; {
			if len(s.pending) == 0 {
				if err := s.fill(); err != nil {
					return 0, false, err
				}
				continue
			}
			k := min(todo, len(s.pending))
			if last && k == todo && !s.eof {
				// These complete the message: hold the final byte back
				// until the reader has ended without another one.
				if err := c.writeChunk(ctx, s.pending[:k-1]); err != nil {
					return 0, false, err
				}
				final := s.pending[k-1]
				s.pending, todo = nil, 1
				for !s.eof {
					if err := s.fill(); err != nil {
						return 0, false, err
					}
					if len(s.pending) > 0 {
						return 0, false, s.tooLong()
					}
				}
				s.pending = append(s.out[:0], final)
				continue
			}
			if err := c.writeChunk(ctx, s.pending[:k]); err != nil {
				return 0, false, err
			}
			s.pending, todo = s.pending[k:], todo-k
		}
		sent += int64(n)
		return n, last, nil
	}
}

// fill reads and converts the next piece of the message into pending.
func (s *sizedReader) fill() error {
	if s.eof {
		return fail(ReadFailed, StepDATA, nil, "the message ended %d bytes short of its declared size of %d bytes", s.left, s.size)
	}
	if s.in == nil {
		s.in = make([]byte, readChunk)
		s.out = make([]byte, 0, 2*readChunk+2)
	}
	n, err := s.r.Read(s.in)
	s.out = s.enc.encode(s.out[:0], s.in[:n])
	if err == io.EOF {
		s.eof = true
		s.out = s.enc.finish(s.out)
	} else if err != nil {
		return fail(ReadFailed, StepDATA, err, "reading the message to send failed: %v", err)
	}
	if int64(len(s.out)) > s.left {
		return s.tooLong()
	}
	s.left -= int64(len(s.out))
	s.pending = s.out
	return nil
}

func (s *sizedReader) tooLong() error {
	return fail(ReadFailed, StepDATA, nil, "the message is longer than its declared size of %d bytes", s.size)
}
