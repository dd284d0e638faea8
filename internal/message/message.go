// Package message owns the message gsendmail submits: it reads standard
// input exactly once into a bounded-memory spool, parses the header section
// (RFC 5322 §2.2, §3.6) without ever rewriting a byte it does not have to,
// finds -t recipients, removes Bcc fields, and adds From, Date and
// Message-ID only when they are missing. It also parses address lists for
// the command line (ParseAddressList).
//
// It does not expand aliases or qualify bare local names (package aliases),
// convert line endings or dot-stuff for the wire (package smtp), pick an
// account, or decide where the message goes.
//
// Compatibility with sendmail, on purpose:
//   - A first line starting with "From " (an mbox separator, as in the
//     output of `git format-patch --stdout`) is dropped.
//   - Without -i (IgnoreDots false) a line consisting of "." alone ends the
//     input; the rest of standard input is not read. "..\n" is not
//     unstuffed.
//   - The header section ends at the first empty line, or at the first line
//     that is neither a field nor a continuation line; that line then
//     starts the body.
package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Defaults for ReadOptions.
const (
	DefaultMaxHeaderBytes = 1 << 20
	DefaultMemoryLimit    = 16 << 10
)

// ReadOptions controls Read.
type ReadOptions struct {
	// IgnoreDots is sendmail's -i / -oi: when false, a line consisting of
	// "." alone (LF or CRLF ended, or at end of input) ends the message.
	IgnoreDots bool
	// TempDir is where a large body is spooled; "" means os.TempDir().
	TempDir string
	// MaxHeaderBytes caps the header section (default 1 MiB); a larger
	// header section is an error with exit code 65.
	MaxHeaderBytes int
	// MemoryLimit is how much body is kept in memory (default 16 KiB)
	// before it is spooled to a 0600 temporary file that Close removes.
	// A negative value spools every non-empty body.
	MemoryLimit int
}

// field is one header field exactly as read: name, colon, value and all
// continuation lines, each with its original line ending. Only the last
// field of a message that ends without a line break lacks one.
type field struct {
	name string
	raw  []byte
}

// Message is a message read by Read. Its body lives in memory or in a
// spool file; call Close when done.
type Message struct {
	fields []field
	// sep is the empty line that ended the header section ("\n" or
	// "\r\n"), or nil when the body started with a non-header line or
	// there is no body.
	sep []byte
	// nl is the message's own line ending, used for added fields.
	nl string

	body     []byte
	spool    *os.File
	bodySize int64
	bodyBare int64 // LFs in the body not preceded by CR
	bodyCR   int64 // CRs in the body not followed by LF (sent as CRLF)
	bodyLast byte  // the body's last byte, if bodySize > 0
	body8bit bool
	// longLine is the 1-based body line of the first line over
	// MaxLineOctets and longLen its length, found while the body was
	// read (no second pass over a spooled body); longKnown is false once
	// the body was replaced.
	longLine, longLen int
	longKnown         bool
	closed            bool
}

