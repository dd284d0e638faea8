package smtp

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// encodeAll runs the encoder over in, split into pieces of size step, so
// state carried across Write boundaries is exercised.
func encodeAll(in string, dot bool, step int) string {
	e := wireEncoder{dot: dot}
	var out []byte
	b := []byte(in)
	for len(b) > 0 {
		n := min(step, len(b))
		out = e.encode(out, b[:n])
		b = b[n:]
	}
	return string(e.finish(out))
}

func TestWireEncodingConvertsBareLFAndDotStuffs(t *testing.T) {
	tests := []struct {
		name, in, data, bdat string
	}{
		{"empty", "", "", ""},
		{"bare LF", "a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"CRLF untouched", "a\r\nb\r\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"missing final newline", "a", "a\r\n", "a\r\n"},
		{"trailing bare CR becomes CRLF", "a\r", "a\r\n", "a\r\n"},
		{"bare CR mid-line becomes CRLF", "a\rb\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"bare CR before CRLF becomes its own line", "a\r\r\n", "a\r\n\r\n", "a\r\n\r\n"},
		{"smuggled end of data is stuffed", "x\r.\r\nMAIL FROM:<e@x.org>\n", "x\r\n..\r\nMAIL FROM:<e@x.org>\r\n", "x\r\n.\r\nMAIL FROM:<e@x.org>\r\n"},
		{"leading dot", ".x\n", "..x\r\n", ".x\r\n"},
		{"dot line", "a\n.\nb\n", "a\r\n..\r\nb\r\n", "a\r\n.\r\nb\r\n"},
		{"dot after CRLF", "a\r\n..b\r\n", "a\r\n...b\r\n", "a\r\n..b\r\n"},
		{"dot mid-line untouched", "a.b\n", "a.b\r\n", "a.b\r\n"},
		{"dot after bare CR starts a line", "a\r.b\n", "a\r\n..b\r\n", "a\r\n.b\r\n"},
		{"empty lines", "\n\n", "\r\n\r\n", "\r\n\r\n"},
		{"8bit bytes untouched", "h\xc3\xa9\x00\xff\n", "h\xc3\xa9\x00\xff\r\n", "h\xc3\xa9\x00\xff\r\n"},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 3, 1 << 20} {
			if got := encodeAll(tt.in, true, step); got != tt.data {
				t.Errorf("%s (DATA, step %d): got %q, want %q", tt.name, step, got, tt.data)
			}
			if got := encodeAll(tt.in, false, step); got != tt.bdat {
				t.Errorf("%s (BDAT, step %d): got %q, want %q", tt.name, step, got, tt.bdat)
			}
		}
	}
}

func TestWireSizeCountsCRLFConversionButNotDots(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"a\n", 3},
		{"a\r\n", 3},
		{".a\n", 4},
		{"abc", 5},
		{strings.Repeat("x\n", 50000), 150000},
	}
	for _, tt := range tests {
		got, err := WireSize(iotest.OneByteReader(strings.NewReader(tt.in)))
		if err != nil || got != tt.want {
			t.Errorf("WireSize(%.20q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if got2 := int64(len(encodeAll(tt.in, false, 7))); got2 != got {
			t.Errorf("WireSize(%.20q) = %d but the BDAT encoding is %d bytes", tt.in, got, got2)
		}
	}
	if _, err := WireSize(iotest.ErrReader(bytes.ErrTooLarge)); err == nil {
		t.Error("WireSize hid a read error")
	}
}

func FuzzWireEncoding(f *testing.F) {
	for _, s := range []string{"", "a\n.b\r\n..\n", "\r", ".\r\n.\n", "x\r\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := encodeAll(string(in), true, 1<<20)
		if got := encodeAll(string(in), true, int(step)+1); got != whole {
			t.Fatalf("split encoding differs: %q vs %q", got, whole)
		}
		// Every LF is preceded by CR, and the data ends with CRLF.
		for i := 0; i < len(whole); i++ {
			if whole[i] == '\n' && (i == 0 || whole[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, whole)
			}
		}
		if len(whole) > 0 && !strings.HasSuffix(whole, "\r\n") {
			t.Fatalf("no final CRLF: %q", whole)
		}
		// No line is a lone "." (the terminator), and undoing the
		// stuffing gives the BDAT form.
		lines := strings.Split(whole, "\r\n")
		for i, l := range lines {
			if l == "." {
				t.Fatalf("terminator inside data: %q", whole)
			}
			lines[i] = strings.TrimPrefix(l, ".")
		}
		if got, want := strings.Join(lines, "\r\n"), encodeAll(string(in), false, 1<<20); got != want {
			t.Fatalf("unstuffed %q != %q", got, want)
		}
	})
}
