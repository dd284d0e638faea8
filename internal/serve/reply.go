package serve

import (
	"errors"
	"strconv"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// maxReplyText bounds the text of one reply line (RFC 5321 4.5.3.1.5 allows
// 512 octets with code and CRLF).
const maxReplyText = 400

// UpstreamAuthFailed is the reply when the upstream server refused our
// credentials: temporary, so the application retries after the
// administrator fixed the account (the log line says how).
var UpstreamAuthFailed = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
	Message: "upstream server refused this relay's credentials; the administrator must fix the account (see the gsendmail log); try again later"}

// DataReply maps a relay error at the end of data to the client's reply:
//   - the upstream server's own reply to MAIL, RCPT, DATA/BDAT or the end
//     of data, with its enhanced code and one line of its text;
//   - an upstream AUTH refusal or a refused OAuth2 grant: 454 4.7.0;
//   - network, TLS and token-endpoint trouble, and any other temporary
//     failure: 451 4.4.x or 4.3.x (the client keeps the message);
//   - a message we cannot send as it is: 554 5.6.0;
//   - a configuration problem: 451 4.3.5 (fixing it lets the mail through).
func DataReply(err error) *gosmtp.SMTPError {
	if err == nil {
		return nil
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	var ae *smtp.AuthError
	if errors.As(err, &ae) {
		return UpstreamAuthFailed
	}
	var ue *smtp.Error
	if errors.As(err, &ue) && passThrough(ue) {
		code := ue.Code
		if code == 421 {
			// 421 tells our client we are closing; we are not.
			code = 451
		}
		enh := parseEnhanced(ue.EnhancedCode, code)
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: "upstream: " + Sanitize(ue.Message)}
	}
	text := Sanitize(err.Error())
	switch outcome.Code(err) {
	case sysexits.TempFail:
		return reply(451, 4, 4, 1, text)
	case sysexits.Protocol:
		return reply(451, 4, 4, 0, text)
	case sysexits.NoPerm:
		return reply(454, 4, 7, 0, text)
	case sysexits.Config:
		return reply(451, 4, 3, 5, text) // RFC 3463 4.3.5: system incorrectly configured
	case sysexits.DataErr:
		return reply(554, 5, 6, 0, text) // RFC 3463 5.6.0: other media error
	case sysexits.NoUser:
		return reply(550, 5, 1, 1, text)
	case sysexits.Unavailable:
		return reply(554, 5, 0, 0, text)
	}
	return reply(451, 4, 3, 0, text)
}

// RcptReply maps a recipient (or MAIL) check's error to the reply; RFC
// 5321 4.3.2 allows 550-553 and 450-452 there.
func RcptReply(err error) *gosmtp.SMTPError {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	text := Sanitize(err.Error())
	switch outcome.Code(err) {
	case sysexits.NoUser:
		return reply(550, 5, 1, 1, text)
	case sysexits.DataErr, sysexits.Usage:
		return reply(553, 5, 1, 3, text) // bad destination mailbox address syntax
	case sysexits.Unavailable:
		return reply(550, 5, 0, 0, text)
	case sysexits.NoPerm:
		return reply(550, 5, 7, 1, text)
	case sysexits.Config:
		return reply(451, 4, 3, 5, text)
	}
	return reply(451, 4, 3, 0, text)
}

// policyReply is the MAIL reply for a PeerPolicy refusal (contract: 550
// 5.7.1, or 451 4.7.1 for a temporary refusal such as a rate limit).
func policyReply(err error) *gosmtp.SMTPError {
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return reply(451, 4, 7, 1, Sanitize(err.Error()))
	}
	return reply(550, 5, 7, 1, Sanitize(err.Error()))
}

// passThrough: upstream replies about the message itself go to the client
// as they are; replies to our own session steps (greeting, EHLO, STARTTLS,
// AUTH, RSET) are our problem, not the client's, and become 451.
func passThrough(e *smtp.Error) bool {
	if !e.Temporary() && !e.Permanent() {
		return false
	}
	switch e.Step() {
	case smtp.StepMAIL, smtp.StepRCPT, smtp.StepDATA, smtp.StepBDAT, smtp.StepEndOfData:
		return true
	}
	return false
}

func reply(code, a, b, c int, text string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{a, b, c}, Message: text}
}

// parseEnhanced reads "5.1.1"; a missing or malformed code becomes X.0.0
// of the reply's class (RFC 3463 3.1).
func parseEnhanced(s string, code int) gosmtp.EnhancedCode {
	class := code / 100
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		var e gosmtp.EnhancedCode
		ok := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 999 {
				ok = false
				break
			}
			e[i] = n
		}
		if ok && e[0] == class {
			return e
		}
	}
	return gosmtp.EnhancedCode{class, 0, 0}
}

// Sanitize makes text safe for one reply line: redact.OneLine (secrets
// out, unsafe characters spaces, white space folded), cut to maxReplyText
// bytes on a rune boundary.
func Sanitize(s string) string { return redact.Clip(redact.OneLine(s), maxReplyText) }