// Read reads one message from r (once; r is not rewound) and parses its
// header section. Errors carry exit codes: 65 for a header section over
// the limit, 74 for a read failure, 73 when the spool file cannot be
// written.
func Read(r io.Reader, o ReadOptions) (*Message, error) {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	m := &Message{}
	br := bufio.NewReaderSize(r, 16<<10)
	bw := &bodyWriter{m: m, limit: o.MemoryLimit, dir: o.TempDir, prev: '\n'}
	ok := false
	defer func() {
		if !ok {
			m.Close()
		}
	}()

	budget := o.MaxHeaderBytes
	first := true
	var bodyStart []byte // first body bytes already read, if any
	midLine := false     // bodyStart ends inside a line
	ended := false       // a "." line or end of input ended the message
	for {
		line, over, err := readCapped(br, budget)
		if err != nil {
			return nil, readErr(err)
		}
		if len(line) == 0 {
			ended = true // end of input inside or right after the header
			break
		}
		if over {
			if couldBeHeader(line, len(m.fields) > 0) {
				return nil, sysexits.New(sysexits.DataErr, fmt.Errorf(
					"header section is larger than %s: a header line may be missing its line breaks; check the program that wrote the message",
					sizeString(o.MaxHeaderBytes)))
			}
			bodyStart, midLine = line, true
			break
		}
		budget -= len(line)
		if first {
			first = false
			if bytes.HasPrefix(line, []byte("From ")) {
				continue // mbox separator: sendmail drops it too
			}
		}
		if !o.IgnoreDots && isDotLine(line) {
			ended = true
			break
		}
		if isEmptyLine(line) {
			m.sep = line
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(m.fields) > 0 {
			// RFC 5322 §2.2.3: a continuation line of the last field.
			last := &m.fields[len(m.fields)-1]
			last.raw = append(last.raw, line...)
			continue
		}
		if name, ok := fieldName(line); ok {
			m.fields = append(m.fields, field{name: name, raw: line})
			continue
		}
		bodyStart = line
		break
	}
	if !ended {
		if err := bw.copyBody(br, bodyStart, midLine, o.IgnoreDots); err != nil {
			return nil, err
		}
	}
	if err := bw.finish(); err != nil {
		return nil, err
	}
	m.nl = m.detectNL(bw.firstNL)
	if err := m.checkBareCRAndNUL(bw); err != nil {
		return nil, err
	}
	ok = true
	return m, nil
}

// checkBareCRAndNUL refuses what would let a caller smuggle SMTP: a CR
// that does not start a CRLF, or a NUL, inside a header field (RFC 5321
// 2.3.8: a client MUST NOT send bare CR; RFC 5322 2.2: field bodies hold
// no CR or LF except in CRLF, and no NUL), and a NUL anywhere in the body:
// gsendmail never sends BODY=BINARYMIME (RFC 3030), the only way NUL may
// travel. A bare CR in the body is not refused: the wire encoder sends it
// as CRLF (see internal/smtp), so "x\r.\r\n" becomes an ordinary line
// and a dot-stuffed "..", never an end of data. Exit code 65.
func (m *Message) checkBareCRAndNUL(bw *bodyWriter) error {
	line := 1
	for _, f := range m.fields {
		raw := f.raw
		for i, c := range raw {
			switch {
			case c == 0:
				return sysexits.New(sysexits.DataErr, fmt.Errorf("header field %q (line %d) contains a NUL byte: refusing the message; fix the program that wrote it", f.name, line))
			case c == '\r' && (i+1 >= len(raw) || raw[i+1] != '\n'):
				return sysexits.New(sysexits.DataErr, fmt.Errorf("header field %q (line %d) contains a bare CR (a carriage return not followed by a line feed), which could inject header fields or SMTP commands: refusing the message; fix the program that wrote it", f.name, line))
			case c == '\n':
				line++
			}
		}
	}
	if m.sep != nil {
		line++
	}
	if bw.nulLine > 0 {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("line %d of the message (body line %d) contains a NUL byte, which SMTP cannot carry without BINARYMIME: refusing the message; encode binary content (base64 MIME part)", int64(line)+bw.nulLine-1, bw.nulLine))
	}
	return nil
}

// readCapped reads one line including its '\n'. It never holds more than
// max+1 bytes: when the line is longer it returns (and consumes) only the
// first max+1 bytes, with over set. At end of input it returns what is
// left, possibly nothing, and a nil error.
func readCapped(br *bufio.Reader, max int) (line []byte, over bool, err error) {
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return line, false, nil
				}
				return nil, false, err
			}
		}
		b, _ := br.Peek(br.Buffered())
		take, done := len(b), false
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			take, done = i+1, true
		}
		if len(line)+take > max {
			take, done, over = max+1-len(line), true, true
		}
		line = append(line, b[:take]...)
		if _, err := br.Discard(take); err != nil {
			return nil, false, err
		}
		if done {
			return line, over, nil
		}
	}
}

// isDotLine reports sendmail's end-of-input line: "." alone.
// The comparisons convert in place: a string(l) held in a variable is a
// copy on the heap for every line longer than 32 bytes, which made a
// 50 MB body cost 48 MB of garbage and 16 GCs.
func isDotLine(l []byte) bool {
	return string(l) == ".\n" || string(l) == ".\r\n" || string(l) == "."
}

func isEmptyLine(l []byte) bool {
	return string(l) == "\n" || string(l) == "\r\n"
}

// fieldName returns the name of a line that starts a header field:
// RFC 5322 §3.6.8 field-name = 1*ftext (printable US-ASCII except ':'),
// then ':' — with the obsolete optional white space before the colon
// (§4.5.3) tolerated.
func fieldName(l []byte) (string, bool) {
	i := 0
	for i < len(l) && l[i] >= 33 && l[i] <= 126 && l[i] != ':' {
		i++
	}
	if i == 0 {
		return "", false
	}
	j := i
	for j < len(l) && (l[j] == ' ' || l[j] == '\t') {
		j++
	}
	if j >= len(l) || l[j] != ':' {
		return "", false
	}
	return string(l[:i]), true
}

