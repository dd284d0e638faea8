package serve

import (
	"encoding/base64"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
)

// forwarder plays an upstream that is down and comes back: while off,
// nothing listens on its port (connection refused); once on, it forwards
// every connection to target.
type forwarder struct {
	t      *testing.T
	port   string
	target string
	mu     sync.Mutex
	ln     net.Listener
}

func newForwarder(t *testing.T, target string) *forwarder {
	f := &forwarder{t: t, port: freePort(t), target: target}
	t.Cleanup(f.off)
	return f
}

func (f *forwarder) on() {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+f.port)
	if err != nil {
		f.t.Fatalf("upstream comes back on port %s: %v", f.port, err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", f.target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}

func (f *forwarder) off() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
}

var enhanced = regexp.MustCompile(`^\d{3} [245]\.\d{1,3}\.\d{1,3} `)

// checkReply fails unless text is one reply line with the code and an
// enhanced status code of the class.
func checkReply(t *testing.T, what string, code int, text string, wantCode int, wantEnh string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("%s: reply %q, want %d", what, text, wantCode)
	}
	if strings.Contains(text, "\n") || !enhanced.MatchString(text) {
		t.Errorf("%s: reply %q is not one line with an enhanced status code", what, text)
	}
	if wantEnh != "" && !strings.HasPrefix(text[4:], wantEnh) {
		t.Errorf("%s: reply %q, want enhanced code %s…", what, text, wantEnh)
	}
}

// queuedWhileDown starts a daemon with queue = true whose smarthost (a
// forwarder to the shared Postfix) is off, and sends it the message
// subject: it must be accepted (250) into the queue. Turn the forwarder
// on to bring the smarthost back.
func queuedWhileDown(t *testing.T, subject string) (*forwarder, *env, *daemon) {
	t.Helper()
	up := newForwarder(t, fx0(t).Mail.SubmissionAddr)
	e := newEnv(t, accountOpts{port: up.port, queue: true})
	d := e.startServe()
	code, text := sendOne(t, d.Addr, subject)
	checkReply(t, "end of data with the smarthost down and queue = true", code, text, 250, "2.")
	if n := e.queued(); n != 1 {
		t.Fatalf("%d messages queued after the 250, want 1", n)
	}
	return up, e, d
}

// Without the queue, the client's end of data is answered only once the
// smarthost answered: a smarthost that cannot be reached is 451 4.4.x, so
// the application keeps the message and retries.
func TestUpstreamDownWithoutQueueIs451AndNothingIsKept(t *testing.T) {
	e := newEnv(t, accountOpts{port: freePort(t)})
	d := e.startServe()
	subject := "down no queue " + t.Name()
	code, text := sendOne(t, d.Addr, subject)
	checkReply(t, "end of data with the smarthost down", code, text, 451, "4.4.")
	if n := e.queued(); n != 0 {
		t.Errorf("%d messages queued without queue = true", n)
	}
}

// With queue = true, the same message is accepted (250) once it is in the
// queue, and the daemon itself sends it when the smarthost is back: no
// timer, no `gsendmail -q`.
func TestUpstreamDownWithQueueIs250AndTheDaemonDeliversWhenItIsBack(t *testing.T) {
	subject := "down queued " + t.Name()
	up, e, d := queuedWhileDown(t, subject)
	noneWithSubject(t, e.fx, subject)

	up.on()
	// The next message finds the smarthost reachable; the daemon then
	// sends what waits in its queue on its own.
	next := "back " + t.Name()
	code, text := sendOne(t, d.Addr, next)
	checkReply(t, "end of data with the smarthost back", code, text, 250, "2.")
	waitSubject(t, e.fx, next, 1)
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], []byte(message(subject)))
	deadline := time.Now().Add(10 * time.Second)
	for e.queued() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.queued(); n != 0 {
		t.Errorf("%d messages still queued after delivery", n)
	}
	if len(withSubject(e.fx, subject)) != 1 {
		t.Errorf("the queued message arrived %d times, want once", len(withSubject(e.fx, subject)))
	}
}

