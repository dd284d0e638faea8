package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/testkit/bench"
)

func smallMessage() []byte {
	var b bytes.Buffer
	b.ReadFrom(bench.Message(user, rcpt, 2048))
	return b.Bytes()
}

// pair measures gsendmail and msmtp alternately n times with the same
// message.
func (h *harness) pair(n int, g, m client, msg []byte, extra ...string) (gs, ms bench.Series, err error) {
	err = bench.Alternate(n, func(int) error {
		s, err := h.sendSettled(g, msg, extra...)
		gs.Add(s)
		return err
	}, func(int) error {
		s, err := h.sendSettled(m, msg, extra...)
		ms.Add(s)
		return err
	})
	return gs, ms, err
}

// sendSettled sends msg and then gives Postfix up to settleWait to
// deliver it, so that the server's background work (cleanup, qmgr, pipe)
// overlaps the next measured run less on a 2-core machine. It does not
// wait longer: Postfix's qmgr often takes seconds to pick a message up,
// which would blow the 10-minute budget.
func (h *harness) sendSettled(c client, msg []byte, extra ...string) (bench.Sample, error) {
	before := h.delivered()
	s, err := c.send(h.ctx, bytes.NewReader(msg), extra...)
	if err != nil {
		return s, err
	}
	h.settle(before+1, settleWait)
	return s, nil
}

const settleWait = 250 * time.Millisecond

// delivered counts captured messages.
func (h *harness) delivered() int {
	ents, _ := os.ReadDir(h.srv.CaptureDir)
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".msg") {
			n++
		}
	}
	return n
}

// settle waits until at least n messages were delivered or d passed.
func (h *harness) settle(n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for h.delivered() < n && time.Now().Before(deadline) && h.ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

func ms(x float64) string { return fmt.Sprintf("%.1f ms", x) }

// small: one small message over 587 STARTTLS and 465 implicit TLS, AUTH
// PLAIN, straight to Postfix.
func (h *harness) small() ([]bench.Row, []string, error) {
	var rows []bench.Row
	msg := smallMessage()
	for _, p := range []struct {
		name     string
		addr     string
		implicit bool
	}{
		{"587 STARTTLS + PLAIN", h.srv.SubmissionAddr, false},
		{"465 implicit TLS + PLAIN", h.srv.SMTPSAddr, true},
	} {
		a := account{addr: p.addr, implicit: p.implicit}
		g, m := h.gsendmail(a), h.msmtp(a)
		gs, mss, err := h.pair(h.o.n, g, m, msg)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows,
			bench.Row{Scenario: "one small message, " + p.name + ": wall", G: ms(gs.WallMs()), M: ms(mss.WallMs()),
				Ratio: bench.Ratio(gs.WallMs(), mss.WallMs()), Target: "≤ 1.0", Met: bench.YesNo(gs.WallMs() <= mss.WallMs())},
			bench.Row{Scenario: "one small message, " + p.name + ": CPU user+sys", G: ms(gs.CPUMs()), M: ms(mss.CPUMs()),
				Ratio: bench.Ratio(gs.CPUMs(), mss.CPUMs()), Target: "≤ 1.0", Met: bench.YesNo(gs.CPUMs() <= mss.CPUMs())},
		)
	}
	return rows, nil, nil
}

