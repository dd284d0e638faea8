package serve_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/gsendmail/gsendmail/internal/app"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

const plainBody = "From: App <app@example.org>\nTo: bob@example.net\nBcc: hidden@example.net\nSubject: hi\n\nbody line\n..dot line\n"

func TestServeRelaysWithSaneEHLOAndRepliesAfterUpstreamAccepted(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	ehlo := c.cmd("EHLO yoga", "250")
	_ = ehlo
	if got := c.mail("app@example.org", []string{"bob@example.net", "hidden@example.net"}, plainBody); got != "250 2.0.0 upstream: OK: queued" {
		t.Fatalf("end of data: %q, want the upstream's reply\n%s", got, d.stderr)
	}
	// 250 came after the upstream stored it: no waiting here.
	ms := u.messages()
	if len(ms) != 1 {
		t.Fatalf("upstream has %d messages at the time of the 250", len(ms))
	}
	m := ms[0]
	if m.Helo != "relay.example.org" {
		t.Errorf("upstream saw EHLO %q, want the account's ehlo_name, not the client's \"yoga\"", m.Helo)
	}
	if m.From != "app@example.org" || strings.Join(m.To, ",") != "bob@example.net,hidden@example.net" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if strings.Contains(m.Data, "Bcc:") || strings.Contains(m.Data, "hidden@") {
		t.Errorf("Bcc reached the provider:\n%s", m.Data)
	}
	for _, h := range []string{"Date: ", "Message-ID: "} {
		if !strings.Contains(m.Data, "\r\n"+h) {
			t.Errorf("missing %s header was not added:\n%s", h, m.Data)
		}
	}
	if !strings.Contains(m.Data, "\r\n\r\nbody line\r\n.dot line\r\n") || !strings.HasPrefix(m.Data, "From: App <app@example.org>\r\n") {
		t.Errorf("message rewritten beyond the rules:\n%q", m.Data)
	}
	if !strings.Contains(d.stderr.String(), "client=127.0.0.1:") || !strings.Contains(d.stderr.String(), "account=up") {
		t.Errorf("no per-message log line with client and account:\n%s", d.stderr)
	}
}

func TestServeKeepsDateAndMessageIDTheApplicationSet(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	body := "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <own@app.example>\nFrom: app@example.org\n\nx\n"
	c.mail("app@example.org", []string{"bob@example.net"}, body)
	m := u.waitMessages(t, 1, 5*time.Second)[0]
	if strings.Count(m.Data, "Date:") != 1 || strings.Count(m.Data, "Message-ID:") != 1 || !strings.Contains(m.Data, "<own@app.example>") {
		t.Errorf("headers the application set were changed or duplicated:\n%s", m.Data)
	}
}

func TestServePassesUpstreamRefusalsThroughWithEnhancedCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(u *upstream)
		want string
	}{
		{"data 5xx", func(u *upstream) {
			u.dataErr = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "spam detected"}
		}, "554 5.7.1 upstream: spam detected"},
		{"data 4xx", func(u *upstream) {
			u.dataErr = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "greylisted, come back later"}
		}, "451 4.7.1 upstream: greylisted, come back later"},
		{"rcpt 5xx", func(u *upstream) {
			u.rcptErr = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}, "550 5.1.1 upstream: no such user"},
		{"mail 5xx", func(u *upstream) {
			u.mailErr = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "sender not owned by user"}
		}, "553 5.7.1 upstream: sender not owned by user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startUpstream(t)
			u.set(tc.set)
			d := startDaemon(t, account(u, "queue = true\nqueue_dir = \"@DIR@/q\"\n"))
			c := dial(t, d.addr)
			c.cmd("EHLO app", "250")
			got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody)
			if strings.HasPrefix(tc.want, "5") && got != tc.want {
				t.Errorf("reply %q, want %q", got, tc.want)
			}
			if strings.HasPrefix(tc.want, "4") {
				// With the queue a temporary refusal is a 250 after fsync.
				if !strings.HasPrefix(got, "250 ") {
					t.Errorf("temporary upstream refusal with queue = true: reply %q, want 250", got)
				}
				if n := queued(t, d); n != 1 {
					t.Errorf("%d messages in the queue, want 1", n)
				}
				return
			}
			if n := queued(t, d); n != 0 {
				t.Errorf("permanent failure queued (%d entries)", n)
			}
		})
	}
}