// couldBeHeader decides whether a line too long for the header budget
// belongs to the header section (an error) or starts the body.
func couldBeHeader(prefix []byte, haveFields bool) bool {
	if prefix[0] == ' ' || prefix[0] == '\t' {
		return haveFields
	}
	if _, ok := fieldName(prefix); ok {
		return true
	}
	// Only name characters and no colon yet: it might still be a field.
	for _, c := range prefix {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func readErr(err error) error {
	return sysexits.New(sysexits.IOErr, fmt.Errorf(
		"cannot read the message: %v; nothing was sent, run the command again", err))
}

func sizeString(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// detectNL returns the line ending of the first line of the message.
func (m *Message) detectNL(bodyNL string) string {
	for _, f := range m.fields {
		if i := bytes.IndexByte(f.raw, '\n'); i >= 0 {
			if i > 0 && f.raw[i-1] == '\r' {
				return "\r\n"
			}
			return "\n"
		}
	}
	if m.sep != nil {
		return string(m.sep)
	}
	if bodyNL != "" {
		return bodyNL
	}
	return "\n"
}

// spoolBuffer is the least write buffer of the spool file. Bodies arrive
// line by line, so it saves a syscall per line. Normally the buffer is the
// memory the body filled before it was spooled (MemoryLimit), reused, so
// spooling allocates nothing beside it.
const spoolBuffer = 16 << 10

// bodyWriter collects the body in memory and moves it to a spool file
// once it outgrows the memory limit, computing sizes on the way.
type bodyWriter struct {
	m       *Message
	limit   int
	dir     string
	buf     bytes.Buffer
	file    *os.File // the spool file, once the body outgrew the limit
	pending []byte   // bytes for file not yet written; buf's memory reused
	prev    byte
	firstNL string
	lines   int64 // body lines completed so far
	lineLen int   // bytes of the current body line so far, without LF
	nulLine int64 // 1-based body line of the first NUL, 0 for none
}

func (w *bodyWriter) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	m := w.m
	for i, c := range p {
		prev := w.prev
		if i > 0 {
			prev = p[i-1]
		}
		if prev == '\r' && c != '\n' {
			m.bodyCR++
		}
		if c == 0 && w.nulLine == 0 {
			w.nulLine = w.lines + 1
		}
		if c == '\n' {
			if l := w.lineLen; m.longLine == 0 {
				if prev == '\r' {
					l--
				}
				if l > MaxLineOctets {
					m.longLine, m.longLen = int(w.lines)+1, l
				}
			}
			w.lineLen = 0
			w.lines++
			if prev != '\r' {
				m.bodyBare++
			}
			if w.firstNL == "" {
				w.firstNL = "\n"
				if prev == '\r' {
					w.firstNL = "\r\n"
				}
			}
		} else {
			w.lineLen++
			if c >= 0x80 {
				m.body8bit = true
			}
		}
	}
	w.prev = p[len(p)-1]
	m.bodyLast = w.prev
	m.bodySize += int64(len(p))
	if w.file == nil {
		if w.buf.Len()+len(p) <= w.limit {
			if w.buf.Cap() == 0 {
				// Room for the whole limit at once: growing by doubling
				// left 190 KB of garbage behind for every spooled body,
				// and pages of the buffer not written to cost nothing.
				w.buf.Grow(min(w.limit, DefaultMemoryLimit))
			}
			w.buf.Write(p)
			return nil
		}
		f, err := os.CreateTemp(w.dir, "gsendmail-body-*")
		if err != nil {
			return spoolErr(w.dir, err)
		}
		m.spool = f
		// CreateTemp uses 0600 already; be explicit, the body is private.
		if err := f.Chmod(0o600); err != nil {
			os.Remove(f.Name())
			return spoolErr(w.dir, err)
		}
		// Nameless from here on: the open file is all we use, and a
		// process killed mid-send (kill -9, the OOM killer, a crash)
		// leaves no copy of the body in the directory.
		if err := os.Remove(f.Name()); err != nil {
			return spoolErr(w.dir, err)
		}
		w.file = f
		w.pending = w.buf.Bytes()
		if cap(w.pending) < spoolBuffer {
			w.pending = append(make([]byte, 0, spoolBuffer), w.pending...)
		}
		w.buf = bytes.Buffer{}
	}
	if len(w.pending)+len(p) > cap(w.pending) {
		if err := w.flush(); err != nil {
			return err
		}
		if len(p) >= cap(w.pending) {
			if _, err := w.file.Write(p); err != nil {
				return spoolErr(w.dir, err)
			}
			return nil
		}
	}
	w.pending = append(w.pending, p...)
	return nil
}

// flush writes the pending bytes to the spool file.
func (w *bodyWriter) flush() error {
	if _, err := w.file.Write(w.pending); err != nil {
		return spoolErr(w.dir, err)
	}
	w.pending = w.pending[:0]
	return nil
}

// copyBody streams the rest of the input into the body. start holds body
// bytes already read; midLine says start does not end at a line boundary.
func (w *bodyWriter) copyBody(br *bufio.Reader, start []byte, midLine, ignoreDots bool) error {
	if err := w.write(start); err != nil {
		return err
	}
	atLineStart := !midLine
	sinceYield := 0
	for {
		if sinceYield >= yieldEvery {
			// See yieldEvery.
			runtime.Gosched()
			sinceYield = 0
		}
		chunk, err := br.ReadSlice('\n')
		sinceYield += len(chunk)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return readErr(err)
		}
		// A "." line is at most 3 bytes, so it always arrives whole.
		if atLineStart && !ignoreDots && isDotLine(chunk) {
			return nil
		}
		if werr := w.write(chunk); werr != nil {
			return werr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		atLineStart = len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
	}
}

// yieldEvery is how many body bytes copyBody copies between calls to
// runtime.Gosched. A goroutine that runs 10 ms without passing through
// the scheduler (reads from a pipe that never has to wait do not) is
// preempted with a signal, and the signal handler reads the interrupted
// function's tables from the binary's read-only data: pages that stay
// resident, about 0.6 MB over a 50 MB body. Yielding now and then is a
// pass through the scheduler that costs well under a microsecond.
const yieldEvery = 64 << 10

func (w *bodyWriter) finish() error {
	m := w.m
	if m.longLine == 0 && w.lineLen > MaxLineOctets {
		m.longLine, m.longLen = int(w.lines)+1, w.lineLen
	}
	m.longKnown = true
	if w.file != nil {
		return w.flush()
	}
	w.m.body = w.buf.Bytes()
	return nil
}

func spoolErr(dir string, err error) error {
	if dir == "" {
		dir = os.TempDir()
	}
	return sysexits.New(sysexits.CantCreat, fmt.Errorf(
		"cannot spool the message in %s: %v; free some space or set TMPDIR to a writable directory", dir, err))
}

// Close removes the spool file, if any. It is safe to call more than once.
func (m *Message) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	m.body = nil
	if m.spool == nil {
		return nil
	}
	return m.spool.Close()
}

// WriteTo streams the message: header fields, the separator line and the
// body, exactly as read apart from removed and added fields. It may be
// called more than once.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	if m.closed {
		return 0, errors.New("message: WriteTo after Close")
	}
	var n int64
	for _, f := range m.fields {
		k, err := w.Write(f.raw)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	if len(m.sep) > 0 {
		k, err := w.Write(m.sep)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	if m.spool != nil {
		k, err := io.Copy(w, io.NewSectionReader(m.spool, 0, m.bodySize))
		return n + k, err
	}
	k, err := w.Write(m.body)
	return n + int64(k), err
}

// Reader returns a reader of the same bytes WriteTo writes, read straight
// from the fields and the body or its spool file: no goroutine, pipe or
// copy buffer in between. Each call starts at the beginning; the message
// must not be closed or edited while the reader is in use.
func (m *Message) Reader() io.Reader { return &reader{m: m} }

// reader is Reader's state: the next field, then the separator, then the
// body at offset off.
type reader struct {
	m      *Message
	field  int    // index of the next field; len(fields) for the separator
	rest   []byte // unread part of the current field or separator
	inBody bool
	off    int64
}

func (r *reader) Read(p []byte) (int, error) {
	m := r.m
	if m.closed {
		return 0, errors.New("message: Read after Close")
	}
	for len(r.rest) == 0 && !r.inBody {
		switch {
		case r.field < len(m.fields):
			r.rest = m.fields[r.field].raw
			r.field++
		case r.field == len(m.fields):
			r.rest = m.sep
			r.field++
		default:
			r.inBody = true
		}
	}
	if len(r.rest) > 0 {
		n := copy(p, r.rest)
		r.rest = r.rest[n:]
		return n, nil
	}
	if r.off >= m.bodySize {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), m.bodySize-r.off)]
	var n int
	var err error
	if m.spool != nil {
		n, err = m.spool.ReadAt(p, r.off)
		if err == io.EOF && n == len(p) {
			err = nil
		}
	} else {
		n = copy(p, m.body[r.off:])
	}
	r.off += int64(n)
	return n, err
}

