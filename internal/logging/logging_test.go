package logging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogFileGetsOneLinePerRecordWithMsmtpFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "gsendmail.log")
	l := Logger{File: path}
	for i := 0; i < 2; i++ {
		err := l.Log(Record{Time: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Host: "smtp.example.org", TLS: "starttls",
			Auth: "PLAIN", User: "me", From: "me@example.org", Recipients: []string{"a@x", "b@y"}, Size: 42,
			SMTPStatus: "250 2.0.0 Ok: queued as X", ExitCode: 0})
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", data)
	}
	want := `2026-11-21T10:00:00Z host=smtp.example.org tls=starttls auth=PLAIN user=me from=me@example.org recipients=a@x,b@y mailsize=42 smtpstatus="250 2.0.0 Ok: queued as X" exitcode=0`
	if lines[0] != want {
		t.Fatalf("line\n got %s\nwant %s", lines[0], want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLogLineEscapesControlCharactersAndShowsNullSender(t *testing.T) {
	line := Record{From: "", Error: "bad\nthing", ExitCode: 69}.Line()
	if strings.Contains(line, "\n") || !strings.Contains(line, `from=<>`) || !strings.Contains(line, `error="bad\nthing"`) {
		t.Fatalf("unexpected line %q", line)
	}
}

func TestFacilityNames(t *testing.T) {
	for _, n := range []string{"LOG_MAIL", "mail", "local3", "LOG_USER"} {
		if _, err := Facility(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := Facility("LOG_BOGUS"); err == nil {
		t.Error("bogus facility accepted")
	}
}

// A field is quoted (and so escaped) whenever redact.IsPrintable says it
// is not plain text. The old check saw only C0 controls and DEL, so a
// bidi override, a C1 control or invalid UTF-8 went into the log raw.
func TestLogFieldWithInvisibleOrInvalidCharactersIsQuoted(t *testing.T) {
	for _, v := range []string{"evil\u202etxt", "a\u0085b", "zero\u200bwidth", "bad\xffutf8", "tab\there"} {
		got := quote(v)
		if !strings.HasPrefix(got, `"`) || strings.ContainsAny(got, "\u202e\u0085\u200b\t") || strings.Contains(got, "\xff") {
			t.Errorf("quote(%q) = %q, want it quoted with the character escaped", v, got)
		}
	}
	if got := quote("plain-ü"); got != "plain-ü" {
		t.Errorf("quote(plain-ü) = %q, want it as is", got)
	}
}
