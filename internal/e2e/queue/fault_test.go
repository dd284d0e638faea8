package queue_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ptRefused = "connect-refused"

// wantExit is the exit code gsendmail must give without a queue, from
// internal/smtp's mapping (errors.go): every 4xx, dropped connection and
// timeout is 75; a 5xx is 69 on the greeting and the mail transaction, 78
// when it refuses our EHLO, 76 on STARTTLS, 77 on AUTH. A failure after the
// server accepted the message (QUIT) is not a failure of the submission.
func wantExit(point, reply string) int {
	if point == ptQUIT {
		return 0
	}
	if reply != "554" {
		return 75
	}
	switch point {
	case ptEHLO, ptEHLO2:
		return 78
	case ptSTARTTLS:
		return 76
	case ptAUTH:
		return 77
	}
	return 69
}

type matrixRow struct {
	variant, point, reply string
	queue                 bool
	exit                  int
	outcome               string
	afterFlush            int // times the server accepted it in the end
}

// TestFaultMatrixNeverLosesAMessage fails each step of a submission in
// each way a server or network can, with the queue on and off, and checks
// the reliability contract for every cell: the message is accepted by the
// server, or durably queued (exit 0), or reported to the caller with a
// non-zero exit; queued messages arrive exactly once after "gsendmail -q";
// permanent failures are never queued.
func TestFaultMatrixNeverLosesAMessage(t *testing.T) {
	serverTLS, trust := selfSigned(t)
	replies := []string{"drop", "421", "451", "452", "554"}
	type variant struct {
		name     string
		tls      bool
		chunking bool
		points   []string
	}
	variants := []variant{
		{"plain", false, false, []string{ptRefused, ptAcceptClose, ptGreetHang, ptGreeting, ptEHLO, ptAUTH, ptMAIL, ptRCPT, ptDATA, ptDot, ptQUIT}},
		{"starttls", true, false, []string{ptSTARTTLS, ptEHLO2, ptAUTH, ptMAIL, ptRCPT, ptDATA, ptDot}},
		{"pipelining+chunking", false, true, []string{ptMAIL, ptRCPT, ptBDAT}},
	}
	var rows []*matrixRow
	// Cells run in parallel (each has its own server and queue); the
	// group returns when all are done.
	t.Run("cells", func(t *testing.T) {
		for _, v := range variants {
			for _, point := range v.points {
				rs := replies
				switch point {
				case ptRefused:
					rs = []string{"refuse"}
				case ptAcceptClose:
					rs = []string{"drop"}
				case ptGreetHang:
					rs = []string{"hang"}
				case ptQUIT:
					rs = []string{"drop", "421", "554"}
				}
				for _, reply := range rs {
					for _, q := range []bool{false, true} {
						row := &matrixRow{variant: v.name, point: point, reply: reply, queue: q}
						rows = append(rows, row)
						marker := fmt.Sprintf("fault-%d", len(rows))
						name := fmt.Sprintf("%s/%s/%s/queue=%v", v.name, point, reply, q)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							*row = runFaultCell(t, *row, v.tls, v.chunking, serverTLS, trust, marker)
							if t.Failed() && row.outcome != "LOST" {
								row.outcome += "(FAIL)"
							}
						})
					}
				}
			}
		}
	})
	lost := 0
	for _, r := range rows {
		if r.outcome == "LOST" {
			lost++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-20s %-16s %-6s %-5s %-4s %-9s %s\n", "variant", "point", "reply", "queue", "exit", "outcome", "accepted after flush")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-20s %-16s %-6s %-5v %-4d %-15s %d\n", r.variant, r.point, r.reply, r.queue, r.exit, r.outcome, r.afterFlush)
	}
	fmt.Fprintf(&b, "cells=%d lost=%d", len(rows), lost)
	t.Log(b.String())
	if lost != 0 {
		t.Errorf("%d message(s) lost", lost)
	}
}

