package message

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func conform(t *testing.T, msg string, sevenBit bool) (string, bool, error) {
	t.Helper()
	m, err := Read(strings.NewReader(msg), ReadOptions{IgnoreDots: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	changed, err := m.Conform(sevenBit)
	var b bytes.Buffer
	if _, werr := m.WriteTo(&b); werr != nil {
		t.Fatal(werr)
	}
	return b.String(), changed, err
}

func maxLine(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, len(strings.TrimSuffix(l, "\r")))
	}
	return n
}

func body(s string) string {
	_, b, _ := strings.Cut(s, "\n\n")
	return b
}

func decodeQP(t *testing.T, s string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

var long = strings.Repeat("0123456789", 120) // 1200 octets

func TestLongLineInASinglePartTextIsReencodedToQuotedPrintable(t *testing.T) {
	orig := "From: a@test.example\nSubject: x\n\nshort\n" + long + "\nend\n"
	out, changed, err := conform(t, orig, false)
	if err != nil || !changed {
		t.Fatalf("Conform = %v, %v", changed, err)
	}
	if maxLine(out) > MaxLineOctets {
		t.Fatalf("a line of %d octets is left", maxLine(out))
	}
	for _, want := range []string{"Content-Transfer-Encoding: quoted-printable\n", "MIME-Version: 1.0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%.300s", want, out)
		}
	}
	if got := decodeQP(t, body(out)); got != "short\n"+long+"\nend\n" {
		t.Errorf("decoded body differs from the original")
	}
}

func TestAMessageThatFitsIsNotTouched(t *testing.T) {
	orig := "From: a@test.example\r\nSubject: x\r\n\r\nh\xc3\xa9llo\r\n" + strings.Repeat("x", MaxLineOctets) + "\r\n"
	out, changed, err := conform(t, orig, false)
	if err != nil || changed || out != orig {
		t.Fatalf("Conform changed a fitting message: %v %v", changed, err)
	}
}

func TestOnlyTheLeafPartWithTheLongLineIsReencoded(t *testing.T) {
	attach := "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n"
	orig := "From: a@test.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain; charset=us-ascii\n\n" +
		long + "\n--b1\n" + attach + "--b1--\nepilogue\n"
	out, changed, err := conform(t, orig, false)
	if err != nil || !changed {
		t.Fatalf("Conform = %v, %v", changed, err)
	}
	if maxLine(out) > MaxLineOctets {
		t.Fatalf("a line of %d octets is left", maxLine(out))
	}
	if !strings.Contains(out, "--b1\n"+attach+"--b1--\nepilogue\n") || !strings.Contains(out, "\npreamble\n--b1\n") {
		t.Errorf("the other part, preamble or epilogue changed:\n%s", out)
	}
	_, rest, _ := strings.Cut(out, "charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n")
	enc, _, _ := strings.Cut(rest, "\n--b1\n")
	if decodeQP(t, enc) != long {
		t.Errorf("the re-encoded part does not decode to the original:\n%s", out)
	}
}

func TestSignedOrDKIMSignedMessagesAreRefusedNamingTheLine(t *testing.T) {
	for _, tc := range []struct{ msg, words string }{
		{"From: a@test.example\nDKIM-Signature: v=1; d=test.example\n\n" + long + "\n", "DKIM-Signature"},
		{"From: a@test.example\nContent-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\nContent-Type: text/plain\n\n" + long + "\n--s--\n", "multipart/signed"},
		{"From: a@test.example\nContent-Type: message/rfc822\n\n" + long + "\n", "message/rfc822"},
		{"From: a@test.example\nContent-Transfer-Encoding: quoted-printable\n\n" + long + "\n", "already encoded"},
		{"From: a@test.example\nX-Long: " + long + "\n\nbody\n", "X-Long header field"},
	} {
		_, _, err := conform(t, tc.msg, false)
		if sysexits.Code(err) != sysexits.DataErr || !strings.Contains(err.Error(), tc.words) || !strings.Contains(err.Error(), "octets long") {
			t.Errorf("%s: %v; want exit 65 naming the line and %q", tc.words, err, tc.words)
		}
	}
	_, _, err := conform(t, "From: a@test.example\nDKIM-Signature: v=1\n\n"+long+"\n", false)
	if err == nil || !strings.Contains(err.Error(), "line 4 of the message") {
		t.Errorf("error %v does not name line 4", err)
	}
}

func TestEightBitBodyForASevenBitServerIsReencoded(t *testing.T) {
	orig := "From: a@test.example\nSubject: x\n\ncaf\xc3\xa9\n"
	out, changed, err := conform(t, orig, true)
	if err != nil || !changed {
		t.Fatalf("Conform = %v, %v", changed, err)
	}
	if hasHigh([]byte(out)) {
		t.Fatalf("8-bit bytes left:\n%q", out)
	}
	if !strings.Contains(out, "Content-Type: text/plain; charset=utf-8\n") {
		t.Errorf("no charset declared for the 8-bit text:\n%s", out)
	}
	if decodeQP(t, body(out)) != "caf\xc3\xa9\n" {
		t.Errorf("decoded body differs")
	}
	// With 8BITMIME the same message is left alone.
	if out, changed, _ := conform(t, orig, false); changed || out != orig {
		t.Errorf("changed although the server takes 8-bit data")
	}
}

func TestNonTextLeafIsReencodedToBase64(t *testing.T) {
	// No NUL: it is refused before any conversion (SECURITY.md promise 6).
	raw := strings.Repeat("\x01\xff", 700)
	orig := "From: a@test.example\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n" + raw
	out, changed, err := conform(t, orig, true)
	if err != nil || !changed || !strings.Contains(out, "Content-Transfer-Encoding: base64\n") || maxLine(out) > 76 {
		t.Fatalf("Conform = %v, %v:\n%.200s", changed, err, out)
	}
}

func FuzzConform(f *testing.F) {
	f.Add("From: a@test.example\n\n"+long+"\n", false)
	f.Add("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n"+long+"\n--b--\n", true)
	f.Add("Subject: x\n\ncaf\xc3\xa9\n", true)
	f.Add("Subject: x\n\n"+long+"\rcaf\xc3\xa9 no newline at the end", true)
	f.Fuzz(func(t *testing.T, msg string, sevenBit bool) {
		m, err := Read(strings.NewReader(msg), ReadOptions{IgnoreDots: true})
		if err != nil {
			return
		}
		defer m.Close()
		changed, err := m.Conform(sevenBit)
		if err != nil {
			if sysexits.Code(err) != sysexits.DataErr {
				t.Fatalf("exit %d: %v", sysexits.Code(err), err)
			}
			return
		}
		var b bytes.Buffer
		m.WriteTo(&b)
		if changed && maxLine(b.String()) > MaxLineOctets {
			t.Fatalf("changed but a long line is left")
		}
		if changed && sevenBit && hasHigh(b.Bytes()) && !m.HeaderNonASCII() {
			t.Fatalf("changed but 8-bit bytes are left in the body")
		}
		// The counts behind WireSize follow the new body: BDAT chunks
		// are cut from it.
		if wire, err := smtp.WireSize(m.Reader()); err != nil || m.WireSize() != wire {
			t.Fatalf("after Conform WireSize = %d, the wire has %d bytes (%v)", m.WireSize(), wire, err)
		}
	})
}
