package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

func TestMedianTakesMiddleOrMeanOfTwoMiddles(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{100, 1, 1}, 1},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, tc.want)
		}
		if fmt.Sprint(in) != fmt.Sprint(tc.in) {
			t.Errorf("Median reordered its input: %v -> %v", in, tc.in)
		}
	}
}

func TestAlternateInterleavesClientsAndStopsAtFirstError(t *testing.T) {
	var order []string
	rec := func(name string, failAt int) func(int) error {
		return func(i int) error {
			order = append(order, fmt.Sprint(name, i))
			if i == failAt {
				return fmt.Errorf("%s failed", name)
			}
			return nil
		}
	}
	if err := Alternate(3, rec("a", -1), rec("b", -1)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, " "); got != "a0 b0 a1 b1 a2 b2" {
		t.Fatalf("order %q, want a0 b0 a1 b1 a2 b2", got)
	}
	order = nil
	if err := Alternate(3, rec("a", 1), rec("b", -1)); err == nil || strings.Join(order, " ") != "a0 b0 a1" {
		t.Fatalf("err %v, order %q: want a1's error after a0 b0 a1", err, order)
	}
}

func TestMessageHasExactSizeAndShortLFLines(t *testing.T) {
	for _, size := range []int64{300, 2048, 1 << 20} {
		b, err := io.ReadAll(Message("a@b.test", "c@d.test", size))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != size {
			t.Errorf("size %d: got %d bytes", size, len(b))
		}
		if !bytes.HasSuffix(b, []byte("\n")) || bytes.Contains(b, []byte("\r")) {
			t.Errorf("size %d: want LF line endings ending in LF", size)
		}
		hdr, body, ok := bytes.Cut(b, []byte("\n\n"))
		if !ok || !bytes.HasPrefix(hdr, []byte("From: a@b.test\nTo: c@d.test\n")) {
			t.Fatalf("size %d: header section %q", size, hdr)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if len(sc.Text()) > 76 {
				t.Fatalf("size %d: line of %d bytes", size, len(sc.Text()))
			}
		}
	}
}

func TestRatioAndTable(t *testing.T) {
	if got := Ratio(1, 0); got != "n/a" {
		t.Errorf("Ratio(1, 0) = %q", got)
	}
	if got := Ratio(3, 4); got != "0.75" {
		t.Errorf("Ratio(3, 4) = %q", got)
	}
	var b strings.Builder
	WriteTable(&b, []Row{{Scenario: "a|b", G: "1", M: "2", Ratio: "0.50", Target: "≤ 1", Met: "yes"}})
	want := "| scenario | gsendmail | msmtp | ratio g/m | target | met? |\n|---|---|---|---|---|---|\n| a\\|b | 1 | 2 | 0.50 | ≤ 1 | yes |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// echoServer answers every line with "ok <line>".
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "ok %s\n", sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDelayProxyKeepsByteOrderBothWaysAndCountsConnections(t *testing.T) {
	p, err := NewDelayProxy(echoServer(t), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for conn := 1; conn <= 2; conn++ {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		// Pipelined: all lines written before any reply is read.
		var want strings.Builder
		for i := 0; i < 50; i++ {
			fmt.Fprintf(c, "line %d\n", i)
			fmt.Fprintf(&want, "ok line %d\n", i)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Fatalf("connection %d: got %q, want %q", conn, got, want.String())
		}
		if n := p.Conns(); n != int64(conn) {
			t.Fatalf("Conns() = %d after %d connections", n, conn)
		}
	}
}

func TestRunReportsCPUAndFailure(t *testing.T) {
	s, err := Run(context.Background(), exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.MaxRSS <= 0 || strings.TrimSpace(string(s.Stdout)) != "done" {
		t.Fatalf("sample %+v: want CPU, MaxRSS and stdout", s)
	}
	if _, err := Run(context.Background(), exec.Command("/bin/sh", "-c", "echo broken >&2; exit 3"), nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err %v: want the exit status with stderr", err)
	}
}

func TestRunRSSReportsTheChildsOwnPeakNotTheHarnesss(t *testing.T) {
	if !HaveGNUTime() {
		t.Skip("GNU time not installed")
	}
	// Grow this process well past what /bin/true needs, so an inherited
	// figure would show.
	ballast := bytes.Repeat([]byte{1}, 64<<20)
	s, ok, err := RunRSS(context.Background(), exec.Command("/bin/true"), nil, t.TempDir())
	if err != nil || !ok {
		t.Fatalf("RunRSS: ok %v, err %v", ok, err)
	}
	if s.MaxRSS <= 0 || s.MaxRSS > 32<<10 {
		t.Fatalf("MaxRSS of /bin/true = %d KB with a 64 MB harness: want the child's own few MB", s.MaxRSS)
	}
	_ = ballast[len(ballast)-1]
}

// BenchmarkSubmitSmallMessage runs the per-message client path of one
// sendmail invocation (connect, TLS, EHLO, AUTH PLAIN, MAIL/RCPT/BDAT,
// QUIT) in-process against the real Postfix, for CPU profiles:
//
//	go test -run=^$ -bench=Submit -cpuprofile=cpu.out ./internal/testkit/bench/
//	go tool pprof -top internal/testkit/bench/bench.test cpu.out
func BenchmarkSubmitSmallMessage(b *testing.B) {
	for _, tls := range []string{"tls", "starttls"} {
		b.Run(tls, func(b *testing.B) {
			s := mailserver.Start(b, mailserver.Options{Users: map[string]string{"bench@gsendmail.test": "pw-bench"}})
			addr := s.SMTPSAddr
			if tls == "starttls" {
				addr = s.SubmissionAddr
			}
			port := addr[strings.LastIndex(addr, ":")+1:]
			cfg := filepath.Join(b.TempDir(), "config.toml")
			body := fmt.Sprintf("default_account = \"b\"\n[account.b]\nhost = \"127.0.0.1\"\nport = %s\ntls = %q\ntls_trust_file = %q\nuser = \"bench@gsendmail.test\"\npassword = \"pw-bench\"\nauth = \"plain\"\nfrom = \"bench@gsendmail.test\"\n", port, tls, s.CAFile)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				b.Fatal(err)
			}
			f, err := config.Load(cfg, false)
			if err != nil {
				b.Fatal(err)
			}
			a := f.Accounts["b"]
			msg, _ := io.ReadAll(Message("bench@gsendmail.test", "someone@example.org", 2048))
			env := submit.Envelope{From: "bench@gsendmail.test", To: []string{"someone@example.org"}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := submit.Submit(context.Background(), a, submit.Deps{}, env, bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestDelayProxyPeakIsTheMostConnectionsOpenAtOnce(t *testing.T) {
	p, err := NewDelayProxy(echoServer(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip := func(c net.Conn) {
		t.Helper()
		fmt.Fprintf(c, "ping\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ok ping\n" {
			t.Fatalf("echo through the proxy: %q %v", line, err)
		}
	}
	var open []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(c) // the proxy handles it now
		open = append(open, c)
	}
	for _, c := range open {
		c.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); p.Active() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("Active() = %d after all clients closed", p.Active())
		}
		time.Sleep(time.Millisecond)
	}
	// Later connections one at a time do not raise the peak.
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(c)
		c.Close()
		for p.Active() != 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if got := p.Peak(); got != 3 {
		t.Fatalf("Peak() = %d, want 3 (three open together, then one at a time)", got)
	}
	if got := p.Conns(); got != 5 {
		t.Fatalf("Conns() = %d, want 5", got)
	}
}
