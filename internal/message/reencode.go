package message

// Making a message fit the wire: no line over 998 octets (RFC 5321
// 4.5.3.1.6, RFC 5322 2.1.1; BDAT does not lift the limit without
// BINARYMIME, which gsendmail does not use) and, for a server without
// 8BITMIME, no 8-bit byte in the body (RFC 6152 3: convert or refuse).
//
// Only what can change without changing the meaning is changed: the
// content transfer encoding of a single-part body or of a leaf part of a
// multipart (RFC 2045 6): quoted-printable for text, base64 for anything
// else. Never inside multipart/signed (RFC 1847: the signature covers the
// bytes), never when a DKIM-Signature is present (its body hash would
// break), never a message/* part (RFC 2046 5.2.1 forbids encoding it).
// Otherwise the error (exit 65) names the line and the fix. A message
// that already fits is not touched, byte for byte.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// MaxLineOctets is the longest line RFC 5322 2.1.1 allows, without CRLF.
const MaxLineOctets = 998

// maxReencodeBytes bounds the body held in memory to re-encode it.
const maxReencodeBytes = 64 << 20

// Conform makes the message fit a server as described above: lines over
// 998 octets are always re-encoded; 8-bit body bytes too when sevenBit
// (the server does not offer 8BITMIME). It reports whether it changed
// the message. Errors have exit code 65 and say which line and what to do.
func (m *Message) Conform(sevenBit bool) (changed bool, err error) {
	if m.closed {
		return false, errors.New("message: Conform after Close")
	}
	headerLines := 0
	for _, f := range m.fields {
		for _, l := range splitLines(f.raw) {
			headerLines++
			if n := lineLen(l); n > MaxLineOctets {
				return false, dataErr("line %d of the message (in the %s header field) is %d octets long, over the %d that RFC 5322 allows: fold the field over several lines", headerLines, f.name, n, MaxLineOctets)
			}
		}
	}
	if len(m.sep) > 0 {
		headerLines++
	}
	long, longLen, err := m.firstLongBodyLine()
	if err != nil {
		return false, err
	}
	need8 := sevenBit && m.body8bit
	if long == 0 && !need8 {
		return false, nil
	}
	why := fmt.Sprintf("line %d of the message is %d octets long, over the %d that RFC 5322 allows", headerLines+long, longLen, MaxLineOctets)
	if long == 0 {
		why = "the server does not accept 8-bit data (no 8BITMIME) and the body has 8-bit bytes"
	}
	if m.Has("DKIM-Signature") {
		return false, dataErr("%s, and the message carries a DKIM-Signature, which re-encoding would break: let the program that signs it use quoted-printable", why)
	}
	if m.bodySize > maxReencodeBytes {
		return false, dataErr("%s, and the body is too large (%d bytes) to re-encode: send it with quoted-printable or base64 encoding", why, m.bodySize)
	}
	body, err := m.bodyBytes()
	if err != nil {
		return false, err
	}
	ct, cte := m.headerValue("Content-Type"), m.headerValue("Content-Transfer-Encoding")
	p := &rewriter{nl: m.nl, sevenBit: sevenBit, why: why}
	out, newCTE, err := p.part(ct, cte, body)
	if err != nil {
		return false, err
	}
	if p.needs(out) {
		// A multipart preamble or epilogue, or a part's own header.
		return false, dataErr("%s, outside any part gsendmail can re-encode: encode it with quoted-printable before sending", why)
	}
	if newCTE != "" {
		m.removeField("Content-Transfer-Encoding")
		if ct == "" && newCTE == "quoted-printable" && hasHigh(body) {
			// The default text/plain; charset=us-ascii would be wrong.
			cs := "unknown-8bit" // RFC 1428
			if utf8.Valid(body) {
				cs = "utf-8"
			}
			if err := m.Add("Content-Type", "text/plain; charset="+cs); err != nil {
				return false, err
			}
		}
		if err := m.Add("Content-Transfer-Encoding", newCTE); err != nil {
			return false, err
		}
	}
	if !m.Has("MIME-Version") {
		if err := m.Add("MIME-Version", "1.0"); err != nil {
			return false, err
		}
	}
	if m.sep == nil {
		m.sep = []byte(m.nl)
	}
	m.replaceBody(out)
	return true, nil
}

func dataErr(format string, a ...any) error {
	return sysexits.New(sysexits.DataErr, fmt.Errorf(format, a...))
}

