package callers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSMTPOnStdioDeliversTwoMessagesAndRefusesUnroutableRecipient drives
// "gsendmail -bs" (Symfony Mailer's sendmail transport) with a scripted,
// pipelined SMTP dialogue: two messages in one session, the first with a
// bare local name that has no alias, refused at RCPT with 550 5.1.1 while
// its other recipient still gets the message.
func TestSMTPOnStdioDeliversTwoMessagesAndRefusesUnroutableRecipient(t *testing.T) {
	w := newWorld(t, "")
	dialogue := "EHLO app.example\r\n" +
		"MAIL FROM:<" + user + "> BODY=8BITMIME\r\n" +
		"RCPT TO:<nobody>\r\n" +
		"RCPT TO:<first@example.test>\r\n" +
		"DATA\r\n" +
		"From: " + user + "\r\n" +
		"To: first@example.test\r\n" +
		"Subject: first\r\n" +
		"\r\n" +
		"..a stuffed dot\r\n" +
		"grüße\r\n" +
		".\r\n" +
		"RSET\r\n" +
		"MAIL FROM:<" + user + ">\r\n" +
		"RCPT TO:<second@example.test>\r\n" +
		"RCPT TO:<third@example.test>\r\n" +
		"DATA\r\n" +
		"From: " + user + "\r\n" +
		"Subject: second\r\n" +
		"\r\n" +
		"body two\r\n" +
		".\r\n" +
		"QUIT\r\n"
	r := w.run(dialogue, w.environ(), w.dir, w.bin, "-bs")
	w.mustSucceed(r, "gsendmail -bs")
	if r.Stderr != "" {
		t.Errorf("stderr %q, want nothing", r.Stderr)
	}
	replies := strings.Split(strings.TrimSuffix(r.Stdout, "\r\n"), "\r\n")
	var finals []string
	for _, l := range replies {
		if len(l) < 4 {
			t.Fatalf("short reply line %q in\n%s", l, r.Stdout)
		}
		if l[3] == ' ' {
			finals = append(finals, l)
		}
	}
	wantPrefixes := []string{
		"220 ", // greeting
		"250 ", // EHLO
		"250 2.1.0",
		"550 5.1.1", // nobody
		"250 2.1.5",
		"354 ",
		"250 2.0.0",
		"250 2.0.0", // RSET
		"250 2.1.0",
		"250 2.1.5",
		"250 2.1.5",
		"354 ",
		"250 2.0.0",
		"221 2.0.0",
	}
	if len(finals) != len(wantPrefixes) {
		t.Fatalf("%d replies, want %d:\n%s", len(finals), len(wantPrefixes), r.Stdout)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(finals[i], p) {
			t.Errorf("reply %d = %q, want %q...", i, finals[i], p)
		}
	}
	if !strings.Contains(finals[3], "nobody") || !strings.Contains(finals[3], "aliases") {
		t.Errorf("refusal %q does not say which recipient and how to fix it", finals[3])
	}

	ds := w.wait(2)
	bySubject := map[string][]string{}
	bodies := map[string]string{}
	for _, d := range ds {
		if d.Sender != user {
			t.Errorf("envelope sender %q", d.Sender)
		}
		h, b := split(t, d.Original())
		s := header1(t, h, "Subject")
		bySubject[s] = d.Recipients
		bodies[s] = string(b)
	}
	if got := bySubject["first"]; !sameSet(got, []string{"first@example.test"}) {
		t.Errorf("first message recipients %q", got)
	}
	if got := bySubject["second"]; !sameSet(got, []string{"second@example.test", "third@example.test"}) {
		t.Errorf("second message recipients %q", got)
	}
	if bodies["first"] != ".a stuffed dot\ngrüße\n" {
		t.Errorf("first body %q", bodies["first"])
	}
	if bodies["second"] != "body two\n" {
		t.Errorf("second body %q", bodies["second"])
	}
}

