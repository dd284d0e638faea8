package interop_test

import (
	"io"
	"mime/quotedprintable"
	"net"
	"os"
	"strings"
	"testing"
)

func decodedBody(t *testing.T, msg string) (header, body string) {
	t.Helper()
	header, raw, ok := strings.Cut(msg, "\n\n")
	if !ok {
		t.Fatalf("no body in %q", msg)
	}
	if !strings.Contains(strings.ToLower(header), "content-transfer-encoding: quoted-printable") {
		return header, raw
	}
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return header, strings.ReplaceAll(string(b), "\r\n", "\n")
}

// Item 3: a line over 998 octets never goes out raw; the server that
// refuses such lines gets the message quoted-printable, meaning intact.
func TestLongLineReachesAServerThatRefusesLongLinesReencoded(t *testing.T) {
	srv := startStrict(t)
	h := newHome(t, plainConfig(srv.port(), ""))
	long := strings.Repeat("0123456789", 150)
	body := "first line\n" + long + "\nlast line\n"
	r := h.run(t, message("long line", body), "-i", rcpt)
	if r.Code != 0 {
		t.Fatalf("send: %s", r)
	}
	got := srv.received()
	if refused, _ := srv.counts(); len(got) != 1 || refused != 0 {
		t.Fatalf("server got %d messages and refused %d lines, want 1 and 0", len(got), refused)
	}
	header, decoded := decodedBody(t, got[0])
	if !strings.Contains(header, "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("not re-encoded:\n%s", header)
	}
	if decoded != body {
		t.Errorf("the decoded body differs from what was sent")
	}
	if _, quit := srv.counts(); quit != 1 {
		t.Errorf("QUIT sent %d times", quit)
	}
}

// Item 3, the refusal: a DKIM-signed message cannot be re-encoded.
func TestLongLineInASignedMessageIsRefusedWith65NamingTheLine(t *testing.T) {
	srv := startStrict(t)
	h := newHome(t, plainConfig(srv.port(), ""))
	msg := strings.Replace(message("signed", strings.Repeat("x", 1200)+"\n"), "Subject:", "DKIM-Signature: v=1; a=rsa-sha256; d=gsendmail.test; s=s; bh=x; b=y\nSubject:", 1)
	r := h.run(t, msg, "-i", rcpt)
	if r.Code != 65 {
		t.Fatalf("want exit 65: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.Contains(r.Stderr, "line 8 of the message is 1200 octets long") || !strings.Contains(r.Stderr, "DKIM-Signature") {
		t.Errorf("stderr %q: want one line naming line 8 and why it cannot be re-encoded", r.Stderr)
	}
	if len(srv.received()) != 0 {
		t.Error("something was sent")
	}
}

// Item 4: an 8-bit body for a server without 8BITMIME (RFC 6152 3).
func TestEightBitBodyIsConvertedForAServerWithout8BITMIME(t *testing.T) {
	srv := startStrict(t)
	h := newHome(t, plainConfig(srv.port(), ""))
	body := "grüße, ça va?\n"
	r := h.run(t, message("eight bit", body), "-i", rcpt)
	if r.Code != 0 {
		t.Fatalf("send: %s", r)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages", len(got))
	}
	for _, c := range []byte(got[0]) {
		if c >= 0x80 {
			t.Fatalf("8-bit data reached a server that does not offer 8BITMIME:\n%s", got[0])
		}
	}
	header, decoded := decodedBody(t, got[0])
	if decoded != body || !strings.Contains(header, "charset=utf-8") {
		t.Errorf("decoded %q, header:\n%s", decoded, header)
	}
}

// Item 4 on the queue's path: a message queued while the server was down
// is converted when the flush finds a server without 8BITMIME.
func TestQueuedEightBitMessageIsConvertedWhenFlushedToAServerWithout8BITMIME(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens: connection refused, a temporary failure
	h := newHome(t, plainConfig(down, "queue = true\n"))
	body := "grüße aus der Warteschlange\n"
	if r := h.run(t, message("queued eight bit", body), "-i", rcpt); r.Code != 0 || len(h.queued(t)) != 1 {
		t.Fatalf("want the message queued: %s", r)
	}
	srv := startStrict(t)
	if err := os.WriteFile(h.cfg, []byte(plainConfig(srv.port(), "queue = true\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := h.run(t, "", "-qf"); r.Code != 0 {
		t.Fatalf("flush: %s", r)
	}
	got := srv.received()
	if len(got) != 1 || len(h.queued(t)) != 0 {
		t.Fatalf("server got %d messages, %d still queued", len(got), len(h.queued(t)))
	}
	for _, c := range []byte(got[0]) {
		if c >= 0x80 {
			t.Fatalf("8-bit data reached a server that does not offer 8BITMIME:\n%s", got[0])
		}
	}
	if _, decoded := decodedBody(t, got[0]); decoded != body {
		t.Errorf("decoded %q, want %q", decoded, body)
	}
}