// firstLongBodyLine returns the 1-based body line number of the first
// line over MaxLineOctets and its length, or 0.
func (m *Message) firstLongBodyLine() (line, length int, err error) {
	if m.longKnown {
		return m.longLine, m.longLen, nil
	}
	r, err := m.bodyReader()
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, 16<<10)
	cur, n := 0, 1
	prevCR := false
	for {
		k, rerr := r.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				l := cur
				if prevCR {
					l--
				}
				if l > MaxLineOctets {
					return n, l, nil
				}
				cur, n = 0, n+1
				prevCR = false
				continue
			}
			cur++
			prevCR = c == '\r'
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, sysexits.New(sysexits.IOErr, fmt.Errorf("reading the spooled message: %w", rerr))
		}
	}
	if cur > MaxLineOctets {
		return n, cur, nil
	}
	return 0, 0, nil
}

func (m *Message) bodyReader() (io.Reader, error) {
	if m.spool != nil {
		return io.NewSectionReader(m.spool, 0, m.bodySize), nil
	}
	return bytes.NewReader(m.body), nil
}

func (m *Message) bodyBytes() ([]byte, error) {
	r, err := m.bodyReader()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, sysexits.New(sysexits.IOErr, fmt.Errorf("reading the spooled message: %w", err))
	}
	return b, nil
}

// replaceBody puts b in memory as the new body, dropping the spool.
func (m *Message) replaceBody(b []byte) {
	if m.spool != nil {
		m.spool.Close()
		m.spool = nil
	}
	m.body = b
	m.longKnown = false
	m.bodySize = int64(len(b))
	m.bodyBare, m.bodyCR, m.body8bit = 0, 0, false
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			m.bodyBare++
		}
		if c == '\r' && i+1 < len(b) && b[i+1] != '\n' {
			m.bodyCR++ // as bodyWriter counts them: a last CR is WireSize's
		}
		if c >= 0x80 {
			m.body8bit = true
		}
	}
	if len(b) > 0 {
		m.bodyLast = b[len(b)-1]
	}
}

func (m *Message) headerValue(name string) string {
	if v := m.Header(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m *Message) removeField(name string) {
	kept := m.fields[:0]
	for _, f := range m.fields {
		if !strings.EqualFold(f.name, name) {
			kept = append(kept, f)
		}
	}
	m.fields = kept
}

// rewriter re-encodes the parts that need it.
type rewriter struct {
	nl       string
	sevenBit bool
	why      string // the first problem, for errors
	depth    int
}

// part returns the new content of a part with Content-Type ct and
// Content-Transfer-Encoding cte, and the new transfer encoding when it
// changed ("" when the part is unchanged or only its children changed).
func (p *rewriter) part(ct, cte string, body []byte) ([]byte, string, error) {
	if !p.needs(body) {
		return body, "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt, params = "text/plain", nil
	}
	switch {
	case mt == "multipart/signed":
		return nil, "", dataErr("%s, inside a multipart/signed part, which re-encoding would break: let the program that signs it use quoted-printable", p.why)
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" || p.depth > 20 {
			return nil, "", dataErr("%s, inside a multipart part without a usable boundary: encode the long lines with quoted-printable before sending", p.why)
		}
		p.depth++
		defer func() { p.depth-- }()
		out, err := p.multipart(params["boundary"], body)
		return out, "", err
	case strings.HasPrefix(mt, "message/"):
		return nil, "", dataErr("%s, inside a %s part, which may not be re-encoded (RFC 2046 5.2): encode the attached message's long lines first", p.why, mt)
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
	default:
		return nil, "", dataErr("%s, in a part already encoded as %s, so it is malformed: fix the program that wrote it", p.why, strings.ToLower(cte))
	}
	if strings.HasPrefix(mt, "text/") {
		return p.quotedPrintable(body), "quoted-printable", nil
	}
	return p.base64(body), "base64", nil
}

// needs reports whether body breaks a rule.
func (p *rewriter) needs(body []byte) bool {
	if p.sevenBit && hasHigh(body) {
		return true
	}
	for _, l := range splitLines(body) {
		if lineLen(l) > MaxLineOctets {
			return true
		}
	}
	return false
}