func TestServePassesUpstream4xxThroughWithoutQueue(t *testing.T) {
	u := startUpstream(t)
	u.set(func(u *upstream) {
		u.dataErr = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	})
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); got != "452 4.2.2 upstream: mailbox full" {
		t.Errorf("reply %q", got)
	}
}

// queued counts entries in the daemon's queue directory.
func queued(t *testing.T, d *daemon) int {
	t.Helper()
	es, _ := filepath.Glob(filepath.Join(d.dir, "q", "*.env"))
	return len(es)
}

func TestServeUpstreamDownIs451WithoutQueue(t *testing.T) {
	u := startUpstream(t)
	u.stop()
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "451 4.4.") {
		t.Errorf("reply %q, want 451 4.4.x", got)
	}
}

func TestServeUpstreamDownQueuesThenDaemonDeliversWhenItIsBack(t *testing.T) {
	u := startUpstream(t)
	u.stop()
	d := startDaemon(t, account(u, "queue = true\nqueue_dir = \"@DIR@/q\"\n"))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 2.0.0 queued as ") {
		t.Fatalf("reply %q, want 250 once queued\n%s", got, d.stderr)
	}
	if n := queued(t, d); n != 1 {
		t.Fatalf("%d queued entries, want 1", n)
	}
	u.restart(t)
	// The next message goes straight through; the daemon then flushes
	// the account's queue itself (no timer, no "gsendmail -q").
	if got := c.mail("app@example.org", []string{"carol@example.net"}, "From: app@example.org\nSubject: second\n\nx\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("second message: %q", got)
	}
	ms := u.waitMessages(t, 2, 10*time.Second)
	var subjects []string
	for _, m := range ms {
		subjects = append(subjects, strings.Join(m.To, ","))
	}
	if len(ms) != 2 {
		t.Errorf("upstream got %v", subjects)
	}
	deadline := time.Now().Add(5 * time.Second)
	for queued(t, d) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := queued(t, d); n != 0 {
		t.Errorf("%d entries still queued after delivery", n)
	}
}

func TestServeUpstreamAuthRefusalIs454AndLogged(t *testing.T) {
	u := startUpstream(t)
	u.set(func(u *upstream) { u.password = "right" })
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	cfg := strings.Replace(account(u, fmt.Sprintf("password_file = %q\nallow_cleartext_auth = true\nuser = \"u\"\n", pw)), "auth = \"none\"\n", "", 1)
	d := startDaemon(t, cfg)
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "454 4.7.0 ") {
		t.Errorf("reply %q, want 454 4.7.0", got)
	}
	if len(u.messages()) != 0 {
		t.Errorf("message relayed despite the refusal")
	}
	if log := d.stderr.String(); !strings.Contains(log, "AUTH") || strings.Contains(log, "wrong") {
		t.Errorf("log should name the AUTH refusal and never the password:\n%s", log)
	}
}

func TestServeRefusesDeclaredOverSizeAtMail(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\nmax_message_size = 1000\n")
	c := dial(t, d.addr)
	if l := c.cmd("EHLO app", "250"); !strings.Contains(l, "") {
		t.Log(l)
	}
	c.cmd("MAIL FROM:<app@example.org> SIZE=5000", "552 5.3.4")
	// Undeclared but too big: refused at the end of data, nothing relayed.
	c.cmd("MAIL FROM:<app@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.net>", "250")
	c.cmd("DATA", "354")
	for i := 0; i < 30; i++ {
		c.send(strings.Repeat("x", 100))
	}
	c.send(".")
	c.expect("552")
	if len(u.messages()) != 0 {
		t.Errorf("over-size message relayed")
	}
}

