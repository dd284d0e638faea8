package smtp

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestA450RefusalOfTheEHLONameGetsTheEhloNameHint(t *testing.T) {
	for _, e := range []*Error{
		{Command: "RCPT TO:<a@example.org>", Code: 450, EnhancedCode: "4.7.1", Message: "<yoga.test.example>: Helo command rejected: Host not found", helo: "yoga.test.example"},
		{Command: "EHLO yoga.test.example", Code: 421, Message: "try later", helo: "yoga.test.example"},
	} {
		msg := e.Error()
		if !strings.Contains(msg, `EHLO name "yoga.test.example"`) || !strings.Contains(msg, "set ehlo_name") || strings.Contains(msg, "try again later") {
			t.Errorf("%d at %s: %q, want the ehlo_name hint instead of \"try again later\"", e.Code, e.Command, msg)
		}
		if e.ExitCode() != sysexits.TempFail || e.RetryLimit() != HELORetryLimit {
			t.Errorf("%d: exit %d, retry limit %d", e.Code, e.ExitCode(), e.RetryLimit())
		}
	}
	plain := &Error{Command: "RCPT TO:<a@example.org>", Code: 451, Message: "4.3.0 local error"}
	if !strings.Contains(plain.Error(), "try again later") || plain.RetryLimit() != 0 {
		t.Errorf("plain 451: %q, limit %d", plain.Error(), plain.RetryLimit())
	}
}