func runFaultCell(t *testing.T, row matrixRow, useTLS, chunking bool, serverTLS *tls.Config, trust, marker string) matrixRow {
	f := fault{point: row.point, reply: row.reply}
	var srv *faultServer
	port := 0
	if row.point == ptRefused {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close() // nothing listens there now
	} else {
		srv = startFaultServer(t, tlsOrNil(useTLS, serverTLS), chunking, f)
		port = srv.port()
	}
	extra := ""
	if row.queue {
		extra = "queue = true"
	}
	timeout := "5s"
	if row.point == ptGreetHang {
		timeout = "1s"
	}
	cfg := plainConfigTimeout(port, timeout, extra)
	if useTLS {
		cfg = tlsConfig(port, "starttls", trust, extra)
	}
	h := newHome(t, cfg)
	r := h.run(t, message(marker), "-i", rcptAddr)
	row.exit = r.Code

	accepted := 0
	if srv != nil {
		accepted = srv.count(marker)
	}
	queued := queuedMarkers(t, h.queueDir())
	inQueue := queued[marker]
	switch {
	case accepted > 0:
		row.outcome = "accepted"
	case inQueue > 0:
		row.outcome = "queued"
	case r.Code != 0:
		row.outcome = "reported"
	default:
		row.outcome = "LOST"
	}
	row.afterFlush = accepted

	temp := wantExit(row.point, row.reply) == 75
	want := wantExit(row.point, row.reply)
	if row.queue && temp {
		want = 0
	}
	if r.Code != want {
		t.Errorf("exit %d, want %d; stderr %q", r.Code, want, r.Stderr)
	}
	if accepted > 1 {
		t.Errorf("server accepted the message %d times", accepted)
	}
	if accepted > 0 && inQueue > 0 {
		t.Errorf("message both accepted and queued: it would be sent twice")
	}
	wantQueued := row.queue && temp && accepted == 0
	if (inQueue > 0) != wantQueued {
		t.Errorf("in queue %d times, want queued=%v (queue=%v, temporary=%v); stderr %q", inQueue, wantQueued, row.queue, temp, r.Stderr)
	}
	if len(queued) > 1 || inQueue > 1 {
		t.Errorf("queue holds %v, want at most this one message once", queued)
	}
	switch {
	case wantQueued:
		if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 || !strings.Contains(r.Stderr, "queued as") || !strings.Contains(r.Stderr, h.queueDir()) {
			t.Errorf("stderr %q: want one line saying it was queued and where", r.Stderr)
		}
	case r.Code != 0:
		if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 || lines[0] == "" {
			t.Errorf("stderr %q: want one line explaining the failure", r.Stderr)
		}
	}
	if t.Failed() || !wantQueued {
		return row
	}

	// The server recovers: one flush delivers the message exactly once.
	if srv == nil {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("cannot listen on the refused port again: %v", err)
		}
		ln.Close()
		srv = startFaultServerOn(t, port, tlsOrNil(useTLS, serverTLS), chunking, fault{})
	}
	srv.setFault(fault{})
	fr := h.run(t, "", "-qf")
	if fr.Code != 0 {
		t.Errorf("gsendmail -q: exit %d, stderr %q", fr.Code, fr.Stderr)
	}
	row.afterFlush = srv.count(marker)
	if row.afterFlush != 1 {
		t.Errorf("after the flush the server accepted the message %d times, want exactly 1", row.afterFlush)
		row.outcome = "LOST"
	}
	if left := h.queued(t); len(left) != 0 {
		t.Errorf("queue still holds %v after a successful flush", left)
	}
	return row
}

// queuedMarkers maps the marker of each queued message to how often it is
// queued.
func queuedMarkers(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range envIDs(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, id+".msg"))
		if err != nil {
			t.Errorf("queued envelope %s has no message: %v", id, err)
			continue
		}
		out[markerOf(b)]++
	}
	return out
}

func tlsOrNil(on bool, c *tls.Config) *tls.Config {
	if on {
		return c
	}
	return nil
}