// TestSMTPOnStdioReportsConfigErrorAsTemporaryReply checks that a broken
// configuration does not kill the dialogue: the caller gets a 451 4.3.5
// naming the problem, so it keeps the message, and QUIT still works.
func TestSMTPOnStdioReportsConfigErrorAsTemporaryReply(t *testing.T) {
	w := newWorld(t, "")
	bad := w.file("bad.toml", "default_account = \"t\"\n[account.t]\nhost = \"localhost\"\nport = \"not a port\"\n", 0o600)
	dialogue := "EHLO app.example\r\nMAIL FROM:<" + user + ">\r\nRCPT TO:<a@example.test>\r\nQUIT\r\n"
	r := w.run(dialogue, w.environ("GSENDMAIL_CONFIG="+bad), w.dir, w.bin, "-bs")
	w.mustSucceed(r, "gsendmail -bs")
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\r\n"), "\r\n")
	var rcpt string
	for _, l := range lines {
		if strings.HasPrefix(l, "451 ") {
			rcpt = l
		}
	}
	if !strings.HasPrefix(rcpt, "451 4.3.5 ") || !strings.Contains(rcpt, "bad.toml") {
		t.Errorf("RCPT reply %q, want 451 4.3.5 naming the config file\n%s", rcpt, r.Stdout)
	}
	if !strings.HasPrefix(lines[len(lines)-1], "221 ") {
		t.Errorf("session did not end with 221: %q", lines[len(lines)-1])
	}
	if n := len(w.srv.Deliveries()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

// TestSendmailMailqNewaliasesByName installs the binary under the names
// callers use, in a private PATH directory: "sendmail" sends, "mailq"
// lists the (empty) queue, "newaliases" succeeds silently (aliases are
// read at send time; there is no database to rebuild).
func TestSendmailMailqNewaliasesByName(t *testing.T) {
	w := newWorld(t, "")
	bin := filepath.Join(w.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sendmail", "mailq", "newaliases"} {
		if err := os.Symlink(w.bin, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := w.environ("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))
	sh := func(w *world, cmd, stdin string) result {
		w.t.Helper()
		return w.run(stdin, env, w.dir, "/bin/sh", "-c", cmd)
	}

	t.Run("sendmail -t", func(t *testing.T) {
		w := w.with(t)
		r := sh(w, "sendmail -t", "To: someone@example.test\nSubject: by name\n\nhello\n")
		w.mustSucceed(r, "sendmail -t")
		if r.Stdout != "" || r.Stderr != "" {
			t.Errorf("output on success: %q %q", r.Stdout, r.Stderr)
		}
		d := w.wait(1)[0]
		if len(d.Recipients) != 1 || d.Recipients[0] != "someone@example.test" {
			t.Errorf("recipients %q", d.Recipients)
		}
		h, _ := split(t, d.Original())
		if got := header1(t, h, "Subject"); got != "by name" {
			t.Errorf("Subject %q", got)
		}
	})
	t.Run("mailq", func(t *testing.T) {
		w := w.with(t)
		r := sh(w, "mailq", "")
		w.mustSucceed(r, "mailq")
		if strings.TrimSpace(r.Stdout) == "" {
			t.Errorf("mailq printed nothing; want the queue or that it is empty")
		}
		if !strings.Contains(strings.ToLower(r.Stdout), "empty") {
			t.Errorf("mailq output %q does not say the queue is empty", r.Stdout)
		}
		if r.Stderr != "" {
			t.Errorf("stderr %q", r.Stderr)
		}
	})
	t.Run("newaliases", func(t *testing.T) {
		w := w.with(t)
		r := sh(w, "newaliases", "")
		w.mustSucceed(r, "newaliases")
		if r.Stdout != "" || r.Stderr != "" {
			t.Errorf("newaliases printed %q %q, want nothing", r.Stdout, r.Stderr)
		}
	})
}