// fx0 is the shared fixture, for tests that need it before newEnv.
func fx0(t *testing.T) *fixture.Servers { return servers(t) }

// A smarthost's refusal at end of data reaches the client with its code,
// enhanced code and text; nothing is queued (a permanent failure never is,
// even with queue = true) and nothing is delivered.
func TestUpstream5xxIsPassedThroughWithItsEnhancedCodeAndNeverQueued(t *testing.T) {
	for _, queued := range []bool{false, true} {
		name := "no-queue"
		if queued {
			name = "queue"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, accountOpts{queue: queued})
			d := e.startServe()
			s := dialSMTP(t, d.Addr)
			s.greet(t)
			s.expect(t, "MAIL FROM:<"+testUser+">", 250)
			s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
			code, text := s.data(t, strings.Replace(message("x"), "Subject: x", "Subject: "+rejectSubject, 1))
			checkReply(t, "end of data refused by the smarthost", code, text, 550, "5.7.1")
			if !strings.Contains(text, rejectText) {
				t.Errorf("reply %q lacks the smarthost's text %q", text, rejectText)
			}
			if n := e.queued(); n != 0 {
				t.Errorf("%d messages queued after a permanent refusal", n)
			}
			// The session goes on: the next transaction on it is relayed.
			s.expect(t, "RSET", 250)
			ok := "after refusal " + strings.ReplaceAll(t.Name(), "/", "-")
			s.expect(t, "MAIL FROM:<"+testUser+">", 250)
			s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
			if code, text := s.data(t, message(ok)); code != 250 {
				t.Fatalf("next message on the same session: %q", text)
			}
			waitSubject(t, e.fx, ok, 1)
		})
	}
	if n := len(withSubject(fx0(t), rejectSubject)); n != 0 {
		t.Errorf("%d refused messages were delivered", n)
	}
}

// Never an open relay: a non-loopback listen address without required
// local AUTH and TLS is refused at start with exit 78 and one line; with
// both it starts.
func TestNonLoopbackListenWithoutAuthAndTLSExits78(t *testing.T) {
	e := newEnv(t, accountOpts{})
	for _, addr := range []string{"0.0.0.0:" + freePort(t), "[::]:" + freePort(t)} {
		d := e.spawnServe("serve", "--listen", addr)
		code := d.exitCode(20 * time.Second)
		if code != 78 {
			t.Fatalf("serve --listen %s: exit %d, want 78 (EX_CONFIG)\n%s", addr, code, d.stderr())
		}
		if st := d.stderr(); strings.Count(st, "\n") != 1 || !strings.Contains(st, "require_auth") {
			t.Errorf("serve --listen %s: stderr should be one line naming require_auth: %q", addr, st)
		}
	}
	// Control: with require_auth and a certificate the same address is
	// accepted (loopback still answers, 0.0.0.0 includes it).
	cert, key, _ := serveCert(t, e.dir)
	pw := writeFile(t, e.dir, "app1.pw", "app1-local-Pa55\n")
	e.writeConfig(accountOpts{
		serve: "require_auth = true\ntls_cert_file = " + quote(cert) + "\ntls_key_file = " + quote(key),
		more:  "\n[serve.user.app1]\naccount = \"t\"\npassword_file = " + quote(pw) + "\n",
	})
	p := freePort(t)
	d := e.spawnServe("serve", "--listen", "0.0.0.0:"+p)
	d.waitReady("127.0.0.1:"+p, 20*time.Second)
	s := dialSMTP(t, "127.0.0.1:"+p)
	s.greet(t)
	if code, text := s.cmd(t, "MAIL FROM:<"+testUser+">"); code/100 != 5 {
		t.Errorf("MAIL before AUTH with require_auth: %q, want 5xx", text)
	}
}

