// Command bench is `make bench`: it starts a private Postfix + Dovecot
// (internal/testkit/testenv/mailserver) and a fake OAuth2 authorization server on
// loopback, runs every scenario for gsendmail and msmtp alternately, and
// writes the table of medians and ratios with the machine it ran on.
//
// It never fails on a number: a missed target is a "no" in the table. It
// exits non-zero only when it cannot measure (missing tools, a client that
// fails to send).
//
//	GSENDMAIL_BIN=bin/gsendmail go run ./internal/testkit/bench/cmd/bench -out BENCHMARKS.md
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/bench"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

//go:embed notes.md
var notes string

const (
	user = "bench@gsendmail.test"
	pass = "bench-Pa55word-not-secret"
	rcpt = "someone@example.org"
	ehlo = "client.gsendmail.test"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == tokenHelperArg {
		os.Exit(tokenHelper(os.Args[2:]))
	}
	if len(os.Args) > 2 && os.Args[1] == "-proxy" {
		os.Exit(proxyOnly(os.Args[2]))
	}
	out := flag.String("out", "", "also write the Markdown report to this file")
	n := flag.Int("n", 20, "iterations per client for the per-message scenarios")
	delay := flag.Duration("delay", 25*time.Millisecond, "one-way delay of the round-trip proxy")
	queued := flag.Int("queue", 1000, "messages queued for the flush scenario")
	msmtpLoop := flag.Int("msmtp-loop", 200, "messages in the msmtp-per-message loop (rate extrapolated)")
	big := flag.Bool("big", true, "include the 1 GB message")
	only := flag.String("only", "", "run only the scenarios whose name contains this (debugging)")
	vs := flag.String("vs", "", "memory scenario only: put this other gsendmail binary in msmtp's column (an A/B of a change; the report is not for BENCHMARKS.md)")
	runs := flag.Int("runs", 0, "memory scenario: runs per client and size (0: the defaults, 5/3/3/1)")
	timeout := flag.Duration("timeout", 30*time.Minute, "stop everything after this long (msmtp alone needs minutes for the 1 GB message)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	cfg := options{n: *n, delay: *delay, queued: *queued, msmtpLoop: *msmtpLoop, big: *big, only: *only, vs: *vs, runs: *runs}
	if err := run(ctx, cfg, *out); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	n, queued, msmtpLoop int
	delay                time.Duration
	big                  bool
	only                 string
	vs                   string // memory A/B: another gsendmail binary in msmtp's column
	runs                 int    // memory: runs per size, 0 for the defaults
}

func run(ctx context.Context, o options, outPath string) error {
	gs := os.Getenv("GSENDMAIL_BIN")
	if gs == "" {
		return errors.New("GSENDMAIL_BIN is not set: run `make bench`, or build bin/gsendmail and set GSENDMAIL_BIN to it")
	}
	gs, _ = filepath.Abs(gs)
	ms, err := exec.LookPath("msmtp")
	if err != nil {
		return errors.New("msmtp not found: run internal/testkit/testenv/install-deps.sh as root (make bench does)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "gsendmail-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0o755) // Postfix's pipe user need not read it, but keep it traversable

	as, closeAS := newAuthServer()
	defer closeAS()
	fmt.Fprintln(os.Stderr, "bench: starting Postfix + Dovecot")
	srv, err := mailserver.StartProcess(mailserver.Options{
		Users:             map[string]string{user: pass},
		OAuthTokenInfoURL: as.TokenInfoURL(),
		MessageSizeLimit:  2 << 30, // the 1 GB memory row
	})
	if err != nil {
		return fmt.Errorf("start mail server: %w", err)
	}
	defer srv.Stop()

	h := &harness{ctx: ctx, o: o, gs: gs, ms: ms, self: self, root: root, srv: srv, as: as}
	started := time.Now()
	var rows []bench.Row
	var extra []string
	for _, sc := range []struct {
		name string
		f    func() ([]bench.Row, []string, error)
	}{
		{"small message", h.small},
		{"round trips", h.roundTrips},
		{"oauth2", h.oauth},
		{"memory", h.memory},
		{"startup", h.startup},
		{"queue flush", h.queueFlush},
		{"serve throughput", h.serveThroughput},
		{"serve latency", h.serveLatency},
		{"serve concurrency", h.serveConcurrency},
	} {
		if !strings.Contains(sc.name, o.only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s (%s elapsed)\n", sc.name, time.Since(started).Round(time.Second))
		r, e, err := sc.f()
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rows = append(rows, r...)
		extra = append(extra, e...)
		h.clearCaptures()
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks: gsendmail against msmtp\n\n")
	fmt.Fprintf(&b, "Generated by `make bench` (`GSENDMAIL_BIN=bin/gsendmail go run ./internal/testkit/bench/cmd/bench -out BENCHMARKS.md`) on %s in %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(&b, "Clients run alternately (gsendmail, msmtp, gsendmail, …), %d iterations each per scenario unless the row says otherwise; figures are medians. ", o.n)
	fmt.Fprintf(&b, "Ratios are gsendmail ÷ msmtp (below 1 is better for gsendmail). Benchmarks never fail CI on a number.\n\n")
	fmt.Fprintf(&b, "## Machine\n\n")
	bench.DescribeMachine(ms).Write(&b)
	fmt.Fprintf(&b, "- gsendmail: %s\n\n", firstOut(gs, "--version"))
	fmt.Fprintf(&b, "## Results\n\n")
	bench.WriteTable(&b, rows)
	if len(extra) > 0 {
		fmt.Fprintf(&b, "\n## Measured details\n\n")
		for _, e := range extra {
			fmt.Fprintf(&b, "%s\n", e)
		}
	}
	b.WriteString("\n")
	b.WriteString(notes)
	fmt.Print(b.String())
	if outPath != "" {
		return os.WriteFile(outPath, []byte(b.String()), 0o644)
	}
	return nil
}

func firstOut(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "unknown"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// harness holds what every scenario needs.
type harness struct {
	ctx      context.Context
	o        options
	gs, ms   string
	self     string
	root     string
	srv      *mailserver.Server
	as       authServer
	dirCount int
}

// tempDir is a fresh directory under the run's root.
func (h *harness) tempDir(name string) string {
	h.dirCount++
	d := filepath.Join(h.root, fmt.Sprintf("%s-%d", name, h.dirCount))
	if err := os.MkdirAll(d, 0o700); err != nil {
		panic(err)
	}
	return d
}

// clearCaptures removes delivered messages so big runs do not fill the disk.
func (h *harness) clearCaptures() {
	ents, _ := os.ReadDir(h.srv.CaptureDir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".msg") {
			os.Remove(filepath.Join(h.srv.CaptureDir, e.Name()))
		}
	}
}

// client is one configured client: how to start a send and its state dir.
type client struct {
	bin   string
	args  []string
	env   []string
	state string
}

func (c client) cmd(ctx context.Context, extra ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string(nil), c.args...), extra...)...)
	cmd.Env = c.env
	return cmd
}

func (c client) send(ctx context.Context, msg io.Reader, extra ...string) (bench.Sample, error) {
	return bench.Run(ctx, c.cmd(ctx, append(extra, rcpt)...), msg)
}

// baseEnv is a minimal environment so neither client picks up the
// caller's configuration.
func baseEnv(home string) []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "LANG=C"}
}

