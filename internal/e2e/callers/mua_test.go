package callers_test

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
)

// TestPHPMailReturnsTrueAndMessageArrives uses PHP's mail() with
// sendmail_path = "gsendmail -t -i" and an -f additional parameter, the
// way php.ini and frameworks configure it.
func TestPHPMailReturnsTrueAndMessageArrives(t *testing.T) {
	php := fixture.RequireProgram(t, "php", "php-cli")
	w := newWorld(t, "")
	script := `var_export(mail("` + user + `", "PHP subject", "line one\n.\nline three", "From: ` + user + `", "-f` + user + `"));`
	r := w.run("", w.environ(), w.dir, php, "-n", "-d", "sendmail_path="+w.bin+" -t -i", "-r", script)
	w.mustSucceed(r, "php")
	if r.Stdout != "true" {
		t.Fatalf("mail() returned %q, want true\nstderr: %s\ngsendmail log: %s", r.Stdout, r.Stderr, w.log())
	}
	d := w.wait(1)[0]
	if d.Sender != user || len(d.Recipients) != 1 || d.Recipients[0] != user {
		t.Errorf("envelope %q -> %q", d.Sender, d.Recipients)
	}
	h, b := split(t, d.Original())
	if got := header1(t, h, "Subject"); got != "PHP subject" {
		t.Errorf("Subject %q", got)
	}
	if got := header1(t, h, "To"); got != user {
		t.Errorf("To %q", got)
	}
	if string(b) != "line one\n.\nline three\n" {
		t.Errorf("body %q: the lone dot must not end the message (-i)", b)
	}
}

// checkBcc checks a message sent to to@ and Bcc bcc@: both are envelope
// recipients of the one delivery and no copy carries a Bcc: field.
func checkBcc(t *testing.T, w *world, subject string) {
	t.Helper()
	d := w.wait(1)[0]
	want := []string{"to@example.test", "bcc@example.net"}
	if !sameSet(d.Recipients, want) {
		t.Errorf("envelope recipients %q, want %q", d.Recipients, want)
	}
	h, b := split(t, d.Original())
	if v := headerValues(h, "Bcc"); len(v) != 0 {
		t.Errorf("Bcc: field delivered: %q\n%s", v, h)
	}
	if strings.Contains(string(h), "bcc@example.net") {
		t.Errorf("the Bcc address appears in the delivered header:\n%s", h)
	}
	if got := header1(t, h, "Subject"); got != subject {
		t.Errorf("Subject %q, want %q", got, subject)
	}
	if !strings.Contains(string(b), "hello from the MUA") {
		t.Errorf("body %q", b)
	}
}

// TestBSDMailxBccRecipientGetsMailWithoutBccHeader runs bsd-mailx, which
// pipes the message with its Bcc: field to "sendmail -i -t". bsd-mailx
// runs /usr/sbin/sendmail unless the "sendmail" variable is set, so a
// private MAILRC sets it: nothing system-wide is touched.
func TestBSDMailxBccRecipientGetsMailWithoutBccHeader(t *testing.T) {
	mailx := fixture.RequireProgram(t, "bsd-mailx", "bsd-mailx")
	w := newWorld(t, "")
	rc := w.file("mailrc", "set sendmail="+w.bin+"\n", 0o644)
	r := w.run("hello from the MUA\n", w.environ("MAILRC="+rc), w.dir, mailx,
		"-s", "mailx subject", "-b", "bcc@example.net", "to@example.test")
	w.mustSucceed(r, "bsd-mailx")
	checkBcc(t, w, "mailx subject")
}

// TestSNailPassesArgumentsAndDoubleDash runs s-nail with mta= and
// mta-arguments=: it calls "gsendmail -i -C FILE -f FROM -- to bcc" (the
// Bcc recipient only in argv), so "--" must end the options.
func TestSNailPassesArgumentsAndDoubleDash(t *testing.T) {
	snail := fixture.RequireProgram(t, "s-nail", "s-nail")
	w := newWorld(t, "")
	r := w.run("hello from the MUA\n", w.environ("MAILRC=/dev/null"), w.dir, snail,
		"-:/", "-Snosave", "-Ssendwait", "-Smta="+w.bin, "-Smta-arguments=-C "+w.cfg,
		"-r", user, "-s", "s-nail subject", "-b", "bcc@example.net", "-.", "to@example.test")
	w.mustSucceed(r, "s-nail")
	checkBcc(t, w, "s-nail subject")
	if d := w.wait(1)[0]; d.Sender != user {
		t.Errorf("envelope sender %q, want %q", d.Sender, user)
	}
}

// TestMuttSendmailVariableWithOptions runs mutt with set sendmail="BIN
// -C FILE": it passes "-- to bcc" after our options and leaves Bcc out of
// the message.
func TestMuttSendmailVariableWithOptions(t *testing.T) {
	mutt := fixture.RequireProgram(t, "mutt", "mutt")
	w := newWorld(t, "")
	r := w.run("hello from the MUA\n", w.environ(), w.dir, mutt,
		"-n", "-F", "/dev/null",
		"-e", `set sendmail="`+w.bin+` -C `+w.cfg+`"`,
		"-e", "set from="+user, "-e", "set use_from=yes",
		"-s", "mutt subject", "-b", "bcc@example.net", "--", "to@example.test")
	w.mustSucceed(r, "mutt")
	checkBcc(t, w, "mutt subject")
}
