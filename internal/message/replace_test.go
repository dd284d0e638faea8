package message

import (
	"bytes"
	"strings"
	"testing"
)

func TestReplaceFieldRewritesTheFirstInPlaceAndDropsTheRest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Subject: s\r\nFrom: root (Cron Daemon)\r\nTo: root\r\n\r\nbody\r\n", "Subject: s\r\nFrom: \"Alice\" <a@example.org>\r\nTo: root\r\n\r\nbody\r\n"},
		{"from: x\nFROM: y\nTo: z\n\nb\n", "From: \"Alice\" <a@example.org>\nTo: z\n\nb\n"},
		{"To: z\n\nb\n", "To: z\nFrom: \"Alice\" <a@example.org>\n\nb\n"},
		{"From: x\n folded\nTo: z\n\nb\n", "From: \"Alice\" <a@example.org>\nTo: z\n\nb\n"},
	} {
		m, err := Read(strings.NewReader(tc.in), ReadOptions{IgnoreDots: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.ReplaceField("From", `"Alice" <a@example.org>`); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		m.WriteTo(&b)
		if b.String() != tc.want {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.in, b.String(), tc.want)
		}
		m.Close()
	}
}

func TestReplaceFieldRefusesHeaderInjection(t *testing.T) {
	m, _ := Read(strings.NewReader("To: z\n\nb\n"), ReadOptions{})
	defer m.Close()
	if err := m.ReplaceField("From", "a@b\nBcc: evil@x"); err == nil {
		t.Error("a value with a line break was accepted")
	}
}
