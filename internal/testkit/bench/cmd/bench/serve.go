package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/bench"
)

// The serve scenarios (issue 12): one long-lived SMTP client sending many
// messages through `gsendmail serve` into Postfix 587 (STARTTLS + PLAIN),
// against msmtpd relaying each message through one msmtp run, and against
// the same client talking to Postfix itself; the latency a warm upstream
// session adds, in round trips of the delay proxy; and 50 concurrent
// clients for delivery, the daemon's peak RSS and its upstream sessions.

// smtplibClient is Python's smtplib on one connection: n messages, each
// timed, after warm untimed ones. With SMTP_USER set it does STARTTLS and
// AUTH first (the direct path). It prints {"total": s, "times": [s...]}.
const smtplibClient = `
import json, os, smtplib, ssl, sys, time
host, port, n, sender, rcpt, msgfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
warm = int(os.environ.get('WARM', '0'))
msg = open(msgfile, 'rb').read()
s = smtplib.SMTP(host, port, local_hostname='client.gsendmail.test', timeout=300)
if os.environ.get('SMTP_USER'):
    s.starttls(context=ssl.create_default_context(cafile=os.environ['SMTP_CA']))
    s.ehlo('client.gsendmail.test')
    s.login(os.environ['SMTP_USER'], os.environ['SMTP_PASS'])
for i in range(warm):
    s.sendmail(sender, [rcpt], msg)
times = []
t0 = time.monotonic()
for i in range(n):
    a = time.monotonic()
    s.sendmail(sender, [rcpt], msg)
    times.append(time.monotonic() - a)
total = time.monotonic() - t0
s.quit()
print(json.dumps({"total": total, "times": times}))
`

type smtplibResult struct {
	Total float64   `json:"total"`
	Times []float64 `json:"times"`
}

func (r smtplibResult) rate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(len(r.Times)) / r.Total
}

func (r smtplibResult) medianMs() float64 {
	xs := make([]float64, len(r.Times))
	for i, x := range r.Times {
		xs[i] = x * 1000
	}
	return bench.Median(xs)
}

const debianPython = "/usr/bin/python3"

// smtplib runs the client against addr; auth selects STARTTLS + AUTH.
func (h *harness) smtplib(addr string, n, warm int, auth bool) (smtplibResult, error) {
	var r smtplibResult
	script := filepath.Join(h.root, "smtplib_client.py")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, []byte(smtplibClient), 0o600); err != nil {
			return r, err
		}
	}
	msgFile := filepath.Join(h.root, "small.eml")
	if _, err := os.Stat(msgFile); err != nil {
		if err := os.WriteFile(msgFile, smallMessage(), 0o600); err != nil {
			return r, err
		}
	}
	host, port := hostPort(addr)
	cmd := exec.CommandContext(h.ctx, debianPython, script, host, port, strconv.Itoa(n), user, rcpt, msgFile)
	cmd.Env = append(baseEnv(h.root), "WARM="+strconv.Itoa(warm))
	if auth {
		cmd.Env = append(cmd.Env, "SMTP_USER="+user, "SMTP_PASS="+pass, "SMTP_CA="+h.srv.CAFile)
	}
	s, err := bench.Run(h.ctx, cmd, nil)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(s.Stdout, &r); err != nil {
		return r, fmt.Errorf("smtplib client output %q: %v", s.Stdout, err)
	}
	return r, nil
}

// daemonProc is a server process the harness started (serve or msmtpd).
type daemonProc struct {
	cmd    *exec.Cmd
	addr   string
	errb   *strings.Builder
	mu     *sync.Mutex
	exited chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startDaemon(cmd *exec.Cmd, addr string) (*daemonProc, error) {
	d := &daemonProc{cmd: cmd, addr: addr, errb: &strings.Builder{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	cmd.Stderr = lockedWriter{d.mu, d.errb}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := d.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited before listening: %s", cmd.Path, d.stderr())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("%s did not listen on %s: %s", cmd.Path, addr, d.stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemonProc) stderr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.errb.String()
}

// vmHWM is the process's peak resident set size in KB (/proc/PID/status).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

func (d *daemonProc) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// startServe runs `gsendmail serve` for an account on upstream (587
// STARTTLS + PLAIN) with the extra [serve] keys.
func (h *harness) startServe(upstream, serveKeys string) (*daemonProc, error) {
	g := h.gsendmail(account{addr: upstream})
	var cfg string
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "GSENDMAIL_CONFIG="); ok {
			cfg = v
		}
	}
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n[serve]\n%s\n", serveKeys)
	f.Close()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.gs, "serve", "--listen", addr)
	cmd.Env = g.env
	return startDaemon(cmd, addr)
}