// headerSize returns the stored and the wire size of fields and separator.
func (m *Message) headerSize() (size, bare int64) {
	count := func(b []byte) {
		size += int64(len(b))
		for i, c := range b {
			if c == '\n' && (i == 0 || b[i-1] != '\r') {
				bare++
			}
		}
	}
	for _, f := range m.fields {
		count(f.raw)
	}
	count(m.sep)
	return size, bare
}

// Size is the message size in bytes as stored.
func (m *Message) Size() int64 {
	s, _ := m.headerSize()
	return s + m.bodySize
}

// WireSize is the size of the message as it goes on the wire, the same
// count as smtp.WireSize of Reader: LF and bare CR become CRLF (RFC 5321
// §2.3.8) and an unterminated last line gets its CRLF, dot-stuffing
// aside. It is the figure for the SIZE parameter (RFC 1870 §3) and the
// declared size BDAT chunks are cut from, so it must be exact.
func (m *Message) WireSize() int64 {
	s, bare := m.headerSize()
	n := s + bare + m.bodySize + m.bodyBare + m.bodyCR
	last := m.bodyLast
	if m.bodySize == 0 {
		last = m.headerLast()
	}
	switch {
	case n == 0 || last == '\n':
	case last == '\r':
		n++ // the last CR gets its LF
	default:
		n += 2
	}
	return n
}

