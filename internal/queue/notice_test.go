package queue

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

type noticePart struct {
	contentType string
	body        string
}

// parseNotice parses a failure notice as a mail client would.
func parseNotice(t *testing.T, b []byte) (*mail.Message, []noticePart) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("notice is not a message: %v\n%s", err, b)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q (%v), want multipart/report; report-type=delivery-status", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []noticePart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bad MIME structure: %v\n%s", err, b)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, noticePart{ct, string(body)})
	}
	if len(parts) != 3 {
		t.Fatalf("notice has %d parts, want 3 (text, status, original)", len(parts))
	}
	return m, parts
}

func failedEntry() Entry {
	return Entry{
		ID: "18ea0d5da831100b-9a13bd544ae5", Account: "work", From: "alice@example.org",
		To: []string{"bob@example.net", "carol@example.net"}, EnvID: "QQ314159", Size: 40,
		Created: t0, Attempts: 3, LastAttempt: t0.Add(time.Hour),
	}
}

func TestFailureNoticeIsNeverSentToNullSender(t *testing.T) {
	for _, from := range []string{"", "<>", " <> "} {
		e := failedEntry()
		e.From = from
		if n := FailureNotice(e, "550 no", "MAILER-DAEMON@host.example.org", t0, strings.NewReader("x")); n != nil {
			t.Errorf("notice to null sender %q:\n%s", from, n)
		}
	}
}

func TestFailureNoticeIsDeliveryStatusReportWithOriginal(t *testing.T) {
	original := "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nbody line\n"
	reason := "550 5.1.1 <bob@example.net>: recipient address rejected"
	b := FailureNotice(failedEntry(), reason, "MAILER-DAEMON@host.example.org", t0.Add(2*time.Hour), strings.NewReader(original))
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("notice has bare LF line endings")
	}
	m, parts := parseNotice(t, b)
	for h, want := range map[string]string{
		"To":             "<alice@example.org>",
		"From":           "Mail Delivery System <MAILER-DAEMON@host.example.org>",
		"Auto-Submitted": "auto-replied",
		"Date":           t0.Add(2 * time.Hour).Format(time.RFC1123Z),
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if parts[0].contentType != "text/plain" || !strings.Contains(parts[0].body, reason) || !strings.Contains(parts[0].body, "<carol@example.net>") {
		t.Errorf("human part %q", parts[0])
	}
	if parts[1].contentType != "message/delivery-status" {
		t.Errorf("status part type %q", parts[1].contentType)
	}
	for _, want := range []string{
		"Reporting-MTA: dns; host.example.org\r\n",
		"Original-Envelope-Id: QQ314159\r\n",
		"Arrival-Date: " + t0.Format(time.RFC1123Z) + "\r\n",
		"Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; " + reason + "\r\n",
		"Final-Recipient: rfc822; carol@example.net\r\n",
	} {
		if !strings.Contains(parts[1].body, want) {
			t.Errorf("status part lacks %q:\n%s", want, parts[1].body)
		}
	}
	if parts[2].contentType != "message/rfc822" || parts[2].body != strings.ReplaceAll(original, "\n", "\r\n") {
		t.Errorf("original part %q: %q", parts[2].contentType, parts[2].body)
	}
}

func TestFailureNoticeCarriesOnlyHeaderOfLargeMessage(t *testing.T) {
	header := "From: alice@example.org\r\nSubject: big\r\n\r\n"
	original := header + strings.Repeat("0123456789abcdef\r\n", 2000)
	_, parts := parseNotice(t, FailureNotice(failedEntry(), "550 too big", "m@h.example", t0, strings.NewReader(original)))
	if parts[2].contentType != "text/rfc822-headers" || parts[2].body != header {
		t.Fatalf("original part %q: %q, want the header only", parts[2].contentType, parts[2].body)
	}
	if !strings.Contains(parts[0].body, "header is below") {
		t.Errorf("text part does not say only the header is attached: %q", parts[0].body)
	}
}

