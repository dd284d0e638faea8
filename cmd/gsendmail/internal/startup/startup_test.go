package startup_test

import (
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// The stack grows before the initialisers that would otherwise double it
// deep in their own calls (toml's loads the time zone, go-smtp's and ours
// compile regular expressions): the runtime must initialise this package
// before all of them, or growing it buys nothing.
func TestStackGrowsBeforeTheInitialisersThatNeedIt(t *testing.T) {
	cmd := exec.Command(testbin.Path(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gsendmail --version: %v\n%s", err, out)
	}
	order := map[string]int{}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			order[f[1]] = n
			n++
		}
	}
	self, ok := order["github.com/gsendmail/gsendmail/cmd/gsendmail/internal/startup"]
	if !ok {
		t.Fatalf("no init trace of the startup package in:\n%s", out)
	}
	for _, later := range []string{"time", "regexp", "github.com/BurntSushi/toml/internal", "github.com/emersion/go-smtp", "crypto/tls"} {
		if i, ok := order[later]; ok && i < self {
			t.Errorf("%s is initialised before the startup package (%d < %d)", later, i, self)
		}
	}
}

// schedProcs runs cmd with the scheduler trace on until stop returns, and
// returns the gomaxprocs of every trace line the process printed after
// its first (which may predate the package initialisers).
func schedProcs(t *testing.T, cmd *exec.Cmd, stdin io.Reader, stop func(p *testbin.Proc)) []string {
	t.Helper()
	cmd.Env = append(cmd.Env, "GODEBUG=schedtrace=20")
	p := testbin.Start(t, cmd, stdin)
	stop(p)
	res := p.Wait(30 * time.Second)
	var procs []string
	for _, l := range strings.Split(res.Stderr, "\n") {
		if !strings.HasPrefix(l, "SCHED ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "gomaxprocs="); ok {
				procs = append(procs, v)
			}
		}
	}
	if len(procs) < 2 {
		t.Fatalf("fewer than two scheduler trace lines:\n%s", res.Stderr)
	}
	return procs[1:]
}

// A sendmail run is sequential: it runs on one P, whatever the machine
// has, because a second P costs its own spans and threads.
func TestASendmailRunHasOneP(t *testing.T) {
	cfg := testbin.WriteConfig(t, "[account.a]\nhost = \"127.0.0.1\"\nport = 9\nfrom = \"a@example.org\"\nuser = \"a\"\npassword = \"p\"\n")
	cmd := testbin.Command(t, testbin.Environ([]string{"GOMAXPROCS=", "GODEBUG="}, "GSENDMAIL_CONFIG="+cfg, "HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir()), "-bs")
	in, w := io.Pipe()
	procs := schedProcs(t, cmd, in, func(*testbin.Proc) {
		time.Sleep(300 * time.Millisecond) // an open -bs session: the process waits on stdin
		w.Write([]byte("QUIT\r\n"))
		w.Close()
	})
	for _, n := range procs {
		if n != "1" {
			t.Fatalf("a -bs session ran with gomaxprocs=%s, want 1 (all: %v)", n, procs)
		}
	}
}

// "gsendmail serve" runs sessions in parallel: it gets the Ps the runtime
// would have chosen, honouring GOMAXPROCS as Go programs do.
func TestServeHasTheDefaultPs(t *testing.T) {
	cases := []struct{ env, want string }{{"GOMAXPROCS=3", "3"}}
	if n := runtime.NumCPU(); n > 1 {
		cases = append(cases, struct{ env, want string }{"", strconv.Itoa(n)})
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			cfg := testbin.WriteConfig(t, "[account.a]\nhost = \"127.0.0.1\"\nport = 9\nfrom = \"a@example.org\"\nuser = \"a\"\npassword = \"p\"\n")
			env := testbin.Environ([]string{"GOMAXPROCS=", "GODEBUG="}, "GSENDMAIL_CONFIG="+cfg, "HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir())
			if c.env != "" {
				env = append(env, c.env)
			}
			cmd := testbin.Command(t, env, "serve", "--listen", "127.0.0.1:0")
			procs := schedProcs(t, cmd, nil, func(p *testbin.Proc) {
				time.Sleep(300 * time.Millisecond)
				p.Cmd.Process.Signal(syscall.SIGTERM)
			})
			if got := procs[len(procs)-1]; got != c.want {
				t.Fatalf("serve ran with gomaxprocs=%s, want %s (all: %v)", got, c.want, procs)
			}
		})
	}
}