// roundTrips: the same small message through a proxy that delays every
// chunk by D each way; (wall with D − wall without) ÷ 2D is the number of
// round trips a submission waits for.
func (h *harness) roundTrips() ([]bench.Row, []string, error) {
	var rows []bench.Row
	var notes []string
	msg := smallMessage()
	d := h.o.delay
	n := max(h.o.n/2, 5)
	for _, p := range []struct {
		name     string
		addr     string
		implicit bool
	}{
		{"587 STARTTLS", h.srv.SubmissionAddr, false},
		{"465 implicit TLS", h.srv.SMTPSAddr, true},
	} {
		px, err := bench.NewDelayProxy(p.addr, 0)
		if err != nil {
			return nil, nil, err
		}
		a := account{addr: px.Addr, implicit: p.implicit}
		g, m := h.gsendmail(a), h.msmtp(a)
		var g0, m0, gd, md bench.Series
		err = bench.Alternate(n, func(int) error {
			px.SetDelay(0)
			s, err := h.sendSettled(g, msg)
			g0.Add(s)
			if err != nil {
				return err
			}
			px.SetDelay(d)
			s, err = h.sendSettled(g, msg)
			gd.Add(s)
			return err
		}, func(int) error {
			px.SetDelay(0)
			s, err := h.sendSettled(m, msg)
			m0.Add(s)
			if err != nil {
				return err
			}
			px.SetDelay(d)
			s, err = h.sendSettled(m, msg)
			md.Add(s)
			return err
		})
		px.Close()
		if err != nil {
			return nil, nil, err
		}
		rtt := 2 * float64(d) / 1e6
		gr := (gd.WallMs() - g0.WallMs()) / rtt
		mr := (md.WallMs() - m0.WallMs()) / rtt
		rows = append(rows, bench.Row{
			Scenario: fmt.Sprintf("round trips per submission, %s (proxy +%s each way, %d runs each)", p.name, d, n),
			G:        fmt.Sprintf("%.1f", gr), M: fmt.Sprintf("%.1f", mr),
			Ratio: bench.Ratio(gr, mr), Target: "≥ 1 fewer than msmtp", Met: bench.YesNo(gr <= mr-1+0.25),
		})
		notes = append(notes, fmt.Sprintf("- round trips, %s: gsendmail %s → %s with the delay, msmtp %s → %s (medians; the proxy models TCP connect + greeting as 2 round trips for both).",
			p.name, ms(g0.WallMs()), ms(gd.WallMs()), ms(m0.WallMs()), ms(md.WallMs())))
	}
	return rows, notes, nil
}

// oauth: token-endpoint requests for 100 sequential sends with a cached
// token, and for 20 processes started together with an expired token.
func (h *harness) oauth() ([]bench.Row, []string, error) {
	const sends, procs = 100, 20
	msg := smallMessage()
	a := account{addr: h.srv.SMTPSAddr, implicit: true, oauth: true}
	g, m := h.gsendmail(a), h.msmtp(a)
	var gReq, mReq, gFirst int
	err := bench.Alternate(sends, func(i int) error {
		before := h.as.TokenRequests()
		_, err := g.send(h.ctx, bytes.NewReader(msg))
		got := h.as.TokenRequests() - before
		if i == 0 {
			gFirst = got
		} else {
			gReq += got
		}
		return err
	}, func(int) error {
		before := h.as.TokenRequests()
		_, err := m.send(h.ctx, bytes.NewReader(msg))
		mReq += h.as.TokenRequests() - before
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	rows := []bench.Row{{
		Scenario: "OAuth2 XOAUTH2, token cached: token-endpoint requests per 100 sends",
		G:        fmt.Sprintf("%d (first send) + %d (other 99)", gFirst, gReq), M: fmt.Sprintf("%d", mReq),
		Ratio: bench.Ratio(float64(gFirst+gReq), float64(mReq)), Target: "0 after the first", Met: bench.YesNo(gReq == 0),
	}}

	// 20 processes at once, the access token in the cache expired.
	g2 := h.gsendmail(a)
	if err := expiredCache(g2.state); err != nil {
		return nil, nil, err
	}
	gCount, err := h.together(procs, g2, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("gsendmail, %d at once: %w", procs, err)
	}
	mCount, err := h.together(procs, h.msmtp(a), msg)
	if err != nil {
		return nil, nil, fmt.Errorf("msmtp, %d at once: %w", procs, err)
	}
	rows = append(rows, bench.Row{
		Scenario: "OAuth2: 20 processes start together, access token expired: token-endpoint requests",
		G:        fmt.Sprint(gCount), M: fmt.Sprint(mCount),
		Ratio: bench.Ratio(float64(gCount), float64(mCount)), Target: "exactly 1", Met: bench.YesNo(gCount == 1),
	})
	return rows, nil, nil
}

// expiredCache finds where gsendmail keeps its access-token cache under
// state and writes an expired token there, as a previous run would have
// left it an hour ago.
func expiredCache(state string) error {
	dir := filepath.Join(state, "gsendmail", "cache")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(state, "gsendmail"), dir} {
		os.Chmod(d, 0o700)
	}
	exp := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	return os.WriteFile(filepath.Join(dir, "b.json"), []byte(fmt.Sprintf(`{"access_token":"expired-access-token","expiry":%q,"token_type":"Bearer"}`+"\n", exp)), 0o600)
}

// together starts n sends at the same moment and returns the number of
// token-endpoint requests they made.
func (h *harness) together(n int, c client, msg []byte) (int, error) {
	before := h.as.TokenRequests()
	var wg sync.WaitGroup
	errs := make([]error, n)
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, errs[i] = c.send(h.ctx, bytes.NewReader(msg))
		}()
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return h.as.TokenRequests() - before, nil
}

