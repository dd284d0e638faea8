package security

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Promise 6: CR, LF or NUL in -f, -F, recipients, aliases or config values
// is refused before anything is sent, and never turns into extra SMTP
// commands or header fields.
func TestInjectedLineBreaksAreRejectedAndNothingIsSent(t *testing.T) {
	evil := "x@example.org>\r\nRCPT TO:<victim@example.org"
	for _, tc := range []struct {
		name    string
		extra   string // config lines
		aliases string // aliases file content
		stdin   string
		args    []string
		codes   []int
	}{
		{name: "f-flag-crlf", args: []string{"-f", evil, "someone@example.org"}, codes: []int{64, 65}},
		{name: "f-flag-lf", args: []string{"-f", "a@example.org\nBcc: victim@example.org", "someone@example.org"}, codes: []int{64, 65}},
		{name: "F-flag-crlf", args: []string{"-F", "Name\r\nBcc: victim@example.org", "someone@example.org"}, codes: []int{64, 65}},
		{name: "recipient-crlf", args: []string{evil}, codes: []int{64, 65}},
		{name: "recipient-cr", args: []string{"someone@example.org\rDATA"}, codes: []int{64, 65}},
		{name: "t-header-nul", stdin: "To: a@example.org\x00\r\nRCPT TO:<victim@example.org>\nSubject: x\n\nbody\n", args: []string{"-t"}, codes: []int{65}},
		{name: "alias-value-cr", aliases: "team: a@example.org\rRCPT TO:<victim@example.org>\n", args: []string{"team"}, codes: []int{64, 65, 78}},
		{name: "alias-value-nul", aliases: "team: a@example.org\x00victim@example.org\n", args: []string{"team"}, codes: []int{64, 65, 78}},
		{name: "config-from-crlf", extra: "allow_from_override = false\n", args: []string{"someone@example.org"}, codes: []int{78}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			cfg := fakeConfig(f, "starttls", tc.extra)
			if tc.name == "config-from-crlf" {
				cfg = strings.Replace(cfg, fmt.Sprintf("from = %q", sentUser), `from = "a@example.org\r\nRCPT TO:<victim@example.org>"`, 1)
			}
			if tc.aliases != "" {
				p := filepath.Join(t.TempDir(), "aliases")
				os.WriteFile(p, []byte(tc.aliases), 0o600)
				cfg += fmt.Sprintf("aliases = %q\n", p)
			}
			o := runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600)}
			if tc.stdin != "" {
				o.stdin = strings.NewReader(tc.stdin)
			}
			r := run(t, o, tc.args...)
			ok := false
			for _, c := range tc.codes {
				ok = ok || r.Code == c
			}
			if !ok {
				t.Fatalf("want exit in %v:\n%s\nserver received %q", tc.codes, r, f.received())
			}
			oneLine(t, r)
			got := f.received()
			if strings.Contains(got, "MAIL FROM") || strings.Contains(got, "victim") {
				t.Fatalf("server received a transaction:\n%q", got)
			}
		})
	}
}

// Control: the same inputs without the line breaks are delivered, so the
// refusals above are about the injection and not the harness.
func TestCleanInputsOfTheInjectionCasesAreDelivered(t *testing.T) {
	f := newFake(t)
	f.starttls = "ok"
	p := filepath.Join(t.TempDir(), "aliases")
	os.WriteFile(p, []byte("team: a@example.org\n"), 0o600)
	cfg := fakeConfig(f, "starttls", fmt.Sprintf("aliases = %q\nallow_from_override = true\n", p))
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600)}, "-f", sentUser, "-F", "Name", "team", "\"john doe\"@example.org")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	got := f.received()
	for _, want := range []string{"RCPT TO:<a@example.org>", `RCPT TO:<"john doe"@example.org>`} {
		if !strings.Contains(got, want) {
			t.Errorf("server did not receive %q:\n%q", want, got)
		}
	}
}

// Promise 6: a UTF-8 address needs SMTPUTF8; a server without it gets no
// transaction and the caller gets 65; a server with it gets SMTPUTF8 on
// MAIL FROM.
func TestUTF8AddressNeedsSMTPUTF8(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  []string
		code int
	}{
		{"without-smtputf8", nil, 65},
		{"with-smtputf8", []string{"SMTPUTF8"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			f.ext = tc.ext
			r := run(t, runOpts{cfg: writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)}, "jürgen@bücher.example")
			if r.Code != tc.code {
				t.Fatalf("want exit %d:\n%s\nreceived %q", tc.code, r, f.received())
			}
			got := f.received()
			if tc.code != 0 {
				oneLine(t, r)
				if strings.Contains(got, "RCPT TO") {
					t.Fatalf("UTF-8 recipient sent to a server without SMTPUTF8: %q", got)
				}
				return
			}
			if !strings.Contains(got, "SMTPUTF8") || !strings.Contains(got, "RCPT TO:<jürgen@bücher.example>") {
				t.Fatalf("want MAIL FROM with SMTPUTF8 and the UTF-8 RCPT:\n%q", got)
			}
		})
	}
}