// account describes a server endpoint for both clients.
type account struct {
	addr     string // host:port to dial
	implicit bool   // implicit TLS (465) rather than STARTTLS (587)
	oauth    bool   // XOAUTH2 instead of PLAIN with a password
	queueDir string
}

func hostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

// gsendmail writes a 0600 config for a and returns the client.
func (h *harness) gsendmail(a account) client {
	dir := h.tempDir("gsendmail")
	host, port := hostPort(a.addr)
	tls := "starttls"
	if a.implicit {
		tls = "tls"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "default_account = \"b\"\n[account.b]\nhost = %q\nport = %s\ntls = %q\ntls_trust_file = %q\nuser = %q\nfrom = %q\n",
		host, port, tls, h.srv.CAFile, user, user)
	if a.oauth {
		id, secret := h.as.Client()
		tokenFile := filepath.Join(dir, "refresh.json")
		must(os.WriteFile(tokenFile, []byte(fmt.Sprintf("{\"refresh_token\": %q}\n", h.as.RefreshToken())), 0o600))
		fmt.Fprintf(&b, "auth = \"xoauth2\"\noauth_provider = \"generic\"\noauth_client_id = %q\noauth_client_secret = %q\noauth_auth_url = %q\noauth_token_url = %q\noauth_scopes = [\"mail\"]\ntoken_store = \"file\"\ntoken_file = %q\n",
			id, secret, h.as.AuthURL(), h.as.TokenURL(), tokenFile)
	} else {
		fmt.Fprintf(&b, "auth = \"plain\"\npassword = %q\n", pass)
	}
	if a.queueDir != "" {
		fmt.Fprintf(&b, "queue = true\nqueue_dir = %q\n", a.queueDir)
	}
	cfg := filepath.Join(dir, "config.toml")
	must(os.WriteFile(cfg, []byte(b.String()), 0o600))
	env := append(baseEnv(dir), "GSENDMAIL_CONFIG="+cfg)
	return client{bin: h.gs, args: []string{"-i"}, env: env, state: filepath.Join(dir, "state")}
}

// msmtp writes a 0600 msmtprc for a with the same settings: TLS verified
// against the same CA, AUTH PLAIN with an inline password (or XOAUTH2 with a
// passwordeval helper, the only OAuth2 route msmtp has), and a valid EHLO
// name (msmtp's default "localhost" is refused by the strict server).
func (h *harness) msmtp(a account) client {
	dir := h.tempDir("msmtp")
	host, port := hostPort(a.addr)
	starttls := "on"
	if a.implicit {
		starttls = "off"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "account b\nhost %s\nport %s\ntls on\ntls_starttls %s\ntls_trust_file %s\ndomain %s\nuser %s\nfrom %s\nlogfile\n",
		host, port, starttls, h.srv.CAFile, ehlo, user, user)
	if a.oauth {
		id, secret := h.as.Client()
		fmt.Fprintf(&b, "auth xoauth2\npasswordeval %s %s %s %s %s %s\n", h.self, tokenHelperArg, h.as.TokenURL(), id, secret, h.as.RefreshToken())
	} else {
		fmt.Fprintf(&b, "auth plain\npassword %s\n", pass)
	}
	b.WriteString("account default : b\n")
	rc := filepath.Join(dir, "msmtprc")
	must(os.WriteFile(rc, []byte(b.String()), 0o600))
	return client{bin: h.ms, args: []string{"-C", rc}, env: baseEnv(dir), state: dir}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// proxyOnly runs just the delay proxy in front of target until killed, to
// look at a client's timing by hand (strace -r, -v, msmtp --debug):
//
//	go run ./internal/testkit/bench/cmd/bench -proxy 127.0.0.1:465
func proxyOnly(target string) int {
	p, err := bench.NewDelayProxy(target, 25*time.Millisecond)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	fmt.Println(p.Addr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	p.Close()
	return 0
}
