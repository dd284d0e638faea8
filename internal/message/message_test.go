package message

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func read(t *testing.T, in string, o ReadOptions) *Message {
	t.Helper()
	m, err := Read(strings.NewReader(in), o)
	if err != nil {
		t.Fatalf("Read(%q): %v", in, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func output(t *testing.T, m *Message) string {
	t.Helper()
	var b bytes.Buffer
	n, err := m.WriteTo(&b)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(b.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, b.Len())
	}
	return b.String()
}

func TestDotLineEndsInputOnlyWithoutIgnoreDots(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		ignoreDots bool
		want       string
	}{
		{"dot ends input", "Subject: x\n\nline\n.\nafter\n", false, "Subject: x\n\nline\n"},
		{"dot CRLF ends input", "Subject: x\r\n\r\nline\r\n.\r\nafter\r\n", false, "Subject: x\r\n\r\nline\r\n"},
		{"dot at end without newline ends input", "Subject: x\n\nline\n.", false, "Subject: x\n\nline\n"},
		{"dot in header section ends input", "Subject: x\n.\nTo: y\n", false, "Subject: x\n"},
		{"dot as first line ends input", ".\nSubject: x\n", false, ""},
		{"-i keeps dot line", "Subject: x\n\nline\n.\nafter\n", true, "Subject: x\n\nline\n.\nafter\n"},
		{"double dot is not unstuffed", "Subject: x\n\n..\n..x\n", false, "Subject: x\n\n..\n..x\n"},
		{"dot with text is not a terminator", "Subject: x\n\n.x\n. \n", false, "Subject: x\n\n.x\n. \n"},
		{"dot after long line is data", "Subject: x\n\n" + strings.Repeat("a", 70000) + ".\nz\n", false, "Subject: x\n\n" + strings.Repeat("a", 70000) + ".\nz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := read(t, tt.in, ReadOptions{IgnoreDots: tt.ignoreDots})
			if got := output(t, m); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeaderSectionBoundary(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantFields []string // names
		wantBody   string   // output after the fields
	}{
		{"empty line", "A: 1\nB: 2\n\nbody\n", []string{"A", "B"}, "\nbody\n"},
		{"CRLF empty line", "A: 1\r\n\r\nbody\r\n", []string{"A"}, "\r\nbody\r\n"},
		{"non-field line starts body", "A: 1\nthis is text\nB: 2\n", []string{"A"}, "this is text\nB: 2\n"},
		{"no headers at all", "hello world\n", nil, "hello world\n"},
		{"leading space without field is body", " indented\nA: 1\n", nil, " indented\nA: 1\n"},
		{"continuation lines belong to field", "A: 1\n  more\n\tand more\nB: 2\n", []string{"A", "B"}, ""},
		{"obsolete space before colon", "Subject : x\n\nb", []string{"Subject"}, "\nb"},
		{"colon-less first line is body", "Subject x\n", nil, "Subject x\n"},
		{"mbox From line dropped", "From me@x Mon Jan 1 00:00:00 2024\nA: 1\n\nFrom here\n", []string{"A"}, "\nFrom here\n"},
		{"only header, no newline", "A: 1", []string{"A"}, ""},
		{"empty input", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := read(t, tt.in, ReadOptions{IgnoreDots: true})
			var names []string
			var hdr string
			for _, f := range m.fields {
				names = append(names, f.name)
				hdr += string(f.raw)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("fields = %v, want %v", names, tt.wantFields)
			}
			if got := strings.TrimPrefix(output(t, m), hdr); got != tt.wantBody {
				t.Errorf("rest = %q, want %q", got, tt.wantBody)
			}
		})
	}
}

func TestHeaderReturnsUnfoldedValuesCaseInsensitively(t *testing.T) {
	m := read(t, "subject: hello\r\n  world\r\nSUBJECT:\tsecond \r\nX: y\r\n\r\n", ReadOptions{})
	got := m.Header("Subject")
	want := []string{"hello  world", "second"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Header = %q, want %q", got, want)
	}
	if !m.Has("x") || m.Has("Y") {
		t.Errorf("Has: x=%v Y=%v", m.Has("x"), m.Has("Y"))
	}
}

func TestRemoveBccRemovesOnlyBccFieldsWithContinuations(t *testing.T) {
	in := "To: a@x\nbcc: hidden@x,\n  hidden2@x\nSubject: Bcc: not this\nRESENT-BCC: r@x\nX-Bcc: stays\nBcc:\n\nBcc: body stays\n"
	want := "To: a@x\nSubject: Bcc: not this\nX-Bcc: stays\n\nBcc: body stays\n"
	m := read(t, in, ReadOptions{})
	if n := m.RemoveBcc(); n != 3 {
		t.Errorf("RemoveBcc removed %d fields, want 3", n)
	}
	if got := output(t, m); got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if m.Size() != int64(len(want)) {
		t.Errorf("Size = %d, want %d", m.Size(), len(want))
	}
}

func TestRecipientsForDashT(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   []string
	}{
		{"display names", "To: Alice <a@x.org>, \"Bob, Jr.\" <b@y.org>\n", []string{"a@x.org", "b@y.org"}},
		{"to cc bcc in order", "Cc: c@x\nTo: t@x\nBcc: b@x\n", []string{"c@x", "t@x", "b@x"}},
		{"folded list", "To: a@x,\n b@x\n", []string{"a@x", "b@x"}},
		{"empty group", "To: undisclosed-recipients:;\nBcc: b@x\n", []string{"b@x"}},
		{"group with members", "To: Team: a@x, b@x;, c@x\n", []string{"a@x", "b@x", "c@x"}},
		{"comments", "To: a@x (Alice), (Bob) b@x\n", []string{"a@x", "b@x"}},
		{"bare local name", "To: root\n", []string{"root"}},
		{"bare local names with display name", "To: Admin <root>, www-data\n", []string{"root", "www-data"}},
		{"resent fields win", "To: a@x\nResent-To: r@x\nResent-Bcc: rb@x\nCc: c@x\n", []string{"r@x", "rb@x"}},
		{"duplicates dropped, domain case-insensitive", "To: a@X.org, a@x.ORG\nCc: a@x.org\n", []string{"a@X.org"}},
		{"local part case kept distinct", "To: A@x, a@x\n", []string{"A@x", "a@x"}},
		{"quoted local part", "To: \"a b\"@x\n", []string{`"a b"@x`}},
		{"unknown charset in name", "To: =?koi8-r?B?8NLJ18XU?= <a@x>\n", []string{"a@x"}},
		{"no recipient fields", "Subject: x\n", nil},
		{"empty To", "To:\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := read(t, tt.header+"\nbody\n", ReadOptions{})
			got, err := m.Recipients()
			if err != nil {
				t.Fatalf("Recipients: %v", err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Recipients = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecipientsMalformedHeaderIsDataErrorNamingHeader(t *testing.T) {
	for _, h := range []string{"To: a@x, <b@y\n", "Cc: John Smith\n", "Bcc: a@\n", "To: a@x)\n"} {
		m := read(t, h+"\n", ReadOptions{})
		_, err := m.Recipients()
		if err == nil {
			t.Errorf("%q: no error", h)
			continue
		}
		if sysexits.Code(err) != sysexits.DataErr {
			t.Errorf("%q: exit code %d, want 65", h, sysexits.Code(err))
		}
		name := h[:strings.IndexByte(h, ':')]
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("%q: error %q does not name the header", h, err)
		}
	}
}

func TestFromAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"From: Me <me@example.org>\n", "me@example.org"},
		{"From: me@example.org, you@example.org\nSender: s@x\n", "me@example.org"},
		{"Subject: x\n", ""},
		{"From: <<<\n", ""},
	}
	for _, tt := range tests {
		m := read(t, tt.in+"\n", ReadOptions{})
		got, ok := m.FromAddress()
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q: FromAddress = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func fixedNow() time.Time {
	return time.Date(2024, 3, 5, 7, 8, 9, 0, time.FixedZone("", -7*3600))
}

func TestAddMissingAddsEachHeaderOnlyWhenMissing(t *testing.T) {
	rnd := bytes.NewReader(bytes.Repeat([]byte{0xff}, 64))
	tests := []struct {
		name      string
		in        string
		opts      AddOptions
		wantAdded []string
		wantOut   string
	}{
		{
			name:      "all missing",
			in:        "Subject: hi\n\nbody\n",
			opts:      AddOptions{From: "me@example.org", FullName: "Cron Daemon", Date: true, MessageID: true},
			wantAdded: []string{"From", "Date", "Message-ID"},
			wantOut:   "Subject: hi\nFrom: Cron Daemon <me@example.org>\nDate: Tue, 05 Mar 2024 07:08:09 -0700\nMessage-ID: <777777777777777777777777.s9voll@example.org>\n\nbody\n",
		},
		{
			name:      "CRLF message gets CRLF fields",
			in:        "Subject: hi\r\n\r\nbody\r\n",
			opts:      AddOptions{Date: true},
			wantAdded: []string{"Date"},
			wantOut:   "Subject: hi\r\nDate: Tue, 05 Mar 2024 07:08:09 -0700\r\n\r\nbody\r\n",
		},
		{
			name:      "present fields untouched",
			in:        "from: x@y.org\nDATE: whenever\nMessage-Id: <a@b>\n\nbody\n",
			opts:      AddOptions{From: "me@example.org", Date: true, MessageID: true},
			wantAdded: nil,
			wantOut:   "from: x@y.org\nDATE: whenever\nMessage-Id: <a@b>\n\nbody\n",
		},
		{
			name:      "no From without envelope sender",
			in:        "Subject: hi\n\n",
			opts:      AddOptions{From: ""},
			wantAdded: nil,
			wantOut:   "Subject: hi\n\n",
		},
		{
			name:      "message id domain from From header",
			in:        "From: a@Mail.Example.NET\n\n",
			opts:      AddOptions{From: "root@laptop", MessageID: true},
			wantAdded: []string{"Message-ID"},
			wantOut:   "From: a@Mail.Example.NET\nMessage-ID: <777777777777777777777777.s9voll@mail.example.net>\n\n",
		},
		{
			name:      "explicit message id domain wins",
			in:        "From: a@example.net\n\n",
			opts:      AddOptions{MessageID: true, MsgIDDomain: "ids.example.com"},
			wantAdded: []string{"Message-ID"},
			wantOut:   "From: a@example.net\nMessage-ID: <777777777777777777777777.s9voll@ids.example.com>\n\n",
		},
		{
			name:      "no message id without a dotted domain",
			in:        "From: root\n\n",
			opts:      AddOptions{From: "root@localhost", MessageID: true, MsgIDDomain: "laptop"},
			wantAdded: nil,
			wantOut:   "From: root\n\n",
		},
		{
			name:      "non-ASCII full name is encoded",
			in:        "\n",
			opts:      AddOptions{From: "j@x.de", FullName: "Jörg Müller"},
			wantAdded: []string{"From"},
			wantOut:   "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <j@x.de>\n\n",
		},
		{
			name:      "special characters in full name are quoted",
			in:        "\n",
			opts:      AddOptions{From: "s@x.org", FullName: `Smith, J. "Jim"`},
			wantAdded: []string{"From"},
			wantOut:   "From: \"Smith, J. \\\"Jim\\\"\" <s@x.org>\n\n",
		},
		{
			name:      "last field without newline is terminated first",
			in:        "Subject: hi",
			opts:      AddOptions{Date: true},
			wantAdded: []string{"Date"},
			wantOut:   "Subject: hi\nDate: Tue, 05 Mar 2024 07:08:09 -0700\n",
		},
		{
			name:      "headerless body gets a separating empty line",
			in:        " indented body\n",
			opts:      AddOptions{Date: true},
			wantAdded: []string{"Date"},
			wantOut:   "Date: Tue, 05 Mar 2024 07:08:09 -0700\n\n indented body\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd.Seek(0, io.SeekStart)
			tt.opts.Now = fixedNow
			tt.opts.Rand = rnd
			m := read(t, tt.in, ReadOptions{IgnoreDots: true})
			added, err := m.AddMissing(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(added, ",") != strings.Join(tt.wantAdded, ",") {
				t.Errorf("added = %v, want %v", added, tt.wantAdded)
			}
			if got := output(t, m); got != tt.wantOut {
				t.Errorf("output = %q\nwant     %q", got, tt.wantOut)
			}
		})
	}
}

func TestMessageIDIsRandomAndWellFormed(t *testing.T) {
	ids := map[string]bool{}
	for i := 0; i < 50; i++ {
		m := read(t, "From: a@example.org\n\n", ReadOptions{})
		if _, err := m.AddMissing(AddOptions{MessageID: true}); err != nil {
			t.Fatal(err)
		}
		id := m.Header("Message-ID")[0]
		if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
			t.Fatalf("Message-ID %q is not <...@example.org>", id)
		}
		left := id[1:strings.IndexByte(id, '@')]
		rnd := left[:strings.IndexByte(left, '.')]
		if len(rnd)*5 < 96 || strings.ToLower(rnd) != rnd {
			t.Errorf("random part %q: want >= 96 bits, lower case", rnd)
		}
		if ids[id] {
			t.Fatalf("duplicate Message-ID %q", id)
		}
		ids[id] = true
	}
}

func TestAddRejectsHeaderInjection(t *testing.T) {
	m := read(t, "Subject: x\n\n", ReadOptions{})
	for _, v := range []string{"a\nBcc: evil@x", "a\rb", "a\x00b"} {
		err := m.Add("X-Test", v)
		if sysexits.Code(err) != sysexits.DataErr {
			t.Errorf("Add(%q) = %v, want exit 65", v, err)
		}
	}
	for _, n := range []string{"", "Bad Name", "a:b"} {
		if err := m.Add(n, "v"); sysexits.Code(err) != sysexits.DataErr {
			t.Errorf("Add name %q = %v, want exit 65", n, err)
		}
	}
	if got := output(t, m); got != "Subject: x\n\n" {
		t.Errorf("rejected Add changed the message: %q", got)
	}
	_, err := m.AddMissing(AddOptions{From: "me@x.org", FullName: "Evil\r\nBcc: x@y"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(output(t, m), "\n") != 3 {
		t.Errorf("full name with CRLF injected a line: %q", output(t, m))
	}
}

func TestGitPatchIsByteIdentical(t *testing.T) {
	patch := "From 1234567890abcdef Mon Sep 17 00:00:00 2001\n" +
		"From: Dev <dev@example.org>\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Subject: [PATCH] fix: handle\n =?UTF-8?q?caf=C3=A9?=\n" +
		"Message-Id: <20240101.1@example.org>\n" +
		"To: list@example.org\n" +
		"\n" +
		"From the start: a body line.\n" +
		"---\n" +
		" file.go | 2 +-\n" +
		"\n" +
		"diff --git a/file.go b/file.go\n" +
		"@@ -1 +1 @@\n" +
		"-.\n" +
		"+..\n" +
		".\n" +
		"trailing space   \n" +
		"tab\t\n" +
		"\r\n" +
		strings.Repeat("x", 5000) + "\n" +
		"-- \n2.43.0\n" +
		"no final newline"
	want := strings.SplitN(patch, "\n", 2)[1]
	for _, limit := range []int{0, -1} {
		m := read(t, patch, ReadOptions{IgnoreDots: true, MemoryLimit: limit})
		if added, err := m.AddMissing(AddOptions{From: "x@y.org", Date: true, MessageID: true}); err != nil || len(added) != 0 {
			t.Fatalf("AddMissing = %v, %v", added, err)
		}
		m.RemoveBcc()
		if got := output(t, m); got != want {
			t.Errorf("memory limit %d: output differs from input", limit)
		}
		if m.Size() != int64(len(want)) {
			t.Errorf("Size = %d, want %d", m.Size(), len(want))
		}
	}
}

// randomMessage builds a message with From, Date and Message-ID and no Bcc
// from random lines: dots, "From " lines, CR, LF, CRLF, long lines, 8-bit.
func randomMessage(r *rand.Rand) string {
	nl := []string{"\n", "\r\n"}[r.Intn(2)]
	var b strings.Builder
	hdr := []string{"From: a@example.org", "Date: Mon, 1 Jan 2024 00:00:00 +0000", "Message-ID: <x@example.org>"}
	extra := []string{"Subject: s", "To: t@x", "X-Long: " + strings.Repeat("y", r.Intn(3000)), "Received: from a\n\tby b", "Cc: c@x"}
	for _, i := range r.Perm(len(extra))[:r.Intn(len(extra))] {
		hdr = append(hdr, extra[i])
	}
	r.Shuffle(len(hdr), func(i, j int) { hdr[i], hdr[j] = hdr[j], hdr[i] })
	for _, h := range hdr {
		b.WriteString(strings.ReplaceAll(h, "\n", nl) + nl)
	}
	if r.Intn(4) > 0 {
		b.WriteString(nl)
	}
	pieces := []string{".", "..", "From x", "\r", "\n", "\r\n", " ", "\t", "é", "\xff", "a", "Cc: z", "-- ", strings.Repeat("z", 1000)}
	for n := r.Intn(200); n > 0; n-- {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

func TestRandomMessagesWithAllHeadersRoundTripExactly(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		in := randomMessage(r)
		for _, limit := range []int{0, -1, 64} {
			m, err := Read(strings.NewReader(in), ReadOptions{IgnoreDots: true, MemoryLimit: limit})
			if err != nil && strings.Contains(err.Error(), "bare CR") && sysexits.Code(err) == sysexits.DataErr {
				// A random piece put a bare CR into a header field:
				// refused (SMTP smuggling), nothing to round-trip.
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			added, err := m.AddMissing(AddOptions{From: "other@example.net", FullName: "X", Date: true, MessageID: true})
			if err != nil || len(added) != 0 {
				t.Fatalf("AddMissing on %q = %v, %v", in, added, err)
			}
			m.RemoveBcc()
			got := output(t, m)
			if got != in {
				t.Fatalf("round trip (limit %d) changed the message:\n in: %q\nout: %q", limit, in, got)
			}
			if m.Size() != int64(len(in)) {
				t.Errorf("Size = %d, want %d", m.Size(), len(in))
			}
			// What the SMTP client's encoder sends: bare LF and CR
			// become CRLF, and an unterminated last line gets one.
			wire, err := smtp.WireSize(strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if m.WireSize() != wire {
				t.Fatalf("WireSize = %d, the wire has %d bytes, for %.200q", m.WireSize(), wire, in)
			}
			m.Close()
		}
	}
}

func TestSizesAndEightBit(t *testing.T) {
	tests := []struct {
		in           string
		size, wire   int64
		eight, hdr8  bool
		removeBcc    bool
		wantAfterBcc int64
	}{
		{in: "A: 1\n\nb\n", size: 8, wire: 11},
		{in: "A: 1\r\n\r\nb\r\n", size: 11, wire: 11},
		{in: "A: 1\n\n\xc3\xa9\n", size: 9, wire: 12, eight: true},
		{in: "Subject: caf\xc3\xa9\n\n", size: 16, wire: 18, eight: true, hdr8: true},
		{in: "A: 1\nBcc: x\n\n\n", size: 14, wire: 18, removeBcc: true, wantAfterBcc: 10},
		{in: "\n\n\n", size: 3, wire: 6},
		{in: "a\r\r\n\n", size: 5, wire: 7}, // the bare CR is sent as CRLF
	}
	for _, tt := range tests {
		m := read(t, tt.in, ReadOptions{})
		if m.Size() != tt.size || m.WireSize() != tt.wire || m.EightBit() != tt.eight || m.HeaderNonASCII() != tt.hdr8 {
			t.Errorf("%q: Size %d WireSize %d EightBit %v HeaderNonASCII %v; want %d %d %v %v",
				tt.in, m.Size(), m.WireSize(), m.EightBit(), m.HeaderNonASCII(), tt.size, tt.wire, tt.eight, tt.hdr8)
		}
		if tt.removeBcc {
			m.RemoveBcc()
			if m.WireSize() != tt.wantAfterBcc {
				t.Errorf("%q: WireSize after RemoveBcc = %d, want %d", tt.in, m.WireSize(), tt.wantAfterBcc)
			}
		}
	}
}

func TestHugeHeaderLineIsClearDataError(t *testing.T) {
	tests := []string{
		"Subject: " + strings.Repeat("a", 10<<20) + "\n\nbody\n",
		"To: a@x\n " + strings.Repeat("a", 10<<20) + "\n\n",
		strings.Repeat("X", 10<<20) + ": v\n\n",
	}
	for _, in := range tests {
		_, err := Read(strings.NewReader(in), ReadOptions{})
		if sysexits.Code(err) != sysexits.DataErr || !strings.Contains(err.Error(), "header section is larger than 1 MiB") {
			t.Errorf("error = %v (code %d), want 65 'header section is larger than 1 MiB'", err, sysexits.Code(err))
		}
	}
}

func TestHeaderLimitIsConfigurable(t *testing.T) {
	in := "A: " + strings.Repeat("a", 100) + "\n\n"
	if _, err := Read(strings.NewReader(in), ReadOptions{MaxHeaderBytes: 50}); sysexits.Code(err) != sysexits.DataErr {
		t.Errorf("over limit: %v, want exit 65", err)
	}
	if _, err := Read(strings.NewReader(in), ReadOptions{MaxHeaderBytes: len(in)}); err != nil {
		t.Errorf("at limit: %v", err)
	}
}

func TestLongFirstBodyLineOfHeaderlessMessageIsBody(t *testing.T) {
	in := "this is not a header " + strings.Repeat("b", 2<<20) + "\nend\n"
	m := read(t, in, ReadOptions{IgnoreDots: true})
	if len(m.fields) != 0 {
		t.Fatalf("got %d fields", len(m.fields))
	}
	if got := output(t, m); got != in {
		t.Errorf("body changed (len %d, want %d)", len(got), len(in))
	}
}

// genReader produces n bytes of body lines after a small header, sampling
// the heap as it goes.
type genReader struct {
	hdr     []byte
	left    int64
	line    []byte
	sinceMS int64
	maxHeap uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if len(g.hdr) > 0 {
		n := copy(p, g.hdr)
		g.hdr = g.hdr[n:]
		return n, nil
	}
	if g.left == 0 {
		return 0, io.EOF
	}
	if g.sinceMS > 8<<20 {
		g.sinceMS = 0
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.maxHeap = max(g.maxHeap, ms.HeapAlloc)
	}
	n := 0
	for n < len(p) && g.left > 0 {
		k := copy(p[n:], g.line[int64(len(g.line))-min(g.left, int64(len(g.line))):])
		if int64(k) > g.left {
			k = int(g.left)
		}
		n += k
		g.left -= int64(k)
	}
	g.sinceMS += int64(n)
	return n, nil
}

func TestHundredMegabyteBodyStaysInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	const size = 100 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g := &genReader{hdr: []byte("Subject: big\n\n"), left: size, line: []byte(strings.Repeat("0123456789", 7) + "\n")}
	dir := t.TempDir()
	m, err := Read(g, ReadOptions{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Size() != size+14 {
		t.Errorf("Size = %d, want %d", m.Size(), size+14)
	}
	var cw countWriter
	if _, err := m.WriteTo(&cw); err != nil || cw.n != size+14 {
		t.Errorf("WriteTo wrote %d, %v", cw.n, err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak := max(g.maxHeap, after.HeapAlloc)
	if grew := int64(peak) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB while reading a 100 MiB message", grew>>20)
	}
	// The spool file is open but has no name (see
	// TestTheSpooledBodyLeavesNothingInTheDirectory); it is private.
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("spool files in the directory = %d, want none", len(files))
	}
	fi, err := m.spool.Stat()
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("spool file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	m.Close()
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("Close left %d spool files", len(files))
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestSpoolFileRemovedWhenReadFails(t *testing.T) {
	dir := t.TempDir()
	r := io.MultiReader(strings.NewReader("A: 1\n\n"+strings.Repeat("b", 1000)), errReader{})
	_, err := Read(r, ReadOptions{TempDir: dir, MemoryLimit: 10})
	if sysexits.Code(err) != sysexits.IOErr {
		t.Errorf("error = %v, want exit 74", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("failed Read left %d spool files", len(files))
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestUnwritableSpoolDirIsCantCreate(t *testing.T) {
	_, err := Read(strings.NewReader("A: 1\n\nbody"), ReadOptions{TempDir: filepath.Join(t.TempDir(), "missing"), MemoryLimit: -1})
	if sysexits.Code(err) != sysexits.CantCreat || !strings.Contains(err.Error(), "TMPDIR") {
		t.Errorf("error = %v, want exit 73 mentioning TMPDIR", err)
	}
}

// lineReader yields size bytes of 64-byte LF-ended lines without holding
// them.
type lineReader struct{ off, size int64 }

func (r *lineReader) Read(p []byte) (int, error) {
	if r.off == r.size {
		return 0, io.EOF
	}
	n := 0
	for ; n < len(p) && r.off < r.size; n++ {
		if r.off%64 == 63 {
			p[n] = '\n'
		} else {
			p[n] = 'a' + byte(r.off%26)
		}
		r.off++
	}
	return n, nil
}

// A large body goes to the spool file through small fixed buffers: what
// Read allocates does not grow with the body (every allocated byte is
// resident until a GC, so this bounds gsendmail's peak RSS).
// Both with and without -i: the check for sendmail's "." line runs on
// every body line (it once copied each line to the heap).
func TestReadSpoolsALargeBodyWithBoundedMemory(t *testing.T) {
	for _, ignoreDots := range []bool{true, false} {
		t.Run(map[bool]string{true: "IgnoreDots", false: "DotEndsInput"}[ignoreDots], func(t *testing.T) {
			testReadSpoolsALargeBodyWithBoundedMemory(t, ignoreDots)
		})
	}
}

func testReadSpoolsALargeBodyWithBoundedMemory(t *testing.T, ignoreDots bool) {
	read := func(size int64) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Read(io.MultiReader(strings.NewReader("Subject: big\n\n"), &lineReader{size: size}), ReadOptions{IgnoreDots: ignoreDots, TempDir: t.TempDir()})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.spool == nil || m.bodySize != size {
			t.Fatalf("body of %d bytes: spooled %v, size %d", size, m.spool != nil, m.bodySize)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	small, big := read(1<<20), read(8<<20)
	t.Logf("allocated %d KB for 1 MB, %d KB for 8 MB", small>>10, big>>10)
	// 16 KB input buffer and 16 KB in-memory body, which becomes the
	// spool file's write buffer (34 KB measured; 165 KB before).
	if big > 64<<10 {
		t.Errorf("reading an 8 MB body allocated %d KB; it must spool through small fixed buffers", big>>10)
	}
	if perMB := (int64(big) - int64(small)) / 7; perMB > 8<<10 {
		t.Errorf("each further MB of body allocated %d KB; memory must not grow with the body", perMB>>10)
	}
}

// The spool file has no name while the message is open: a process killed
// mid-send leaves no copy of the body in TMPDIR, and the body still reads
// back whole.
func TestTheSpooledBodyLeavesNothingInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("a spooled body line\n", 4<<10) // 80 KB, over the 16 KB in memory
	m, err := Read(strings.NewReader("Subject: big\n\n"+body), ReadOptions{IgnoreDots: true, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.spool == nil {
		t.Fatal("the body was not spooled")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("%d files in the spool directory while the message is open: %v", len(left), left)
	}
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Subject: big\n\n"+body {
		t.Fatalf("the body read back as %d bytes, want %d", b.Len(), len("Subject: big\n\n"+body))
	}
}
