package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func sample() *Report {
	r := &Report{Command: "doctor", Subject: `account "t"`}
	r.ok("config", "/x/config.toml (named with -C)")
	r.warn("settings", "tls_verify = false", "remove it")
	r.fail("auth", sysexits.NoPerm, "PLAIN refused: 535 5.7.8 bad\r\ninjected", "check the password")
	r.fail("envelope", sysexits.Config, "504 Helo command rejected", "set ehlo_name")
	r.Transcript = []Line{{1500 * time.Microsecond, "<- 220 hi"}, {12 * time.Millisecond, "-> AUTH PLAIN ***"}}
	return r
}

func TestReportExitCodeIsTheFirstErrorsCode(t *testing.T) {
	if got := sample().ExitCode(); got != sysexits.NoPerm {
		t.Errorf("ExitCode = %d, want 77 (the first error)", got)
	}
	r := &Report{}
	r.ok("a", "fine")
	r.warn("b", "meh", "do x")
	if got := r.ExitCode(); got != 0 {
		t.Errorf("warnings only: ExitCode = %d, want 0", got)
	}
	r.fail("c", 0, "no code given", "x")
	if got := r.ExitCode(); got != sysexits.Software {
		t.Errorf("an error without a code must not exit 0: got %d", got)
	}
}

func TestWriteTextAlignsShowsFixesAndSummary(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteText(&b, false, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`gsendmail doctor: account "t"`,
		"ok       config    /x/config.toml (named with -C)",
		"warning  settings  tls_verify = false",
		"                   fix: remove it",
		"error    auth      PLAIN refused: 535 5.7.8 bad injected", // CR LF: one space (redact.OneLine)
		"                   fix: check the password",
		"error    envelope  504 Helo command rejected",
		"                   fix: set ehlo_name",
		"summary: 1 ok, 1 warning, 2 errors (exit 77)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "transcript") {
		t.Error("colour or transcript without being asked")
	}
	b.Reset()
	sample().WriteText(&b, true, true)
	if !strings.Contains(b.String(), ansiRed+"error  "+ansiReset) || !strings.Contains(b.String(), "-> AUTH PLAIN ***") {
		t.Errorf("colour and transcript asked for:\n%q", b.String())
	}
}

func TestUseColorOnlyOnATerminalWithoutNO_COLOR(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NO_COLOR" {
				return v
			}
			return ""
		}
	}
	if UseColor(&bytes.Buffer{}, env("")) {
		t.Error("colour on a buffer")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if UseColor(f, env("")) {
		t.Error("colour on a regular file")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !UseColor(tty, env("")) {
			t.Error("no colour on a terminal")
		}
		if UseColor(tty, env("1")) {
			t.Error("colour despite NO_COLOR")
		}
	}
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		defer null.Close()
		// /dev/null is a character device too; NO_COLOR must still win.
		if UseColor(null, env("1")) {
			t.Error("colour despite NO_COLOR")
		}
	}
}

