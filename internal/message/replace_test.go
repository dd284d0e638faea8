package message

import (
	"bytes"
	"strings"
	"testing"
)

func TestReplaceSetsOneFieldAndKeepsTheRest(t *testing.T) {
	m, err := Read(strings.NewReader("From: a@x.example\nTo: b@y.example\nfrom: c@z.example\n continued\n\nbody\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Replace("From", "Policy <p@x.example>"); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	m.WriteTo(&b)
	if got := b.String(); got != "To: b@y.example\r\nFrom: Policy <p@x.example>\r\n\r\nbody\r\n" && got != "To: b@y.example\nFrom: Policy <p@x.example>\n\nbody\n" {
		t.Errorf("after Replace: %q", got)
	}
	if err := m.Replace("From", "x\r\nBcc: injected@evil.example"); err == nil {
		t.Errorf("Replace accepted a value with a line break")
	}
}
