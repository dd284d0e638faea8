package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// noticeOriginalLimit is how much of the original message a failure notice
// carries.
const noticeOriginalLimit = 16 << 10

// FailureNotice builds a delivery status notification (RFC 3464, a
// multipart/report of RFC 6522) telling e.From that e failed for reason. from
// is the notice's From address (e.g. MAILER-DAEMON@host); its domain names
// the Reporting-MTA. The original message is attached whole as
// message/rfc822 when it fits in 16 KiB, otherwise only its header section
// (text/rfc822-headers, cut at 16 KiB), as Postfix does past
// bounce_size_limit. original may be nil. Every recipient of e is reported
// failed: the queue keeps no per-recipient outcome.
//
// It returns nil when e.From is the null sender: RFC 5321 6.1 and RFC 3464
// 2 forbid notices about notices. Then the caller sends to
// failure_notice_to or leaves the entry in failed/ and logs that. The notice
// itself must be submitted with the null envelope sender (RFC 5321 4.5.5).
func FailureNotice(e Entry, reason, from string, now time.Time, original io.Reader) []byte {
	if isNullSender(e.From) {
		return nil
	}
	from = headerSafe(from)
	if from == "" {
		from = "MAILER-DAEMON@localhost"
	}
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = strings.Trim(from[i+1:], "<>[] ")
	}
	reason = headerSafe(oneLine(reason))

	var orig []byte
	if original != nil {
		orig, _ = io.ReadAll(io.LimitReader(original, noticeOriginalLimit+1))
	}
	complete := len(orig) <= noticeOriginalLimit
	if !complete {
		orig = headerSection(orig[:noticeOriginalLimit])
	}
	orig = crlf(orig)
	boundary := randomBoundary(orig)

	global := smtp.NeedsUTF8(e.From, e.To)

	var b bytes.Buffer
	h := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	h("From: Mail Delivery System <%s>", from)
	h("To: <%s>", headerSafe(e.From))
	h("Subject: Undelivered mail returned to sender")
	h("Date: %s", now.Format(time.RFC1123Z))
	h("Message-ID: <%s.%s@%s>", now.UTC().Format("20060102150405"), randomHex(8), domain)
	h("Auto-Submitted: auto-replied") // RFC 3834 5
	h("MIME-Version: 1.0")
	h("Content-Type: multipart/report; report-type=delivery-status;")
	h("\tboundary=\"%s\"", boundary)
	h("")
	h("This is a MIME-encapsulated message.")
	h("")

	// Part 1: for humans.
	h("--%s", boundary)
	h("Content-Description: Notification")
	h("Content-Type: text/plain; charset=utf-8")
	if smtp.IsASCII(reason) && !global {
		h("Content-Transfer-Encoding: 7bit")
	} else {
		h("Content-Transfer-Encoding: 8bit")
	}
	h("")
	h("gsendmail could not deliver your message to:")
	h("")
	for _, r := range e.To {
		h("    <%s>", headerSafe(r))
	}
	h("")
	h("Reason: %s", reason)
	h("")
	h("The message was queued at %s and tried %d time(s); it has been", e.Created.Format(time.RFC1123Z), e.Attempts)
	h("set aside and will not be tried again. The original %s below.", map[bool]string{true: "message is", false: "message's header is"}[complete])
	h("")

	// Part 2: RFC 3464 2.2 per-message and 2.3 per-recipient fields. Non-
	// ASCII addresses need RFC 6533's message/global-delivery-status and
	// the utf-8 address type.
	h("--%s", boundary)
	h("Content-Description: Delivery report")
	addrType := "rfc822"
	if global {
		h("Content-Type: message/global-delivery-status")
		addrType = "utf-8"
	} else {
		h("Content-Type: message/delivery-status")
	}
	h("")
	h("Reporting-MTA: dns; %s", domain)
	if e.ID != "" {
		h("X-Gsendmail-Queue-ID: %s", e.ID)
	}
	if e.EnvID != "" {
		h("Original-Envelope-Id: %s", headerSafe(e.EnvID))
	}
	if !e.Created.IsZero() {
		h("Arrival-Date: %s", e.Created.Format(time.RFC1123Z))
	}
	status, diag := statusOf(reason)
	for _, r := range e.To {
		h("")
		h("Final-Recipient: %s; %s", addrType, headerSafe(r))
		h("Action: failed")
		h("Status: %s", status)
		if diag != "" {
			h("Diagnostic-Code: smtp; %s", diag)
		}
		if !e.LastAttempt.IsZero() {
			h("Last-Attempt-Date: %s", e.LastAttempt.Format(time.RFC1123Z))
		}
	}
	h("")

	// Part 3: the original.
	h("--%s", boundary)
	switch {
	case complete && global:
		h("Content-Type: message/global")
	case complete:
		h("Content-Type: message/rfc822")
	default:
		h("Content-Type: text/rfc822-headers")
	}
	h("Content-Description: Undelivered message")
	h("")
	b.Write(orig)
	if len(orig) > 0 && !bytes.HasSuffix(orig, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	h("")
	h("--%s--", boundary)
	return b.Bytes()
}

func isNullSender(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s == "<>"
}

// headerSafe keeps a value on one header line: control characters (CR, LF)
// are dropped so a stored address cannot add header fields.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

var (
	replyCode = &lazyre.Regexp{Expr: `^[245][0-9][0-9][ -]`}
	// An enhanced code stands alone, so digits inside an IP address
	// ("10.2.4.5") are not mistaken for one.
	enhancedCode = &lazyre.Regexp{Expr: `(?:^|[\s(])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:$|[\s;,:)])`}
)

// statusOf picks the RFC 3463 status for a reason: its own enhanced code if
// it has one (a 4.x.x becomes 5.x.x unless it is 4.4.7, the expiry code;
// the report says "failed" either way), else 5.0.0. diag is the reason when
// it starts with an SMTP reply code (RFC 3464 2.3.6 diagnostic-type smtp).
func statusOf(reason string) (status, diag string) {
	status = "5.0.0"
	if m := enhancedCode.Get().FindStringSubmatch(reason); m != nil {
		switch code := m[1] + "." + m[2] + "." + m[3]; {
		case m[1] == "5", code == "4.4.7":
			status = code
		case m[1] == "4":
			status = "5." + m[2] + "." + m[3]
		}
	}
	if replyCode.Get().MatchString(reason) {
		diag = reason
	}
	return status, diag
}

// headerSection returns b up to and including the blank line ending the
// header, or, without one, b up to its last complete line.
func headerSection(b []byte) []byte {
	n := 0
	for {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			return b[:n] // the rest is a cut line
		}
		line := b[n : n+i]
		n += i + 1
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return b[:n]
		}
	}
}

// crlf makes every line end in CRLF (RFC 5322 2.1): bare LF and bare CR
// become CRLF.
func crlf(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/32)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out.WriteString("\r\n")
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out.WriteString("\r\n")
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomBoundary returns a boundary that does not occur in body (RFC 2046
// 5.1.1).
func randomBoundary(body []byte) string {
	for {
		bd := "=_gsendmail_" + randomHex(12)
		if !bytes.Contains(body, []byte(bd)) {
			return bd
		}
	}
}
