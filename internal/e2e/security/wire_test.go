package security

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// secretForms are the password and every encoding of it an AUTH exchange
// would put on the wire.
func secretForms() []string {
	return []string{
		sentPass,
		base64.StdEncoding.EncodeToString([]byte(sentPass)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + sentUser + "\x00" + sentPass)),
	}
}

// Promise 1: a STARTTLS account never sends AUTH or the message when TLS
// does not come up, whatever the server (or a man in the middle) does.
func TestStartTLSAccountSendsNoCredentialsOrMailWithoutTLS(t *testing.T) {
	for _, tc := range []struct {
		name, starttls, tls, phrase string
		code                        int
	}{
		{"starttls-not-offered", "", "starttls", "STARTTLS", 76},
		// RFC 3207 4: 454 is temporary, so the message is retried later
		// (75); what matters here is that nothing was sent in clear.
		{"starttls-refused-454", "refuse", "starttls", "454", 75},
		{"starttls-refused-5xx", "refuse5", "starttls", "502", 76},
		{"starttls-handshake-garbage", "garbage", "starttls", "TLS", 76},
		{"implicit-tls-to-plain-server", "", "tls", "TLS", 76},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = tc.starttls
			r := run(t, runOpts{cfg: writeFile(t, "c.toml", fakeConfig(f, tc.tls, ""), 0o600)}, "someone@example.org")
			if r.Code != tc.code {
				t.Fatalf("want exit %d:\n%s", tc.code, r)
			}
			oneLine(t, r)
			if !strings.Contains(r.Stderr, tc.phrase) {
				t.Errorf("stderr does not say what failed (%q): %q", tc.phrase, r.Stderr)
			}
			got := f.received()
			if f.connections() == 0 {
				t.Fatal("no connection was made; the test does not exercise the wire")
			}
			for _, bad := range append(secretForms(), "AUTH", "MAIL FROM", "Subject: x") {
				if strings.Contains(got, bad) {
					t.Fatalf("server received %q before TLS:\n%q", bad, got)
				}
			}
		})
	}
}

// Promise 1: credentials go out unencrypted only for an explicit loopback
// tls = "none" account; the config refuses every other combination before
// any connection is made.
func TestCleartextAuthOnlyForExplicitLoopbackNoneAccount(t *testing.T) {
	for _, tc := range []struct {
		name, host, extra string
		code              int
	}{
		{"none-without-allow", "127.0.0.1", "", 78},
		{"none-allow-but-remote-host", "mail.example.org", "allow_cleartext_auth = true", 78},
		{"none-allow-loopback", "127.0.0.1", "allow_cleartext_auth = true", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			cfg := strings.Replace(fakeConfig(f, "none", tc.extra), `host = "127.0.0.1"`, fmt.Sprintf("host = %q", tc.host), 1)
			r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600)}, "someone@example.org")
			if r.Code != tc.code {
				t.Fatalf("want exit %d:\n%s", tc.code, r)
			}
			if tc.code != 0 {
				oneLine(t, r)
				if f.connections() != 0 {
					t.Fatalf("config was refused but a connection was made; received %q", f.received())
				}
				if !strings.Contains(r.Stderr, "tls") {
					t.Errorf("error does not point at the tls setting: %q", r.Stderr)
				}
				return
			}
			// The explicit loopback escape hatch works (and the recorder sees AUTH).
			if !strings.Contains(f.received(), "AUTH PLAIN") {
				t.Fatalf("loopback cleartext account did not authenticate: %q", f.received())
			}
		})
	}
}

// Promise 3 (CVE-2011-0411 class): bytes sent after "220 ready" but before
// the TLS handshake abort the session; they are never read as replies.
func TestSTARTTLSResponseInjectionAbortsBeforeAuth(t *testing.T) {
	f := newFake(t)
	f.starttls = "inject"
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)}, "someone@example.org")
	if r.Code != 76 {
		t.Fatalf("want exit 76:\n%s", r)
	}
	oneLine(t, r)
	if !strings.Contains(r.Stderr, "unexpected bytes after its STARTTLS reply") {
		t.Errorf("stderr does not name the injection: %q", r.Stderr)
	}
	if strings.Contains(f.received(), "AUTH") {
		t.Fatalf("client authenticated after an injected reply: %q", f.received())
	}
}

// Control for the injection test: the same server without the injected
// bytes completes STARTTLS and delivers, so the refusal above is caused by
// the injection alone.
func TestSTARTTLSWithoutInjectionDelivers(t *testing.T) {
	f := newFake(t)
	f.starttls = "ok"
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", fakeConfig(f, "starttls", ""), 0o600)}, "someone@example.org")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	if !strings.Contains(f.delivered(), "body") {
		t.Fatalf("message not delivered: %q", f.delivered())
	}
}

// Promise 7: a server that trickles its greeting one byte per second, or
// sends an endless multi-line reply, is given up on in bounded time with a
// clear error and bounded memory.
func TestHostileServerPacingIsBoundedByTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(f *fake)
		code int
	}{
		{"trickled-greeting", func(f *fake) {
			f.greet = func(w io.Writer) {
				for i := 0; i < 120; i++ {
					if _, err := io.WriteString(w, "2"); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}
		}, 75},
		{"endless-multiline-ehlo", func(f *fake) {
			f.afterEHLO = func(w io.Writer) bool {
				line := []byte("250-" + strings.Repeat("x", 70) + "\r\n")
				buf := []byte(strings.Repeat(string(line), 512))
				for i := 0; i < 1<<16; i++ {
					if _, err := w.Write(buf); err != nil {
						return true
					}
				}
				return true
			}
		}, 76},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.starttls = "ok"
			tc.set(f)
			cfg := strings.Replace(fakeConfig(f, "tls", ""), `timeout = "5s"`, `timeout = "2s"`+"\ndeadline = \"10s\"", 1)
			cfg = strings.Replace(cfg, `tls = "tls"`, `tls = "none"`, 1)
			cfg = strings.Replace(cfg, "password = ", "# password = ", 1)
			r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600), kill: 60 * time.Second}, "someone@example.org")
			if r.Code != tc.code {
				t.Fatalf("want exit %d:\n%s", tc.code, r)
			}
			oneLine(t, r)
			if r.maxRSSKB > 64*1024 {
				t.Errorf("peak RSS %d KB: memory is not bounded", r.maxRSSKB)
			}
			t.Logf("exit %d after %v, peak RSS %d KB: %s", r.Code, r.elapsed.Round(time.Millisecond), r.maxRSSKB, strings.TrimSpace(r.Stderr))
		})
	}
}