// msmtpd extracts msmtpd from Debian's msmtp-mta (apt-get download +
// dpkg-deb -x into a cache directory; installing msmtp-mta would replace
// the machine's MTA) and returns its path.
func (h *harness) msmtpdPath() (string, error) {
	base := filepath.Join(os.TempDir(), "gsendmail-bench-msmtp-mta")
	if os.Geteuid() == 0 {
		base = "/var/cache/gsendmail-bench/msmtp-mta"
	}
	ver := strings.TrimSpace(firstOut("dpkg-query", "-W", "-f=${Version}", "msmtp"))
	dir := filepath.Join(base, ver)
	bin := filepath.Join(dir, "root", "usr", "bin", "msmtpd")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dl := exec.CommandContext(h.ctx, "apt-get", "download", "msmtp-mta="+ver)
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download msmtp-mta=%s: %v: %s", ver, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "msmtp-mta_*.deb"))
	if len(debs) == 0 {
		return "", errors.New("apt-get download msmtp-mta left no .deb")
	}
	if out, err := exec.CommandContext(h.ctx, "dpkg-deb", "-x", debs[0], filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", debs[0], err, out)
	}
	return bin, nil
}

func (h *harness) startMsmtpd(upstream string) (*daemonProc, error) {
	bin, err := h.msmtpdPath()
	if err != nil {
		return nil, err
	}
	m := h.msmtp(account{addr: upstream})
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port := hostPort(addr)
	cmd := exec.Command(bin, "--interface=127.0.0.1", "--port="+port,
		fmt.Sprintf("--command=%s %s -f %%F --", h.ms, strings.Join(m.args, " ")))
	cmd.Env = m.env
	return startDaemon(cmd, addr)
}

// serveThroughput: 1,000 messages on one connection through serve, 100
// through msmtpd (rate extrapolated: each costs one msmtp run), 1,000
// straight to Postfix.
func (h *harness) serveThroughput() ([]bench.Row, []string, error) {
	const n, nMsmtpd = 1000, 100
	if _, err := os.Stat(debianPython); err != nil {
		return nil, nil, errors.New("/usr/bin/python3 not found: run internal/testkit/testenv/install-deps.sh as root")
	}
	sv, err := h.startServe(h.srv.SubmissionAddr, "")
	if err != nil {
		return nil, nil, err
	}
	rs, err := h.smtplib(sv.addr, n, 1, false)
	sv.stop()
	h.clearCaptures()
	if err != nil {
		return nil, nil, fmt.Errorf("through serve: %w (serve: %s)", err, sv.stderr())
	}
	md, err := h.startMsmtpd(h.srv.SubmissionAddr)
	if err != nil {
		return nil, nil, err
	}
	rm, err := h.smtplib(md.addr, nMsmtpd, 1, false)
	md.stop()
	h.clearCaptures()
	if err != nil {
		return nil, nil, fmt.Errorf("through msmtpd: %w (msmtpd: %s)", err, md.stderr())
	}
	rd, err := h.smtplib(h.srv.SubmissionAddr, n, 1, true)
	h.clearCaptures()
	if err != nil {
		return nil, nil, fmt.Errorf("straight to Postfix: %w", err)
	}
	gs, mr, dr := rs.rate(), rm.rate(), rd.rate()
	rows := []bench.Row{
		{
			Scenario: fmt.Sprintf("serve throughput: %d small messages from one smtplib connection into Postfix 587 STARTTLS + PLAIN; msmtp column = msmtpd + one msmtp per message (%d messages)", n, nMsmtpd),
			G:        fmt.Sprintf("%.0f msg/s (%.1fs)", gs, rs.Total), M: fmt.Sprintf("%.1f msg/s", mr),
			Ratio: fmt.Sprintf("%.1f×", gs/mr), Target: "≥ 10× msmtpd", Met: bench.YesNo(gs >= 10*mr),
		},
		{
			Scenario: fmt.Sprintf("serve throughput vs the same smtplib client straight to Postfix 587 (STARTTLS + AUTH, %d messages); msmtp column = direct", n),
			G:        fmt.Sprintf("%.0f msg/s", gs), M: fmt.Sprintf("%.0f msg/s (%.1fs)", dr, rd.Total),
			Ratio: bench.Ratio(gs, dr), Target: "≥ 0.7× direct", Met: bench.YesNo(gs >= 0.7*dr),
		},
	}
	notes := []string{fmt.Sprintf("- serve throughput: median per-message time %s through serve, %s through msmtpd, %s direct (smtplib sendmail() call to its return).",
		ms(rs.medianMs()), ms(rm.medianMs()), ms(rd.medianMs()))}
	return rows, notes, nil
}