// memory: peak RSS for 1 KB, 1 MB, 50 MB and 1 GB messages piped on
// stdin (generated on the fly; the harness holds no copy). The target is
// msmtp's own figure at the same size; the 50 MB row's wall time is the
// throughput check.
func (h *harness) memory() ([]bench.Row, []string, error) {
	a := account{addr: h.srv.SMTPSAddr, implicit: true}
	g, m := h.gsendmail(a), h.msmtp(a)
	if h.o.vs != "" {
		m = h.gsendmail(a)
		m.bin, _ = filepath.Abs(h.o.vs)
	}
	sizes := []struct {
		name  string
		bytes int64
		runs  int
	}{{"1 KB", 1 << 10, 5}, {"1 MB", 1 << 20, 3}, {"50 MB", 50 << 20, 3}, {"1 GB", 1 << 30, 1}}
	if !h.o.big {
		sizes = sizes[:3]
	}
	var rows []bench.Row
	walls := []string{}
	load := loadAverage()
	for _, sz := range sizes {
		if h.o.runs > 0 {
			sz.runs = h.o.runs
		}
		var gs, mss bench.Series
		err := bench.Alternate(sz.runs, func(int) error {
			s, _, err := bench.RunRSS(h.ctx, g.cmd(h.ctx, rcpt), bench.Message(user, rcpt, sz.bytes), h.root)
			gs.Add(s)
			return err
		}, func(int) error {
			s, _, err := bench.RunRSS(h.ctx, m.cmd(h.ctx, rcpt), bench.Message(user, rcpt, sz.bytes), h.root)
			mss.Add(s)
			return err
		})
		h.clearCaptures()
		if err != nil {
			return nil, nil, err
		}
		gk, mk := gs.RSSKB(), mss.RSSKB()
		rows = append(rows, bench.Row{
			Scenario: fmt.Sprintf("peak memory (max RSS), %s message (%d runs each; wall %s vs %s)", sz.name, sz.runs, ms(gs.WallMs()), ms(mss.WallMs())),
			G:        fmt.Sprintf("%.0f KB", gk), M: fmt.Sprintf("%.0f KB", mk),
			Ratio: bench.Ratio(gk, mk), Target: "≤ msmtp", Met: bench.YesNo(gk <= mk),
		})
		walls = append(walls, fmt.Sprintf("%s %s vs %s (%s)", sz.name, ms(gs.WallMs()), ms(mss.WallMs()), bench.Ratio(gs.WallMs(), mss.WallMs())))
	}
	extra := []string{fmt.Sprintf("- peak memory rows: wall medians gsendmail vs msmtp (ratio g/m): %s; load average %s at the start, %s at the end.",
		strings.Join(walls, ", "), load, loadAverage())}
	return rows, extra, nil
}