// genReader produces n bytes of a message without holding it in memory.
type genReader struct {
	head []byte
	n    int64
	line []byte
	off  int
}

func (g *genReader) Read(p []byte) (int, error) {
	if len(g.head) > 0 {
		k := copy(p, g.head)
		g.head = g.head[k:]
		return k, nil
	}
	if g.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && g.n > 0 {
		c := copy(p[k:], g.line[g.off:])
		if int64(c) > g.n {
			c = int(g.n)
		}
		k += c
		g.n -= int64(c)
		g.off = (g.off + c) % len(g.line)
	}
	return k, nil
}

// Promise 7: huge messages, huge header lines and huge recipient lists are
// handled with bounded memory and a clear result.
func TestHugeInputsUseBoundedMemory(t *testing.T) {
	big := int64(1 << 30)
	if testing.Short() {
		big = 64 << 20
	}
	manyTo := func(n int) string {
		var b bytes.Buffer
		b.WriteString("Subject: many\nTo: ")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",\n ")
			}
			fmt.Fprintf(&b, "r%d@example.org", i)
		}
		b.WriteString("\n\nbody\n")
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		ext   []string
		stdin func() io.Reader
		args  []string
		codes []int
		rcpts int
		maxKB int64 // peak RSS bound; 32 MB when zero
	}{
		{name: "1GB-message-over-server-SIZE", ext: []string{"SIZE 10485760"}, args: []string{"someone@example.org"}, codes: []int{65, 69},
			stdin: func() io.Reader {
				return &genReader{head: []byte("Subject: big\n\n"), n: big, line: []byte(strings.Repeat("y", 76) + "\n")}
			}},
		{name: "10MB-header-line", args: []string{"someone@example.org"}, codes: []int{65},
			stdin: func() io.Reader {
				return &genReader{head: []byte("Subject: "), n: 10 << 20, line: []byte("z")}
			}},
		// 100,000 addresses make a header section over the 1 MiB bound: a
		// clear 65, not unbounded memory.
		{name: "100000-recipients-via-t", args: []string{"-t"}, codes: []int{65},
			stdin: func() io.Reader { return strings.NewReader(manyTo(100000)) }},
		{name: "30000-recipients-via-t", args: []string{"-t"}, codes: []int{0}, rcpts: 30000,
			stdin: func() io.Reader { return strings.NewReader(manyTo(30000)) }},
		// argv is capped by ARG_MAX (about 2 MB), which bounds this case;
		// each recipient costs a few hundred bytes of bookkeeping.
		{name: "60000-recipients-in-argv", args: manyArgs(60000), codes: []int{0}, rcpts: 60000, maxKB: 48 * 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			f.discard = true
			f.ext = tc.ext
			o := runOpts{cfg: writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600), kill: 5 * 60e9, env: []string{"TMPDIR=" + t.TempDir()}}
			if tc.stdin != nil {
				o.stdin = tc.stdin()
			}
			r := run(t, o, tc.args...)
			ok := false
			for _, c := range tc.codes {
				ok = ok || r.Code == c
			}
			if !ok {
				t.Fatalf("want exit in %v:\n%s", tc.codes, r)
			}
			if r.Code != 0 {
				oneLine(t, r)
			}
			if tc.rcpts != 0 && f.rcptCount() != tc.rcpts {
				t.Errorf("server got %d RCPT, want %d", f.rcptCount(), tc.rcpts)
			}
			if tc.maxKB == 0 {
				tc.maxKB = 32 * 1024
			}
			if r.maxRSSKB > tc.maxKB {
				t.Errorf("peak RSS %d KB: memory is not bounded", r.maxRSSKB)
			}
			t.Logf("exit %d after %v, peak RSS %d KB: %s", r.Code, r.elapsed.Round(1e6), r.maxRSSKB, strings.TrimSpace(r.Stderr))
		})
	}
}

func manyArgs(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = fmt.Sprintf("r%d@example.org", i)
	}
	return a
}