func TestServeOffersTheLocalExtensions(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.send("EHLO app")
	var lines []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l[4:]))
		if l[3] == ' ' {
			break
		}
	}
	all := strings.Join(lines, "\n")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "CHUNKING", "ENHANCEDSTATUSCODES", "DSN"} {
		if !strings.Contains(all, ext) {
			t.Errorf("EHLO does not offer %s:\n%s", ext, all)
		}
	}
	for _, ext := range []string{"AUTH", "STARTTLS"} {
		if strings.Contains(all, ext) {
			t.Errorf("EHLO offers %s without users/certificate:\n%s", ext, all)
		}
	}
}

func TestServeRefusesUnroutableRecipientAtRCPT(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.cmd("MAIL FROM:<app@example.org>", "250 2.1.0")
	l := c.cmd("RCPT TO:<root>", "550 5.1.1")
	if !strings.Contains(l, "root") {
		t.Errorf("refusal %q does not name the recipient", l)
	}
	c.cmd("RCPT TO:<bob@example.net>", "250 2.1.5")
}

func TestServeWrongLocalPasswordIs535DelayedAndNothingRelayed(t *testing.T) {
	u := startUpstream(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "app1.pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cfg := account(u, "") + fmt.Sprintf("[serve]\nrequire_auth = true\n[serve.user.app1]\naccount = \"up\"\npassword_file = %q\n", pw)
	d := startDaemon(t, cfg)
	c := dial(t, d.addr)
	if l := c.cmd("EHLO app", "250"); l == "" {
		t.Fatal("no EHLO")
	}
	c.cmd("MAIL FROM:<app@example.org>", "530 5.7.0")
	start := time.Now()
	c.cmd("AUTH PLAIN "+b64("\x00app1\x00guess"), "535 5.7.8")
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("wrong password answered after %v, want about 1s delay", el)
	}
	c.cmd("MAIL FROM:<app@example.org>", "530")
	if strings.Contains(d.stderr.String(), "guess") {
		t.Errorf("log contains the password:\n%s", d.stderr)
	}
	if !strings.Contains(d.stderr.String(), "app1") {
		t.Errorf("refused AUTH not logged:\n%s", d.stderr)
	}
	// The right password, with LOGIN this time.
	c.cmd("AUTH LOGIN", "334")
	c.cmd(b64("app1"), "334")
	c.cmd(b64("s3cret"), "235")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Errorf("authenticated mail: %q", got)
	}
	if n := len(u.messages()); n != 1 {
		t.Errorf("upstream got %d messages, want 1", n)
	}
}

func TestServeSlowClientTimesOutWhileAnotherIsServed(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\ncommand_timeout = \"1s\"\n")
	slow := dial(t, d.addr)
	slow.send("EHLO slow")
	slow.expect("250")
	slow.send("MAIL FROM:<app@example.org>")
	slow.expect("250")
	fast := dial(t, d.addr)
	fast.cmd("EHLO fast", "250")
	if got := fast.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Errorf("other client: %q", got)
	}
	l, err := slow.reply()
	if !strings.HasPrefix(l, "421 4.4.2") {
		t.Errorf("slow client got %q (%v), want 421 4.4.2", l, err)
	}
	if _, err := slow.reply(); err == nil {
		t.Errorf("slow client's connection still open")
	}
}

func TestServeSlowDataTimesOut(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\ndata_timeout = \"1s\"\n")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.cmd("MAIL FROM:<app@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.net>", "250")
	c.cmd("DATA", "354")
	for i := 0; i < 4; i++ {
		c.send("Subject: trickle") // within command_timeout each, but the whole DATA is too slow
		time.Sleep(400 * time.Millisecond)
	}
	l, err := c.reply()
	if strings.HasPrefix(l, "250") {
		t.Fatalf("slow DATA got %q", l)
	}
	if err == nil && !strings.HasPrefix(l, "4") {
		t.Errorf("slow DATA got %q, want the connection closed or a 4xx", l)
	}
	if len(u.messages()) != 0 {
		t.Errorf("partial message relayed")
	}
}

