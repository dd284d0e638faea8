package smtp

import (
	"fmt"
	"strings"
)

// HELORetryLimit is how many attempts a message gets, queued, while the
// server keeps refusing our EHLO name for now: Postfix's
// reject_unknown_helo_hostname answers 450 (its default code) when the
// name does not resolve, and that does not heal by waiting.
const HELORetryLimit = 3

// heloDeferred reports a temporary (4xx) refusal of our EHLO name:
// "450 4.7.1 <name>: Helo command rejected: Host not found", at EHLO or,
// with smtpd_delay_reject, at RCPT.
func (e *Error) heloDeferred() bool {
	if !e.Temporary() {
		return false
	}
	switch e.verb() {
	case "EHLO", "HELO":
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "helo") || strings.Contains(m, "ehlo")
}

func (e *Error) heloDeferredHint() string {
	name := e.helo
	if name == "" {
		name = "(unknown)"
	}
	return fmt.Sprintf("the server does not accept our EHLO name %q for now (it could not check the name in DNS): set ehlo_name in the account to this host's fully-qualified name that resolves in DNS; retrying alone will not help", name)
}

// RetryLimit is the number of attempts after which a queue should give up
// on a message that failed with e, or 0 for no limit of its own.
func (e *Error) RetryLimit() int {
	if e.heloDeferred() {
		return HELORetryLimit
	}
	return 0
}