// headerLast is the last byte of the header section, 0 if it is empty.
func (m *Message) headerLast() byte {
	if len(m.sep) > 0 {
		return m.sep[len(m.sep)-1]
	}
	for i := len(m.fields) - 1; i >= 0; i-- {
		if r := m.fields[i].raw; len(r) > 0 {
			return r[len(r)-1]
		}
	}
	return 0
}

// EightBit reports whether any byte of the message is 0x80 or above.
func (m *Message) EightBit() bool {
	return m.body8bit || m.HeaderNonASCII()
}

// HeaderNonASCII reports whether the header section has a byte 0x80 or
// above (which needs SMTPUTF8, RFC 6531, to be sent as is).
func (m *Message) HeaderNonASCII() bool {
	for _, f := range m.fields {
		for _, c := range f.raw {
			if c >= 0x80 {
				return true
			}
		}
	}
	return false
}

// Header returns the unfolded values (RFC 5322 §2.2.3) of the fields
// named name, compared case-insensitively, in order.
func (m *Message) Header(name string) []string {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value())
		}
	}
	return out
}

// value returns the field body, unfolded and without surrounding WSP.
func (f field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	v := string(f.raw[i+1:])
	v = strings.ReplaceAll(v, "\r\n", "")
	v = strings.ReplaceAll(v, "\n", "")
	return strings.Trim(v, " \t")
}

// Has reports whether a field named name exists (case-insensitive).
func (m *Message) Has(name string) bool {
	for _, f := range m.fields {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// RemoveBcc removes every Bcc and Resent-Bcc field with its continuation
// lines (RFC 5322 §3.6.3: blind recipients must not be disclosed). It
// reports how many fields it removed.
func (m *Message) RemoveBcc() int {
	kept := m.fields[:0]
	n := 0
	for _, f := range m.fields {
		if strings.EqualFold(f.name, "Bcc") || strings.EqualFold(f.name, "Resent-Bcc") {
			n++
			continue
		}
		kept = append(kept, f)
	}
	m.fields = kept
	return n
}

// Add appends the field "name: value" at the end of the header section,
// ending it with the message's own line ending. A name that is not an RFC
// 5322 field name, or a value containing CR, LF or NUL (header
// injection), is an error with exit code 65. Values are not folded.
// When the body followed the header section without an empty line, Add
// inserts one (in the message's line ending) so that the first body line
// cannot become a continuation of the new field; sendmail does the same.
func (m *Message) Add(name, value string) error {
	if n, ok := fieldName([]byte(name + ":")); !ok || n != name {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("cannot add header field %q: not a valid field name", name))
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return sysexits.New(sysexits.DataErr, fmt.Errorf(
			"cannot add header field %s: its value contains a line break or NUL byte; remove it from the option or setting that supplied it", name))
	}
	if k := len(m.fields); k > 0 {
		last := &m.fields[k-1]
		if !bytes.HasSuffix(last.raw, []byte("\n")) {
			last.raw = append(last.raw, m.nl...)
		}
	}
	if m.sep == nil && m.bodySize > 0 {
		// The body started without an empty line; once we add a field,
		// make the boundary explicit so the first body line cannot be
		// read as a continuation of the new field.
		m.sep = []byte(m.nl)
	}
	m.fields = append(m.fields, field{name: name, raw: []byte(name + ": " + value + m.nl)})
	return nil
}