func TestServeMaxSessionsRefusesTheExtraConnection(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\nmax_sessions = 1\n")
	time.Sleep(200 * time.Millisecond) // startDaemon's probe connection frees its slot
	first := dial(t, d.addr)
	first.cmd("EHLO one", "250")
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	second := &client{t: t, c: c, br: newReader(c)}
	second.expect("421 4.7.0")
	first.cmd("NOOP", "250")
}

func TestServeReusesAWarmUpstreamSession(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	for i := 0; i < 3; i++ {
		c := dial(t, d.addr)
		c.cmd("EHLO app", "250")
		if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("message %d: %q", i, got)
		}
		c.cmd("QUIT", "221")
	}
	conns, _, resets := u.stats()
	if conns != 1 {
		t.Errorf("upstream saw %d connections for 3 messages, want 1 warm session", conns)
	}
	if resets < 2 {
		t.Errorf("upstream saw %d RSETs, want the warm session reset before each reuse", resets)
	}
}

func TestServeRetriesOnAFreshConnectionWhenTheWarmOneDied(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.mail("app@example.org", []string{"bob@example.net"}, plainBody)
	// The provider drops the idle connection.
	u.stop()
	u.restart(t)
	if got := c.mail("app@example.org", []string{"carol@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("after the warm session died: %q", got)
	}
	if ms := u.messages(); len(ms) != 2 {
		t.Errorf("upstream has %d messages, want 2 (each once)", len(ms))
	}
}

func TestServeKeepsWithinUpstreamSessions(t *testing.T) {
	u := startUpstream(t)
	hold := make(chan struct{})
	u.set(func(u *upstream) { u.hold = hold })
	d := startDaemon(t, account(u, "")+"[serve]\nupstream_sessions = 2\n")
	const n = 5
	var wg sync.WaitGroup
	replies := make([]string, n)
	for i := 0; i < n; i++ {
		c := dial(t, d.addr)
		c.cmd("EHLO app", "250")
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i] = c.mail("app@example.org", []string{fmt.Sprintf("r%d@example.net", i)}, plainBody)
		}(i)
	}
	time.Sleep(500 * time.Millisecond)
	close(hold)
	wg.Wait()
	for i, r := range replies {
		if !strings.HasPrefix(r, "250 ") {
			t.Errorf("client %d: %q", i, r)
		}
	}
	_, peak, _ := u.stats()
	if peak > 2 {
		t.Errorf("%d upstream connections at once, upstream_sessions = 2", peak)
	}
	if got := len(u.messages()); got != n {
		t.Errorf("upstream got %d messages, want %d", got, n)
	}
}

func TestServeShutdownNeverGives250ForUndeliveredMail(t *testing.T) {
	u := startUpstream(t)
	hold := make(chan struct{})
	inData := make(chan struct{}, 1)
	u.set(func(u *upstream) { u.hold, u.inData = hold, inData; u.dataErr = nil })
	d := startDaemon(t, account(u, "")+"[serve]\nshutdown_timeout = \"1s\"\n")
	idle := dial(t, d.addr)
	idle.cmd("EHLO idle", "250")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	res := make(chan string, 1)
	go func() {
		c.cmd("MAIL FROM:<app@example.org>", "250")
		c.cmd("RCPT TO:<bob@example.net>", "250")
		c.cmd("DATA", "354")
		c.send("Subject: x\r\n\r\nbody\r\n.")
		l, err := c.reply()
		if err != nil {
			l = "closed: " + err.Error()
		}
		res <- l
	}()
	<-inData // the upstream has the message and has not answered
	d.stop()
	if l, err := idle.reply(); err == nil && !strings.HasPrefix(l, "421") {
		t.Errorf("idle client got %q at shutdown", l)
	}
	got := <-res
	close(hold)
	if strings.HasPrefix(got, "250") {
		t.Errorf("client got %q although the upstream never accepted", got)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("graceful stop returned %v", err)
		}
		d.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop after shutdown_timeout")
	}
}