// multipart rewrites the parts of a multipart body (RFC 2046 5.1.1): the
// preamble, the epilogue and the delimiter lines stay as they are.
func (p *rewriter) multipart(boundary string, body []byte) ([]byte, error) {
	lines := splitLines(body)
	var out bytes.Buffer
	var part [][]byte
	inPart, closed := false, false
	flush := func() error {
		if !inPart {
			for _, l := range part {
				out.Write(l)
			}
			part = nil
			return nil
		}
		b, err := p.leafOrNested(bytes.Join(part, nil))
		if err != nil {
			return err
		}
		out.Write(b)
		part = nil
		return nil
	}
	for _, l := range lines {
		if !closed {
			if d, last := isDelimiter(l, boundary); d {
				if err := flush(); err != nil {
					return nil, err
				}
				out.Write(l)
				inPart, closed = !last, last
				continue
			}
		}
		part = append(part, l)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// leafOrNested rewrites one part (its header, blank line and content, and
// the line ending that belongs to the next delimiter).
func (p *rewriter) leafOrNested(raw []byte) ([]byte, error) {
	if !p.needs(raw) {
		return raw, nil
	}
	// Header: up to the first empty line.
	lines := splitLines(raw)
	h := 0
	for h < len(lines) && lineLen(lines[h]) > 0 {
		h++
	}
	if h == len(lines) {
		return nil, dataErr("%s, in a part without a header section: encode the long lines with quoted-printable before sending", p.why)
	}
	header := lines[:h]
	blank := lines[h]
	content := bytes.Join(lines[h+1:], nil)
	// The line ending before the next delimiter belongs to it.
	tail := []byte{}
	if bytes.HasSuffix(content, []byte("\r\n")) {
		content, tail = content[:len(content)-2], []byte("\r\n")
	} else if bytes.HasSuffix(content, []byte("\n")) {
		content, tail = content[:len(content)-1], []byte("\n")
	}
	for _, l := range header {
		if lineLen(l) > MaxLineOctets {
			return nil, dataErr("%s, in a part's header: fold the field over several lines", p.why)
		}
	}
	ct, cte := partField(header, "Content-Type"), partField(header, "Content-Transfer-Encoding")
	newContent, newCTE, err := p.part(ct, cte, content)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, f := range partFields(header) {
		if newCTE != "" && strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			continue
		}
		out.Write(f.raw)
	}
	if newCTE != "" {
		out.WriteString("Content-Transfer-Encoding: " + newCTE + p.nl)
	}
	out.Write(blank)
	out.Write(newContent)
	out.Write(tail)
	return out.Bytes(), nil
}

func (p *rewriter) quotedPrintable(b []byte) []byte {
	var out bytes.Buffer
	w := quotedprintable.NewWriter(&out)
	w.Write(b)
	w.Close()
	return p.lineEndings(out.Bytes())
}

func (p *rewriter) base64(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + p.nl)
		enc = enc[76:]
	}
	out.WriteString(enc)
	return out.Bytes()
}

// lineEndings turns the encoder's CRLF into the message's own.
func (p *rewriter) lineEndings(b []byte) []byte {
	if p.nl == "\r\n" {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte(p.nl))
}

// isDelimiter reports a "--boundary" line (RFC 2046 5.1.1), and whether it
// is the closing "--boundary--". Trailing white space is allowed.
func isDelimiter(line []byte, boundary string) (ok, last bool) {
	l := bytes.TrimRight(line, " \t\r\n")
	if !bytes.HasPrefix(l, []byte("--"+boundary)) {
		return false, false
	}
	rest := l[2+len(boundary):]
	switch string(rest) {
	case "":
		return true, false
	case "--":
		return true, true
	}
	return false, false
}

type partHeaderField struct {
	name string
	raw  []byte
}

// partFields groups header lines into fields with their continuations.
func partFields(lines [][]byte) []partHeaderField {
	var out []partHeaderField
	for _, l := range lines {
		if len(out) > 0 && (l[0] == ' ' || l[0] == '\t') {
			out[len(out)-1].raw = append(out[len(out)-1].raw, l...)
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		out = append(out, partHeaderField{name: strings.TrimSpace(string(name)), raw: append([]byte(nil), l...)})
	}
	return out
}

func partField(lines [][]byte, name string) string {
	for _, f := range partFields(lines) {
		if strings.EqualFold(f.name, name) {
			_, v, _ := bytes.Cut(f.raw, []byte(":"))
			v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
			v = bytes.ReplaceAll(v, []byte("\n"), nil)
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}

// splitLines splits b after each LF, keeping the line endings.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// lineLen is the length of a line without its CRLF or LF.
func lineLen(l []byte) int {
	n := len(l)
	if n > 0 && l[n-1] == '\n' {
		n--
		if n > 0 && l[n-1] == '\r' {
			n--
		}
	}
	return n
}

// hasHigh is smtp.IsASCII's test on a byte slice of the message itself,
// kept here so the body is not copied into a string to ask.
func hasHigh(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
