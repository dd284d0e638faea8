package smtp

import (
	"strings"
	"testing"
)

func TestSenderRefusedAtRcptHintsAtTheSenderNotTheRecipient(t *testing.T) {
	for _, e := range []*Error{
		{Command: "RCPT TO:<a@example.org>", Code: 504, EnhancedCode: "5.5.2", Message: "<root>: Sender address rejected: need fully-qualified address"},
		{Command: "RCPT TO:<a@example.org>", Code: 553, EnhancedCode: "5.1.8", Message: "sender domain unknown"},
	} {
		if msg := e.Error(); !strings.Contains(msg, "envelope sender") || strings.Contains(msg, "check the recipient") {
			t.Errorf("%q: want a sender hint", msg)
		}
	}
	r := &Error{Command: "RCPT TO:<a@example.org>", Code: 550, EnhancedCode: "5.1.1", Message: "user unknown"}
	if !strings.Contains(r.Error(), "check the recipient") {
		t.Errorf("%q: want the recipient hint", r.Error())
	}
}