func TestServeShutdownLetsAFinishingTransactionComplete(t *testing.T) {
	u := startUpstream(t)
	hold := make(chan struct{})
	inData := make(chan struct{}, 1)
	u.set(func(u *upstream) { u.hold, u.inData = hold, inData })
	d := startDaemon(t, account(u, "")+"[serve]\nshutdown_timeout = \"20s\"\n")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	res := make(chan string, 1)
	go func() { res <- c.mail("app@example.org", []string{"bob@example.net"}, plainBody) }()
	<-inData
	d.stop()
	time.Sleep(200 * time.Millisecond)
	close(hold)
	if got := <-res; !strings.HasPrefix(got, "250 ") {
		t.Errorf("transaction in flight at SIGTERM got %q, want its 250", got)
	}
	if len(u.messages()) != 1 {
		t.Errorf("message not delivered")
	}
	if _, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
		t.Errorf("still accepting connections after the stop")
	}
}

func TestServeRefusesNonLoopbackListenWithoutAuthAndTLS(t *testing.T) {
	u := startUpstream(t)
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":2525"} {
		stderr := &syncBuf{}
		dir := t.TempDir()
		path := filepath.Join(dir, "c.toml")
		os.WriteFile(path, []byte(account(u, "")), 0o600)
		env := &app.Env{Stdin: strings.NewReader(""), Stdout: stderr, Stderr: stderr, Getenv: func(string) string { return "" }}
		code := app.Report(stderr, app.Run(t.Context(), env, "gsendmail", []string{"-C", path, "serve", "--listen", addr}))
		if code != sysexits.Config {
			t.Errorf("listen %s: exit %d, want 78", addr, code)
		}
		if out := stderr.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "require_auth") {
			t.Errorf("listen %s: want one line naming require_auth, got %q", addr, out)
		}
	}
}

func TestServeHelpPrintsUsage(t *testing.T) {
	out := &syncBuf{}
	env := &app.Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
	if err := app.Run(t.Context(), env, "gsendmail", []string{"serve", "--help"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--listen") {
		t.Errorf("usage: %q", out)
	}
}

func TestServePassesDSNAndSMTPUTF8Upstream(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.cmd("MAIL FROM:<app@example.org> RET=HDRS ENVID=job+2B42 SMTPUTF8 BODY=8BITMIME", "250")
	c.cmd("RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE", "250")
	c.cmd("DATA", "354")
	c.send("From: app@example.org\r\nSubject: Grüße\r\n\r\nüber\r\n.")
	if got := c.expect("250"); got == "" {
		t.Fatal("no reply")
	}
	m := u.waitMessages(t, 1, 5*time.Second)[0]
	if m.Ret != "HDRS" || m.EnvID != "job+42" || strings.Join(m.Notify, ",") != "SUCCESS,FAILURE" {
		t.Errorf("DSN upstream: RET=%q ENVID=%q NOTIFY=%q", m.Ret, m.EnvID, m.Notify)
	}
	if !m.UTF8 {
		t.Errorf("SMTPUTF8 not passed upstream for a UTF-8 header")
	}
	if !strings.Contains(m.Data, "Subject: Grüße\r\n") {
		t.Errorf("UTF-8 header changed: %q", m.Data)
	}
}

// TestServeHandlesPipelinedCommandsAndChunking sends MAIL, RCPT and BDAT in
// one write (PIPELINING, CHUNKING as swaks does) and checks the replies and
// the exact bytes upstream.
func TestServeHandlesPipelinedCommandsAndChunking(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	chunk1 := "From: app@example.org\r\nSubject: chunks\r\n\r\n.line one\r\n"
	chunk2 := "line two\r\n"
	io.WriteString(c.c, "MAIL FROM:<app@example.org>\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\n"+
		fmt.Sprintf("BDAT %d\r\n%s", len(chunk1), chunk1)+fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk2), chunk2))
	for _, want := range []string{"250 2.1.0", "250 2.1.5", "250 2.1.5", "250 ", "250 "} {
		c.expect(want)
	}
	m := u.waitMessages(t, 1, 5*time.Second)[0]
	if !strings.HasSuffix(m.Data, "\r\n\r\n.line one\r\nline two\r\n") || len(m.To) != 2 {
		t.Errorf("upstream got %q for %q", m.Data, m.To)
	}
}

