package serve

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// fakeUpstream is a go-smtp smarthost on loopback that counts the messages
// it accepted by Message-ID. It is the fast local upstream of the kill and
// SIGTERM tests (hundreds of daemon lives in a few seconds each would be
// minutes through Postfix+Dovecot). failFirst makes it answer the first
// attempt of every third message with 451 at end of data, so that some
// mail goes through the daemon's queue.
type fakeUpstream struct {
	addr      string
	delay     time.Duration
	failFirst bool
	conns     atomic.Int64

	mu       sync.Mutex
	got      map[string]int // Message-ID → deliveries
	attempts map[string]int
	srv      *gosmtp.Server
}

func startFakeUpstream(t *testing.T, delay time.Duration, failFirst bool) *fakeUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: ln.Addr().String(), delay: delay, failFirst: failFirst, got: map[string]int{}, attempts: map[string]int{}}
	s := gosmtp.NewServer(u)
	s.Domain = "fake-upstream.test"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxRecipients = 100
	s.ErrorLog = quietLog{}
	u.srv = s
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return u
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

func (u *fakeUpstream) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	u.conns.Add(1)
	return &fakeSession{u: u}, nil
}

type fakeSession struct{ u *fakeUpstream }

func (*fakeSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (*fakeSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (*fakeSession) Reset()                                 {}
func (*fakeSession) Logout() error                          { return nil }

var msgIDRe = regexp.MustCompile(`(?mi)^Message-ID: *<([^>]+)>`)

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.u.delay > 0 {
		time.Sleep(s.u.delay)
	}
	m := msgIDRe.FindSubmatch(b)
	if m == nil {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "no Message-ID"}
	}
	id := string(m[1])
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	s.u.attempts[id]++
	if s.u.failFirst && s.u.attempts[id] == 1 && oneInThree(id) {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.u.got[id]++
	return nil
}

// retried is how many attempts the upstream saw for id.
func (u *fakeUpstream) retried(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.attempts[id]
}

// oneInThree picks about a third of the IDs, the same ones every time;
// never the tests' "final" messages, whose direct success wakes the
// daemon's queue runner.
func oneInThree(id string) bool {
	if strings.Contains(id, "final") {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%3 == 0
}

func (u *fakeUpstream) count(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[id]
}

// fakeAccount points account "t" at the fake upstream, without TLS or
// AUTH.
func fakeAccount(u *fakeUpstream, queue bool, serve string) accountOpts {
	_, p, _ := net.SplitHostPort(u.addr)
	return accountOpts{host: "127.0.0.1", port: p, tls: "none", auth: "none", queue: queue, serve: serve}
}

func idMessage(id string) string {
	return "From: " + testUser + "\nTo: " + rcptAddr + "\nSubject: kill " + id +
		"\nDate: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <" + id + ">\n\n" +
		string(bytes.Repeat([]byte("line of a message that must not be lost\n"), 20))
}

// outcome is what one client saw for one message.
type outcome struct {
	id    string
	code  int    // final reply, 0 when none
	phase string // how far it got
	err   error
}

// burst runs clients that each send messages on their own connection
// until the connection fails or stop is closed, and returns every
// message's outcome.
func burst(addr string, clients int, prefix string, stop <-chan struct{}) []outcome {
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := dialRaw(addr)
			if err != nil {
				return // the daemon is already gone: nothing was sent
			}
			defer s.c.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-c%d-m%d@kill.test", prefix, c, i)
				code, _, phase, err := s.transact(testUser, rcptAddr, idMessage(id), i > 0)
				mu.Lock()
				out = append(out, outcome{id, code, phase, err})
				mu.Unlock()
				if err != nil || code != 250 {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// notArrived waits up to timeout for upstream to receive every message of
// ids and returns those it never got.
func notArrived(u *fakeUpstream, ids []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, id := range ids {
			if u.count(id) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sigtermDuringBurst starts a daemon relaying to a fake upstream (queue on
// or off; with it, the upstream refuses the first attempt of a third of
// the messages), sends SIGTERM 400 ms into a burst of clients, and
// checks that the daemon stops gracefully (exit 0). It returns the
// upstream, env, stopped daemon and every message's outcome.
func sigtermDuringBurst(t *testing.T, clients int, queue bool, prefix string) (*fakeUpstream, *env, *daemon, []outcome) {
	t.Helper()
	up := startFakeUpstream(t, 15*time.Millisecond, queue)
	e := newEnv(t, fakeAccount(up, queue, "shutdown_timeout = \"2s\"\nupstream_sessions = 4"))
	d := e.startServe()
	stop := make(chan struct{})
	res := make(chan []outcome, 1)
	go func() { res <- burst(d.Addr, clients, prefix, stop) }()
	time.Sleep(400 * time.Millisecond)
	_ = d.p.Cmd.Process.Signal(syscall.SIGTERM)
	code := d.exitCode(30 * time.Second)
	close(stop)
	outs := <-res
	if code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0 (graceful stop)", code)
	}
	return up, e, d, outs
}

// No loss under kill -9: 200 times, the daemon (queue = true) is killed at
// a random moment while clients send; after the last kill it is started
// again and every message a client got 250 for must arrive upstream
// (duplicates are allowed: at-least-once). The test fails when too few
// kills landed inside a transaction, since then nothing was tested.
//
// Upstream is fakeUpstream (go-smtp on loopback), which refuses the first
// attempt of a third of the messages with 451 so those are accepted from
// the queue; runtime ≈ 1 minute.
func TestKill9WhileClientsSendLosesNoAcceptedMessage(t *testing.T) {
	const runs, clients = 200, 4
	up := startFakeUpstream(t, time.Millisecond, true)
	e := newEnv(t, fakeAccount(up, true, ""))
	addr := "127.0.0.1:" + freePort(t)
	var accepted []string
	midData, midEnvelope := 0, 0
	for run := 0; run < runs; run++ {
		d := e.startServeAt(addr)
		stop := make(chan struct{})
		res := make(chan []outcome, 1)
		go func() { res <- burst(addr, clients, fmt.Sprintf("r%d", run), stop) }()
		time.Sleep(time.Duration(rand.IntN(120)) * time.Millisecond)
		d.kill()
		close(stop)
		cutData, cutEnvelope := false, false
		for _, o := range <-res {
			if o.code == 250 && o.phase == phaseDone {
				accepted = append(accepted, o.id)
			}
			if o.err != nil && o.phase == phaseData {
				cutData = true
			}
			if o.err != nil && o.phase == phaseEnvelope {
				cutEnvelope = true
			}
		}
		if cutData {
			midData++
		}
		if cutEnvelope {
			midEnvelope++
		}
	}
	t.Logf("%d kills: %d cut a client after its message was sent and before the reply, %d during the envelope; %d messages got 250",
		runs, midData, midEnvelope, len(accepted))
	if midData < runs/10 {
		t.Fatalf("only %d of %d kills landed between a client's end of data and its reply: nothing was tested", midData, runs)
	}
	if len(accepted) < runs {
		t.Fatalf("only %d messages got 250 in %d runs: the daemon hardly ran", len(accepted), runs)
	}

	// The last life: what is queued goes out on its own (the start-up
	// scan, then the forced flush a successful send triggers).
	d := e.startServeAt(addr)
	if code, text := sendOne(t, d.Addr, "kill final"); code != 250 {
		t.Fatalf("final message: %q", text)
	}
	lost := notArrived(up, accepted, 60*time.Second)
	dups, viaQueue := 0, 0
	for _, id := range accepted {
		if n := up.count(id); n > 1 {
			dups += n - 1
		}
		if up.retried(id) > 1 {
			viaQueue++
		}
	}
	t.Logf("delivered: %d of %d accepted (%d of them from the queue after a 451), %d duplicates, %d still queued",
		len(accepted)-len(lost), len(accepted), viaQueue, dups, e.queued())
	if viaQueue == 0 {
		t.Errorf("no accepted message went through the queue: the queue path was not tested")
	}
	if len(lost) > 0 {
		t.Fatalf("%d messages that got 250 never arrived (lost), e.g. %v; %d still in the queue", len(lost), lost[:min(5, len(lost))], e.queued())
	}
	if code := d.stop(); code != 0 {
		t.Errorf("final SIGTERM: exit %d", code)
	}
}

// SIGTERM during a burst: the daemon stops accepting, lets transactions
// finish, then exits 0. Every client that got 250 had its message
// delivered (no queue: 250 means the smarthost has it); every other one
// got a 4xx or a closed connection, never a 5xx.
func TestSIGTERMDuringBurstEvery250IsDeliveredAndTheRestGot4xxOrClose(t *testing.T) {
	const clients = 20
	up, _, _, outs := sigtermDuringBurst(t, clients, false, "term")
	ok, other := 0, 0
	for _, o := range outs {
		switch {
		case o.code == 250 && o.phase == phaseDone:
			ok++
			if up.count(o.id) != 1 {
				t.Errorf("%s got 250 but arrived %d times", o.id, up.count(o.id))
			}
		case o.err != nil && o.code == 0:
			other++ // closed connection, no reply
		case o.code >= 400 && o.code < 500:
			other++
		default:
			t.Errorf("%s: reply %d in phase %s (%v); want 250, a 4xx or a closed connection", o.id, o.code, o.phase, o.err)
		}
	}
	t.Logf("SIGTERM during a burst of %d clients: %d messages got 250, %d clients got a 4xx or a close", clients, ok, other)
	if ok == 0 || other == 0 {
		t.Fatalf("the burst did not straddle the SIGTERM (%d × 250, %d others): nothing was tested", ok, other)
	}
}

// SIGTERM during a burst with queue = true and a smarthost that refuses
// the first attempt of a third of the messages (451): a 250 is either
// delivered or durably queued, so after a restart every 250 arrives; the
// other clients got a 4xx or a closed connection.
func TestSIGTERMDuringBurstWithQueueEvery250ArrivesAfterRestart(t *testing.T) {
	const clients = 20
	up, e, d, outs := sigtermDuringBurst(t, clients, true, "termq")
	var accepted []string
	for _, o := range outs {
		switch {
		case o.code == 250 && o.phase == phaseDone:
			accepted = append(accepted, o.id)
		case o.err != nil && o.code == 0, o.code >= 400 && o.code < 500:
		default:
			t.Errorf("%s: reply %d in phase %s (%v); want 250, a 4xx or a closed connection", o.id, o.code, o.phase, o.err)
		}
	}
	queuedAtStop := e.queued()
	d2 := e.startServeAt(d.Addr)
	if code, text := sendOne(t, d2.Addr, "termq final"); code != 250 {
		t.Fatalf("after restart: %q", text)
	}
	if missing := notArrived(up, accepted, 60*time.Second); len(missing) > 0 {
		t.Fatalf("%d of %d messages that got 250 never arrived (%d queued at the stop, %d now)", len(missing), len(accepted), queuedAtStop, e.queued())
	}
	t.Logf("SIGTERM with the queue on: %d messages got 250, %d were in the queue at the stop, all arrived", len(accepted), queuedAtStop)
	if len(accepted) == 0 || queuedAtStop == 0 {
		t.Fatalf("%d accepted, %d queued at the stop: the queue path was not tested", len(accepted), queuedAtStop)
	}
}