func TestFailureNoticeStatusFollowsReason(t *testing.T) {
	tests := []struct{ reason, status, diag string }{
		{"550 5.1.1 no such user", "5.1.1", "550 5.1.1 no such user"},
		{"554 5.7.1 rejected", "5.7.1", "554 5.7.1 rejected"},
		{"4.4.7 not delivered within 120h0m0s, giving up; last error: 421 4.7.0 later", "4.4.7", ""},
		{"452 4.2.2 mailbox full", "5.2.2", "452 4.2.2 mailbox full"},
		{"550 rejected", "5.0.0", "550 rejected"},
		{"tls: certificate expired", "5.0.0", ""},
		{"dial tcp 10.2.4.5:587: refused", "5.0.0", ""},
	}
	for _, tt := range tests {
		status, diag := statusOf(tt.reason)
		if status != tt.status || diag != tt.diag {
			t.Errorf("statusOf(%q) = %q, %q; want %q, %q", tt.reason, status, diag, tt.status, tt.diag)
		}
	}
}

func TestFailureNoticeCannotBeMadeToAddHeaders(t *testing.T) {
	e := failedEntry()
	e.From = "alice@example.org>\r\nBcc: victim@example.com"
	b := FailureNotice(e, "550 x\r\nBcc: other@example.com", "m@h.example\r\nBcc: third@example.com", t0, nil)
	m, _ := parseNotice(t, b)
	if bcc := m.Header.Get("Bcc"); bcc != "" {
		t.Fatalf("notice gained a Bcc header %q", bcc)
	}
}

func TestFailureNoticeUsesGlobalTypesForUnicodeAddresses(t *testing.T) {
	e := failedEntry()
	e.To = []string{"用户@例子.广告"}
	_, parts := parseNotice(t, FailureNotice(e, "550 no", "m@h.example", t0, strings.NewReader("Subject: x\r\n\r\ny\r\n")))
	if parts[1].contentType != "message/global-delivery-status" || !strings.Contains(parts[1].body, "Final-Recipient: utf-8; 用户@例子.广告") {
		t.Fatalf("status part %q:\n%s", parts[1].contentType, parts[1].body)
	}
	if parts[2].contentType != "message/global" {
		t.Fatalf("original part type %q, want message/global", parts[2].contentType)
	}
}

func TestHeaderSectionStopsAtBlankLineOrLastWholeLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n"},
		{"A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n\n"},
		{"A: 1\r\nB: 2 cut", "A: 1\r\n"},
		{"no newline at all", ""},
		{"\r\nbody", "\r\n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(headerSection([]byte(tt.in))); got != tt.want {
			t.Errorf("headerSection(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzFailureNotice: the original message, the addresses and the reason are
// all outside our control. The notice must still be one well-formed
// multipart/report whose header section holds only our fields, and must
// carry the original (or its header) intact.
func FuzzFailureNotice(f *testing.F) {
	f.Add("alice@example.org", "bob@example.net", "550 5.1.1 no such user", []byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add("a\r\nBcc: x@y", "用户@例子.广告", "4.4.7 expired\r\nX: y", []byte("A: b\n\n--=_gsendmail_\n"))
	f.Fuzz(func(t *testing.T, from, to, reason string, original []byte) {
		e := Entry{ID: "18ea0d5da831100b-9a13bd544ae5", From: from, To: []string{to}, Created: t0}
		b := FailureNotice(e, reason, "MAILER-DAEMON@host.example.org", t0, bytes.NewReader(original))
		if isNullSender(from) {
			if b != nil {
				t.Fatal("notice to the null sender")
			}
			return
		}
		_, parts := parseNotice(t, b)
		m, _ := mail.ReadMessage(bytes.NewReader(b))
		for k := range m.Header {
			switch k {
			case "From", "To", "Subject", "Date", "Message-Id", "Auto-Submitted", "Mime-Version", "Content-Type":
			default:
				t.Fatalf("notice has header %q", k)
			}
		}
		want := original
		if len(want) > noticeOriginalLimit {
			want = headerSection(want[:noticeOriginalLimit])
		}
		want = crlf(want)
		if len(want) > 0 && !bytes.HasSuffix(want, []byte("\r\n")) {
			want = append(want, '\r', '\n')
		}
		if got := parts[2].body; got != string(want) {
			t.Fatalf("original part %q, want %q", got, want)
		}
	})
}