// A wrong local password is 535 5.7.8 after a delay, logged without the
// password; nothing is relayed on that session; the right one works.
func TestWrongLocalPasswordIs535DelayedAndRelaysNothing(t *testing.T) {
	e := newEnv(t, accountOpts{})
	pw := writeFile(t, e.dir, "app1.pw", "app1-local-Pa55\n")
	e.writeConfig(accountOpts{
		serve: "require_auth = true",
		more:  "\n[serve.user.app1]\naccount = \"t\"\npassword_file = " + quote(pw) + "\n",
	})
	d := e.startServe()
	s := dialSMTP(t, d.Addr)
	ehlo := s.greet(t)
	if !strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "PLAIN") {
		t.Fatalf("EHLO does not offer AUTH PLAIN with a [serve.user]:\n%s", ehlo)
	}
	const wrong = "Wr0ng-guess-Zq8"
	start := time.Now()
	code, text := s.cmd(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00app1\x00"+wrong)))
	took := time.Since(start)
	checkReply(t, "AUTH with a wrong password", code, text, 535, "5.7.8")
	if took < 500*time.Millisecond {
		t.Errorf("535 came after %v; want it delayed (about 1 s)", took)
	}
	subject := "wrong password " + t.Name()
	if code, text := s.cmd(t, "MAIL FROM:<"+testUser+">"); code/100 == 2 {
		t.Errorf("MAIL after a failed AUTH with require_auth: %q, want a refusal", text)
	} else {
		s.cmd(t, "RCPT TO:<"+rcptAddr+">")
		if code, _ := s.cmd(t, "DATA"); code == 354 {
			s.cmd(t, strings.ReplaceAll(message(subject), "\n", "\r\n")+".")
		}
	}
	// Control: the right password on a new session relays.
	s2 := dialSMTP(t, d.Addr)
	s2.greet(t)
	s2.expect(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00app1\x00app1-local-Pa55")), 235)
	s2.expect(t, "MAIL FROM:<"+testUser+">", 250)
	s2.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
	ok := "right password " + t.Name()
	if code, text := s2.data(t, message(ok)); code != 250 {
		t.Fatalf("with the right password: %q", text)
	}
	waitSubject(t, e.fx, ok, 1)
	noneWithSubject(t, e.fx, subject)
	logs := d.stderr()
	if b, err := os.ReadFile(e.log); err == nil {
		logs += string(b)
	}
	if strings.Contains(logs, wrong) || strings.Contains(logs, base64.StdEncoding.EncodeToString([]byte("\x00app1\x00"+wrong))) {
		t.Errorf("the wrong password appears in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "app1") {
		t.Errorf("the failed local AUTH is not logged (no user name in the logs):\n%s", logs)
	}
}

// max_message_size is the SIZE offered; a client declaring more is refused
// at MAIL (552 5.3.4), and one that declares less and sends more is refused
// at end of data. Neither is relayed.
func TestMessageBiggerThanSIZEIsRefusedAtMAILOrAtEndOfData(t *testing.T) {
	e := newEnv(t, accountOpts{serve: "max_message_size = 20000"})
	d := e.startServe()
	s := dialSMTP(t, d.Addr)
	ehlo := s.greet(t)
	if !strings.Contains(ehlo, "SIZE 20000") {
		t.Errorf("EHLO does not offer SIZE 20000:\n%s", ehlo)
	}
	code, text := s.cmd(t, "MAIL FROM:<"+testUser+"> SIZE=30000")
	checkReply(t, "MAIL with SIZE above the limit", code, text, 552, "5.3.4")

	subject := "too big " + t.Name()
	big := message(subject) + strings.Repeat(strings.Repeat("x", 76)+"\n", 400)
	s.cmd(t, "RSET")
	s.expect(t, "MAIL FROM:<"+testUser+"> SIZE=1000", 250)
	s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
	code, text = s.data(t, big)
	if code != 552 {
		t.Fatalf("end of a message bigger than SIZE: %q, want 552", text)
	}
	noneWithSubject(t, e.fx, subject)
}

// A client that connects and then sends nothing (or half a command) is
// cut off after command_timeout, while other clients are served.
func TestSlowLorisClientTimesOutWhileOthersAreServed(t *testing.T) {
	e := newEnv(t, accountOpts{serve: "command_timeout = \"2s\"\nmax_sessions = 3"})
	d := e.startServe()
	var slow []*smtpConn
	for i := 0; i < 2; i++ {
		s := dialSMTP(t, d.Addr)
		if code, _, err := s.reply(10 * time.Second); err != nil || code != 220 {
			t.Fatalf("slow client %d greeting: %d %v", i, code, err)
		}
		slow = append(slow, s)
	}
	_, _ = slow[1].c.Write([]byte("EHLO ha")) // half a line, then silence
	start := time.Now()
	subject := "beside slow loris " + t.Name()
	code, text := sendOne(t, d.Addr, subject)
	checkReply(t, "a normal client next to two silent ones", code, text, 250, "2.")
	waitSubject(t, e.fx, subject, 1)
	for i, s := range slow {
		_ = s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, err := io.ReadAll(s.r)
		if err != nil {
			t.Errorf("slow client %d was not disconnected within 30 s (%v)", i, err)
			continue
		}
		// Whatever it got before, the last thing is the close or a 421.
		lines := strings.Split(strings.TrimRight(string(b), "\r\n"), "\r\n")
		if last := lines[len(lines)-1]; len(b) > 0 && !strings.HasPrefix(last, "421") {
			t.Errorf("slow client %d got %q before the close; want it to end with a 421 or nothing", i, b)
		}
	}
	if el := time.Since(start); el > 25*time.Second {
		t.Errorf("silent clients held for %v with command_timeout = 2s", el)
	}
	// Their sessions are free again: max_sessions is not exhausted.
	subject2 := "after slow loris " + t.Name()
	if code, text := sendOne(t, d.Addr, subject2); code != 250 {
		t.Fatalf("after the slow clients left: %q", text)
	}
}

// The same without any further traffic: the daemon's own queue runner
// retries the message when its backoff (the queue's first step, 1 minute)
// is over, with no timer, no `gsendmail -q` and no new message to wake it.
// This is the slowest test of the package (≈ 1 minute of waiting).
func TestQueuedMessageIsRetriedByTheDaemonAfterItsBackoffWithoutOtherTraffic(t *testing.T) {
	subject := "backoff retry " + t.Name()
	up, e, d := queuedWhileDown(t, subject)
	queuedAt := time.Now()
	up.on()
	deadline := queuedAt.Add(150 * time.Second)
	for len(withSubject(e.fx, subject)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queued message was not delivered within 150 s of queueing; serve stderr:\n%s", d.stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("delivered by the daemon's queue runner %v after it was queued", time.Since(queuedAt).Round(time.Second))
	ds := withSubject(e.fx, subject)
	checkExact(t, ds[0], []byte(message(subject)))
	for e.queued() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.queued(); n != 0 {
		t.Errorf("%d messages still queued after delivery", n)
	}
}

// The smarthost refuses the account's password: the client gets 454 4.7.0
// (temporary: the application retries once the administrator fixed it),
// nothing is relayed, and the daemon's log names the problem without the
// password.
func TestUpstreamAuthRefusalIs454AndTheLogHasNoPassword(t *testing.T) {
	const wrong = "not-the-Pa55word-of-this-account"
	e := newEnv(t, accountOpts{password: wrong})
	d := e.startServe()
	subject := "upstream auth refused " + t.Name()
	code, text := sendOne(t, d.Addr, subject)
	checkReply(t, "end of data when the smarthost refuses the password", code, text, 454, "4.7.0")
	if strings.Contains(text, wrong) {
		t.Errorf("the reply shows the password: %q", text)
	}
	noneWithSubject(t, e.fx, subject)
	logs := d.stderr()
	if b, err := os.ReadFile(e.log); err == nil {
		logs += string(b)
	}
	if strings.Contains(logs, wrong) {
		t.Errorf("the log shows the password:\n%s", logs)
	}
	if !strings.Contains(strings.ToLower(logs), "password") {
		t.Errorf("the log does not say the password is the problem:\n%s", logs)
	}
}