// serveLatency: one message on an open client connection, serve's upstream
// session warm, vs the client on an open authenticated connection to
// Postfix, both through the delay proxy with D and with 0; round trips =
// (median with D − median with 0) ÷ 2D.
func (h *harness) serveLatency() ([]bench.Row, []string, error) {
	const n, warm = 20, 3
	d := h.o.delay
	measure := func(delay time.Duration) (serveMs, directMs float64, err error) {
		px, err := bench.NewDelayProxy(h.srv.SubmissionAddr, delay)
		if err != nil {
			return 0, 0, err
		}
		defer px.Close()
		sv, err := h.startServe(px.Addr, "upstream_idle = \"60s\"")
		if err != nil {
			return 0, 0, err
		}
		rs, err := h.smtplib(sv.addr, n, warm, false)
		sv.stop()
		if err != nil {
			return 0, 0, fmt.Errorf("through serve: %w (serve: %s)", err, sv.stderr())
		}
		rd, err := h.smtplib(px.Addr, n, warm, true)
		if err != nil {
			return 0, 0, fmt.Errorf("direct: %w", err)
		}
		h.clearCaptures()
		return rs.medianMs(), rd.medianMs(), nil
	}
	s0, d0, err := measure(0)
	if err != nil {
		return nil, nil, err
	}
	sd, dd, err := measure(d)
	if err != nil {
		return nil, nil, err
	}
	rtt := 2 * float64(d) / 1e6
	sr, dr := (sd-s0)/rtt, (dd-d0)/rtt
	rows := []bench.Row{{
		Scenario: fmt.Sprintf("serve latency per message, upstream session warm (proxy +%s each way, %d messages); msmtp column = smtplib on an open session straight to Postfix", d, n),
		G:        fmt.Sprintf("%.1f round trips", sr), M: fmt.Sprintf("%.1f round trips", dr),
		Ratio: bench.Ratio(sr, dr), Target: "≤ 1 round trip more than direct", Met: bench.YesNo(sr <= dr+1),
	}}
	notes := []string{fmt.Sprintf("- serve latency: through serve %s → %s with the delay, direct %s → %s (medians per message; smtplib does not pipeline, so its own MAIL, RCPT, DATA and end of data cost 4 round trips on the direct path; through serve the local side is free and the warm upstream session costs the RSET probe internal/serve sends before reusing it plus one pipelined MAIL + RCPT + BDAT, 2 round trips; against gsendmail's own pipelined transaction that probe is the 1 round trip serve adds).",
		ms(s0), ms(sd), ms(d0), ms(dd))}
	return rows, notes, nil
}

// serveConcurrency: 50 clients × 20 messages at once through serve into
// Postfix; all must arrive; the daemon's VmHWM and the most upstream
// connections open at once (counted by a D = 0 proxy) are reported.
func (h *harness) serveConcurrency() ([]bench.Row, []string, error) {
	const clients, each, limit = 50, 20, 2
	px, err := bench.NewDelayProxy(h.srv.SubmissionAddr, 0)
	if err != nil {
		return nil, nil, err
	}
	defer px.Close()
	sv, err := h.startServe(px.Addr, fmt.Sprintf("upstream_sessions = %d", limit))
	if err != nil {
		return nil, nil, err
	}
	msg := smallMessage()
	before := h.delivered()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(sv.addr)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			if err := cl.Hello("client.gsendmail.test"); err != nil {
				errs <- err
				return
			}
			for i := 0; i < each; i++ {
				if err := sendNetSMTP(cl, msg); err != nil {
					errs <- fmt.Errorf("client %d message %d: %w", c, i, err)
					return
				}
			}
			_ = cl.Quit()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	rss := vmHWM(sv.cmd.Process.Pid)
	sv.stop()
	for err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("concurrent clients: %w (serve: %s)", err, sv.stderr())
		}
	}
	h.settle(before+clients*each, 120*time.Second)
	got := h.delivered() - before
	h.clearCaptures()
	peak := px.Peak()
	ok := got == clients*each && rss <= 64<<10 && peak <= limit
	rows := []bench.Row{{
		Scenario: fmt.Sprintf("serve: %d concurrent clients × %d messages into Postfix 587 (upstream_sessions = %d)", clients, each, limit),
		G: fmt.Sprintf("%d/%d delivered in %.1fs, daemon peak RSS %.1f MB, at most %d upstream connections at once (%d in all)",
			got, clients*each, wall.Seconds(), float64(rss)/1024, peak, px.Conns()),
		M: "n/a", Ratio: "n/a", Target: "all delivered, ≤ 64 MB, ≤ upstream_sessions", Met: bench.YesNo(ok),
	}}
	return rows, nil, nil
}

func sendNetSMTP(cl *smtp.Client, msg []byte) error {
	if err := cl.Mail(user); err != nil {
		return err
	}
	if err := cl.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}