func TestServeLimitsRecipientsPerTransaction(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\nmax_recipients = 2\n")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.cmd("MAIL FROM:<app@example.org>", "250")
	c.cmd("RCPT TO:<a@example.net>", "250")
	c.cmd("RCPT TO:<b@example.net>", "250")
	c.cmd("RCPT TO:<c@example.net>", "452 4.5.3")
}

func TestServeExits71WhenTheAddressIsInUse(t *testing.T) {
	u := startUpstream(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte(account(u, "")), 0o600)
	out := &syncBuf{}
	env := &app.Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
	code := app.Report(out, app.Run(t.Context(), env, "gsendmail", []string{"-C", path, "serve", "--listen", busy.Addr().String()}))
	if code != sysexits.OSErr || strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), busy.Addr().String()) {
		t.Errorf("exit %d, output %q; want 71 and one line naming the address", code, out)
	}
}

func TestServeShutdownLetsAnOpenTransactionFinishThenCloses(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, "")+"[serve]\nshutdown_timeout = \"20s\"\n")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.cmd("MAIL FROM:<app@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.net>", "250")
	d.stop()
	time.Sleep(200 * time.Millisecond)
	c.cmd("DATA", "354")
	c.send("Subject: late\r\n\r\nx\r\n.")
	c.expect("250 ")
	if _, err := c.reply(); err == nil {
		t.Errorf("connection still open after its transaction during shutdown")
	}
	if len(u.messages()) != 1 {
		t.Errorf("message not delivered")
	}
}

func TestServeRefusesAtMailWhatTheUpstreamSizeLimitRefuses(t *testing.T) {
	u := startUpstream(t)
	u.stop()
	u.maxSize = 2000
	u.restart(t)
	d := startDaemon(t, account(u, ""))
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	c.mail("app@example.org", []string{"bob@example.net"}, plainBody) // learns the upstream's SIZE
	l := c.cmd("MAIL FROM:<app@example.org> SIZE=5000", "552 5.3.4")
	if !strings.Contains(l, "2000") {
		t.Errorf("refusal %q does not say the upstream limit", l)
	}
	c.cmd("MAIL FROM:<app@example.org> SIZE=1000", "250")
}

func TestServeTokenEndpointDownIs451(t *testing.T) {
	u := startUpstream(t)
	u.set(func(u *upstream) { u.oauthOnly = true })
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok.json")
	os.WriteFile(tok, []byte(`{"refresh_token":"fake-refresh-token"}`), 0o600)
	down := freeAddr(t) // nothing listens here
	cfg := strings.Replace(account(u, fmt.Sprintf("user = \"u@example.org\"\nallow_cleartext_auth = true\noauth_provider = \"generic\"\noauth_client_id = \"cid\"\noauth_token_url = \"http://%s/token\"\ntoken_store = \"file\"\ntoken_file = %q\n", down, tok)),
		"auth = \"none\"\n", "auth = \"oauth2\"\n", 1)
	d := startDaemon(t, cfg)
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "451 4.4.") {
		t.Errorf("token endpoint down: %q, want 451 4.4.x\n%s", got, d.stderr)
	}
	if !strings.Contains(d.stderr.String(), down) {
		t.Errorf("log does not name the token endpoint %s:\n%s", down, d.stderr)
	}
	if strings.Contains(d.stderr.String(), "fake-refresh-token") {
		t.Errorf("log reveals the refresh token")
	}
}
