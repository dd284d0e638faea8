package queue

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFormatListSaysEmptyQueueIsEmpty(t *testing.T) {
	var b bytes.Buffer
	FormatList(&b, nil, t0)
	if b.String() != "Mail queue is empty\n" {
		t.Fatalf("got %q", b.String())
	}
}

func TestFormatListShowsSenderRecipientsAttemptsAndLastError(t *testing.T) {
	entries := []Entry{
		{ID: "18ea0d5da831100b-9a13bd544ae5", Account: "work", From: "", To: []string{"root@example.org", `"odd name"@example.org`},
			Size: 2048, Created: t0.Add(-2*time.Hour - 5*time.Minute), Attempts: 3,
			LastError: "421 4.7.0 try later", NextAttempt: t0.Add(4 * time.Minute)},
		{ID: "18ea0d5da831100c-000000000000", From: "alice@example.org", To: []string{"bob@example.org"},
			Size: 10, Created: t0.Add(-30 * time.Second), NextAttempt: t0},
	}
	var b bytes.Buffer
	FormatList(&b, entries, t0)
	out := b.String()
	for _, want := range []string{
		"18ea0d5da831100b-9a13bd544ae5   2h05m      2048  <>\n",
		"    (account work, attempts 3, next try in 4m)\n",
		"    last error: 421 4.7.0 try later\n",
		"    -> root@example.org\n",
		"    -> \"odd name\"@example.org\n",
		"18ea0d5da831100c-000000000000     30s        10  alice@example.org\n",
		"    (attempts 0, due now)\n",
		"-- 2 messages, 2.0 KiB\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatListQuotesTerminalControlCharacters(t *testing.T) {
	e := Entry{ID: "18ea0d5da831100b-9a13bd544ae5", From: "a\x1b]0;pwned\x07@example.org", To: []string{"b\u202e@example.org"},
		Created: t0, LastError: "bad\x1b[2J"}
	var b bytes.Buffer
	FormatList(&b, []Entry{e}, t0)
	if strings.ContainsAny(b.String(), "\x1b\x07\u202e") {
		t.Fatalf("control characters reach the terminal: %q", b.String())
	}
	if !strings.Contains(b.String(), `"a\x1b]0;pwned\a@example.org"`) {
		t.Fatalf("sender not shown quoted: %q", b.String())
	}
}

func TestAgeIsCompact(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {59 * time.Second, "59s"}, {time.Minute, "1m"},
		{59*time.Minute + 59*time.Second, "59m"}, {time.Hour, "1h00m"}, {2*time.Hour + 5*time.Minute, "2h05m"},
		{24 * time.Hour, "1d0h"}, {5*24*time.Hour + 3*time.Hour, "5d3h"},
	}
	for _, tt := range tests {
		if got := Age(tt.d); got != tt.want {
			t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
