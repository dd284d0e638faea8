package smtp

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// Bounds on what a server may send in one reply. RFC 5321 4.5.3.1.5 allows
// 512 octets per reply line; we accept 8 times that so odd servers work,
// and refuse anything beyond so a broken or hostile server cannot make us
// buffer without limit.
const (
	maxReplyLine  = 4096 // octets, including CRLF
	maxReplyLines = 1000
)

// reply is one parsed server reply (RFC 5321 4.2).
type reply struct {
	code  int
	enh   string   // enhanced status code (RFC 3463, RFC 2034), "" if none
	lines []string // text of each line, enhanced code stripped
}

// text joins the reply lines into one line for error messages.
func (r *reply) text() string { return strings.Join(r.lines, " ") }

// errProtocol marks a reply the client cannot parse.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// readReply reads one complete, possibly multi-line, reply. trace, if not
// nil, sees each raw line (without CRLF) once the reply is complete, with
// the account's secrets removed (internal/redact: a server that echoes
// what it received must not put a password into the -v transcript). The
// reply text is redacted the same way, as one text across its lines, so
// errors built from it carry no secret either. Errors from br are
// returned unchanged; malformed input gives a *protocolError. Memory is
// bounded by br's buffer (maxReplyLine) times maxReplyLines.
func readReply(br *bufio.Reader, trace func(string)) (*reply, error) {
	r := &reply{}
	var prefixes []string // "250-" / "250 " of each line, for the trace
	flush := func() {
		if trace == nil {
			return
		}
		clean := redact.Lines(r.lines)
		for i, l := range clean {
			trace(prefixes[i] + l)
		}
	}
	for n := 0; ; n++ {
		if n == maxReplyLines {
			flush()
			return nil, &protocolError{fmt.Sprintf("server sent a reply of more than %d lines", maxReplyLines)}
		}
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			flush()
			return nil, &protocolError{fmt.Sprintf("server sent a reply line longer than %d bytes", maxReplyLine)}
		}
		if err != nil {
			flush()
			return nil, err
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		code, more, text, ok := parseReplyLine(line)
		if !ok {
			flush()
			if trace != nil {
				trace(redact.String(line))
			}
			return nil, &protocolError{fmt.Sprintf("server sent a malformed reply line %q", clip(redact.String(line)))}
		}
		prefixes = append(prefixes, line[:min(len(line), 4)])
		if n == 0 {
			r.code = code
		} else if code != r.code {
			// RFC 5321 4.2.1: every line of a multi-line reply carries
			// the same code.
			flush()
			return nil, &protocolError{fmt.Sprintf("server changed the reply code from %d to %d inside one reply", r.code, code)}
		}
		r.lines = append(r.lines, text)
		if !more {
			break
		}
	}
	flush()
	r.lines = redactLines(r.lines)
	r.stripEnhanced()
	return r, nil
}

// redactLines removes registered secrets from reply text, keeping the
// characters of clean lines exactly (AUTH challenges and EHLO keywords are
// parsed from them); only lines that held a secret change.
func redactLines(lines []string) []string {
	if redact.Default.Empty() {
		return lines
	}
	return redact.Default.Secrets(lines)
}

// parseReplyLine splits "250-text" / "250 text" / "250".
// RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39.
func parseReplyLine(line string) (code int, more bool, text string, ok bool) {
	if len(line) < 3 {
		return 0, false, "", false
	}
	if line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false, "", false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", true
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", false
	}
	return code, more, line[4:], true
}

// stripEnhanced moves an RFC 3463 status code ("5.1.1") from the start of
// the reply text into r.enh. RFC 2034 3: the code starts every line and
// its class matches the reply code's first digit.
func (r *reply) stripEnhanced() {
	if len(r.lines) == 0 {
		return
	}
	enh, _, ok := cutEnhanced(r.lines[0])
	if !ok || enh[0] != byte('0'+r.code/100) {
		return
	}
	r.enh = enh
	for i, l := range r.lines {
		if e, rest, ok := cutEnhanced(l); ok && e == enh {
			r.lines[i] = rest
		}
	}
}

// cutEnhanced parses status-code = class "." subject "." detail, class
// 2/4/5, subject and detail 1-3 digits (RFC 3463 2), followed by a space or
// the end of the line.
func cutEnhanced(s string) (code, rest string, ok bool) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return "", "", false
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(s) && i-start < 3 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return "", "", false
		}
		if part == 0 {
			if i >= len(s) || s[i] != '.' {
				return "", "", false
			}
			i++
		}
	}
	if i < len(s) && s[i] != ' ' {
		return "", "", false
	}
	return s[:i], strings.TrimPrefix(s[i:], " "), true
}

// clip shortens server text quoted in an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