func TestWriteJSONCarriesChecksTranscriptSummaryAndExitCode(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Command string
		Subject string
		Checks  []struct {
			Step, Status, Message, Fix string
			ExitCode                   int `json:"exit_code"`
		}
		Transcript []struct {
			ElapsedMS float64 `json:"elapsed_ms"`
			Line      string
		}
		Summary struct{ OK, Warnings, Errors int }
		Code    int `json:"exit_code"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Command != "doctor" || len(got.Checks) != 4 || got.Code != 77 ||
		got.Summary.OK != 1 || got.Summary.Warnings != 1 || got.Summary.Errors != 2 {
		t.Fatalf("decoded %+v", got)
	}
	if c := got.Checks[2]; c.Step != "auth" || c.Status != "error" || c.ExitCode != 77 || c.Fix != "check the password" {
		t.Errorf("auth check %+v", c)
	}
	if got.Checks[0].ExitCode != 0 || got.Transcript[0].ElapsedMS != 1.5 || got.Transcript[1].Line != "-> AUTH PLAIN ***" {
		t.Errorf("decoded %+v", got)
	}
}

func TestParseTargetSettlesPortAndTLSMode(t *testing.T) {
	for _, tc := range []struct {
		in       string
		mode     smtp.TLSMode
		set      bool
		host     string
		port     int
		wantMode smtp.TLSMode
		bad      bool
	}{
		{in: "smtp.example.com", host: "smtp.example.com", port: 587, wantMode: smtp.StartTLS},
		{in: "smtp.example.com", mode: smtp.Implicit, set: true, host: "smtp.example.com", port: 465, wantMode: smtp.Implicit},
		{in: "smtp.example.com:465", host: "smtp.example.com", port: 465, wantMode: smtp.Implicit},
		{in: "smtp.example.com:25", host: "smtp.example.com", port: 25, wantMode: smtp.StartTLS},
		{in: "smtp.example.com:2465", mode: smtp.Implicit, set: true, host: "smtp.example.com", port: 2465, wantMode: smtp.Implicit},
		{in: "[2001:db8::1]:587", host: "2001:db8::1", port: 587, wantMode: smtp.StartTLS},
		{in: "[2001:db8::1]", host: "2001:db8::1", port: 587, wantMode: smtp.StartTLS},
		{in: "", bad: true},
		{in: "host:0", bad: true},
		{in: "host:70000", bad: true},
		{in: "host:smtp", bad: true},
		{in: "user@host", bad: true},
		{in: ":587", bad: true},
	} {
		h, p, m, err := parseTarget(tc.in, tc.mode, tc.set)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %s:%d", tc.in, h, p)
			}
			continue
		}
		if err != nil || h != tc.host || p != tc.port || m != tc.wantMode {
			t.Errorf("%q: %q %d %v %v; want %q %d %v", tc.in, h, p, m, err, tc.host, tc.port, tc.wantMode)
		}
	}
}

func TestSettingsWarnOnRiskyChoicesWithFixes(t *testing.T) {
	base := func() *config.Account {
		return &config.Account{Name: "t", Host: "smtp.example.com", Port: 587, TLS: smtp.StartTLS, TLSVerify: true, User: "u@example.com", PasswordCommand: "pass show x"}
	}
	for _, tc := range []struct {
		name   string
		mutate func(a *config.Account)
		status Status
		words  string
	}{
		{"clean", func(a *config.Account) {}, OK, "no risky settings"},
		{"tls_verify false", func(a *config.Account) { a.TLSVerify = false }, Warning, "tls_verify = false"},
		{"tls_verify false but pinned", func(a *config.Account) { a.TLSVerify = false; a.TLSFingerprint = "ab" }, OK, "no risky"},
		{"inline password", func(a *config.Account) { a.PasswordCommand = ""; a.Password = "x" }, Warning, "password is written"},
		{"tls none to a remote host with auth", func(a *config.Account) { a.TLS = smtp.None }, Error, "clear text"},
		{"tls none to a remote relay without auth", func(a *config.Account) { a.TLS = smtp.None; a.PasswordCommand = ""; a.Auth = "none" }, Warning, "clear text"},
		{"tls none to loopback", func(a *config.Account) { a.TLS = smtp.None; a.Host = "127.0.0.1" }, OK, "no risky"},
	} {
		a := base()
		tc.mutate(a)
		r := &Report{}
		r.settings(a)
		c := r.Checks[0]
		if c.Status != tc.status || !strings.Contains(c.Message, tc.words) || (c.Status != OK && c.Fix == "") {
			t.Errorf("%s: %+v; want %s mentioning %q", tc.name, c, tc.status, tc.words)
		}
		if strings.Contains(c.Message+c.Fix, "pass show x") || (a.Password != "" && strings.Contains(c.Message+c.Fix, a.Password+" ")) {
			t.Errorf("%s: a secret or command leaked: %+v", tc.name, c)
		}
	}
}

func TestDoctorStopsAtAConfigErrorWithItsCode(t *testing.T) {
	r := Doctor(context.Background(), Options{ConfigPath: "/nope.toml", ConfigErr: sysexits.New(sysexits.Config, errors.New("/nope.toml:3: unknown key \"hots\" (did you mean \"host\"?)"))})
	if len(r.Checks) != 1 || r.Checks[0].Step != "config" || r.ExitCode() != sysexits.Config || !strings.Contains(r.Checks[0].Message, "hots") {
		t.Fatalf("%+v", r.Checks)
	}
}