// loadAverage is the 1-minute load average, which the memory rows' walls
// depend on (the machine may be shared).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// startup: --version and a --pretend run, no network.
func (h *harness) startup() ([]bench.Row, []string, error) {
	a := account{addr: h.srv.SubmissionAddr}
	g, m := h.gsendmail(a), h.msmtp(a)
	msg := smallMessage()
	n := max(h.o.n, 30)
	var rows []bench.Row
	for _, sc := range []struct {
		name  string
		gargs []string
		margs []string
		stdin bool
	}{
		{"--version", []string{"--version"}, []string{"--version"}, false},
		{"--pretend", []string{"--pretend", rcpt}, []string{"--pretend", rcpt}, true},
	} {
		var gs, mss bench.Series
		err := bench.Alternate(n, func(int) error {
			cmd := g.cmd(h.ctx, sc.gargs...)
			s, err := bench.Run(h.ctx, cmd, bytes.NewReader(msg))
			gs.Add(s)
			return err
		}, func(int) error {
			cmd := m.cmd(h.ctx, sc.margs...)
			s, err := bench.Run(h.ctx, cmd, bytes.NewReader(msg))
			mss.Add(s)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		var gr, mr bench.Series
		err = bench.Alternate(5, func(int) error {
			s, _, err := bench.RunRSS(h.ctx, g.cmd(h.ctx, sc.gargs...), bytes.NewReader(msg), h.root)
			gr.Add(s)
			return err
		}, func(int) error {
			s, _, err := bench.RunRSS(h.ctx, m.cmd(h.ctx, sc.margs...), bytes.NewReader(msg), h.root)
			mr.Add(s)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows,
			bench.Row{Scenario: "startup " + sc.name + ": wall", G: ms(gs.WallMs()), M: ms(mss.WallMs()),
				Ratio: bench.Ratio(gs.WallMs(), mss.WallMs()), Target: "within 2 ms of msmtp", Met: bench.YesNo(gs.WallMs()-mss.WallMs() <= 2)},
			bench.Row{Scenario: "startup " + sc.name + ": max RSS", G: fmt.Sprintf("%.0f KB", gr.RSSKB()), M: fmt.Sprintf("%.0f KB", mr.RSSKB()),
				Ratio: bench.Ratio(gr.RSSKB(), mr.RSSKB()), Target: "reported", Met: "n/a"},
		)
	}
	return rows, nil, nil
}

// queueFlush: N messages queued with internal/queue, then one `gsendmail
// -q`; against a loop of one msmtp process per message (what msmtpq does).
// Connections are counted by a zero-delay proxy.
func (h *harness) queueFlush() ([]bench.Row, []string, error) {
	px, err := bench.NewDelayProxy(h.srv.SMTPSAddr, 0)
	if err != nil {
		return nil, nil, err
	}
	defer px.Close()
	qdir := h.tempDir("queue")
	a := account{addr: px.Addr, implicit: true, queueDir: qdir}
	g, m := h.gsendmail(a), h.msmtp(a)
	cfgPath := ""
	for _, e := range g.env {
		if v, ok := strings.CutPrefix(e, "GSENDMAIL_CONFIG="); ok {
			cfgPath = v
		}
	}
	q, err := queue.Open(qdir)
	if err != nil {
		return nil, nil, err
	}
	msg := smallMessage()
	// Entries carry Attempts: 1, so they are not due yet; -qf sends them now
	// (since a41a200 plain -q sends only what is due).
	for i := 0; i < h.o.queued; i++ {
		if _, err := q.Enqueue(queue.Entry{Account: "b", ConfigPath: cfgPath, From: user, To: []string{rcpt}, Attempts: 1, LastError: "bench"}, bytes.NewReader(msg)); err != nil {
			return nil, nil, err
		}
	}
	c0 := px.Conns()
	gs, err := bench.Run(h.ctx, g.cmd(h.ctx, "-qf"), nil)
	if err != nil {
		return nil, nil, err
	}
	gConns := px.Conns() - c0
	left, err := q.List()
	if err != nil {
		return nil, nil, err
	}
	if len(left) != 0 {
		return nil, nil, fmt.Errorf("gsendmail -qf left %d of %d messages queued (%s)", len(left), h.o.queued, left[0].LastError)
	}
	h.clearCaptures()
	c0 = px.Conns()
	start := time.Now()
	for i := 0; i < h.o.msmtpLoop; i++ {
		if _, err := m.send(h.ctx, bytes.NewReader(msg)); err != nil {
			return nil, nil, err
		}
	}
	mWall := time.Since(start)
	mConns := px.Conns() - c0
	gRate := float64(h.o.queued) / gs.Wall.Seconds()
	mRate := float64(h.o.msmtpLoop) / mWall.Seconds()
	rows := []bench.Row{{
		Scenario: fmt.Sprintf("queue flush into Postfix: gsendmail -qf with %d queued vs msmtp once per message (%d messages, rate extrapolated)", h.o.queued, h.o.msmtpLoop),
		G:        fmt.Sprintf("%.0f msg/s, %d connection(s), %s total", gRate, gConns, gs.Wall.Round(time.Millisecond)),
		M:        fmt.Sprintf("%.0f msg/s, %d connections, %s for %d", mRate, mConns, mWall.Round(time.Millisecond), h.o.msmtpLoop),
		Ratio:    fmt.Sprintf("%.1f× faster", gRate/mRate), Target: "≥ 10× msmtp's rate", Met: bench.YesNo(gRate >= 10*mRate),
	}}
	return rows, nil, nil
}
