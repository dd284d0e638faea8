package mailserver

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOriginalStripsOnlyThePrependedReceivedHeader(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{
			"folded received then client headers",
			"Received: from a\n\tby b;\n\tdate\nSubject: x\n\nbody\n",
			"Subject: x\n\nbody\n",
		},
		{
			"client's own received header stays",
			"Received: from postfix\n\tby us\nReceived: from client\nSubject: x\n\nbody\n",
			"Received: from client\nSubject: x\n\nbody\n",
		},
		{"no received header is left alone", "Subject: x\n\nbody\n", "Subject: x\n\nbody\n"},
		{"case-insensitive field name", "RECEIVED: x\nSubject: y\n", "Subject: y\n"},
		{"received then empty body", "Received: x\n\n", "\n"},
		{"received without newline", "Received: x", ""},
		{"a field merely starting with Received is not it", "Received-SPF: pass\nSubject: y\n", "Received-SPF: pass\nSubject: y\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Delivery{Data: []byte(tc.data)}.Original()); got != tc.want {
				t.Fatalf("Original() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLFTurnsCRLFIntoLFOnly(t *testing.T) {
	if got := string(LF([]byte("a\r\nb\rc\n\r\n"))); got != "a\nb\rc\n\n" {
		t.Fatalf("LF = %q", got)
	}
}

func TestParseCaptureReadsEnvelopeAndKeepsDataExact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		sender  string
		rcpts   []string
		data    string
		wantErr string
	}{
		{"two recipients sorted", "S a@x\nR z@y\nR b@y\n\nSubject: s\n\nbody", "a@x", []string{"b@y", "z@y"}, "Subject: s\n\nbody", ""},
		{"null sender", "S \nR b@y\n\nx\n", "", []string{"b@y"}, "x\n", ""},
		{"data may look like an envelope", "S a@x\nR b@y\n\nR c@y\n\nS d\n", "a@x", []string{"b@y"}, "R c@y\n\nS d\n", ""},
		{"empty data", "S a@x\nR b@y\n\n", "a@x", []string{"b@y"}, "", ""},
		{"no sender line", "R b@y\n\nx", "", nil, "", "missing sender"},
		{"no recipients", "S a@x\n\nx", "", nil, "", "no recipients"},
		{"unterminated envelope", "S a@x\nR b@y", "", nil, "", "not terminated"},
		{"junk envelope line", "S a@x\nX b@y\n\n", "", nil, "", "unexpected envelope line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseCapture([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Sender != tc.sender || strings.Join(d.Recipients, ",") != strings.Join(tc.rcpts, ",") || string(d.Data) != tc.data {
				t.Fatalf("got %q %q %q, want %q %q %q", d.Sender, d.Recipients, d.Data, tc.sender, tc.rcpts, tc.data)
			}
		})
	}
}

// FuzzParseCapture feeds arbitrary capture files (what the pipe(8) script
// writes) and checks that a successful parse is consistent: the data is a
// suffix of the input, every envelope line round-trips, and Original never
// grows the message.
func FuzzParseCapture(f *testing.F) {
	f.Add([]byte("S a@x\nR b@y\n\nReceived: from c\n\tby d\nSubject: s\n\nbody\n"))
	f.Add([]byte("S \nR b@y\nR a@y\n\n"))
	f.Add([]byte("S a\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := parseCapture(in)
		if err != nil {
			return
		}
		if !bytes.HasSuffix(in, d.Data) {
			t.Fatalf("Data %q is not a suffix of the input", d.Data)
		}
		if len(d.Recipients) == 0 {
			t.Fatal("parsed without recipients")
		}
		var env bytes.Buffer
		env.WriteString("S " + d.Sender + "\n")
		for _, r := range d.Recipients {
			if strings.Contains(r, "\n") {
				t.Fatalf("recipient %q contains a newline", r)
			}
			env.WriteString("R " + r + "\n")
		}
		env.WriteString("\n")
		if env.Len()+len(d.Data) != len(in) {
			t.Fatalf("envelope (%d bytes) + data (%d) != input (%d)", env.Len(), len(d.Data), len(in))
		}
		o := d.Original()
		if len(o) > len(d.Data) || !bytes.HasSuffix(d.Data, o) {
			t.Fatalf("Original %q is not a suffix of Data %q", o, d.Data)
		}
	})
}

func TestTempBaseAvoidsDirectoriesDaemonsCannotTraverse(t *testing.T) {
	private := t.TempDir() // 0700, as testing creates it
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(private, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tmpdir, want string }{
		{"/tmp", "/tmp"},
		{open, "/tmp"}, // a parent is 0700
		{"relative/dir", "/tmp"},
		{"/" + strings.Repeat("x", 60), "/tmp"},
	} {
		t.Setenv("TMPDIR", tc.tmpdir)
		if got := tempBase(); got != tc.want {
			t.Errorf("TMPDIR=%s: tempBase() = %s, want %s", tc.tmpdir, got, tc.want)
		}
	}
	shared := filepath.Join("/tmp", "gsm-base-test")
	_ = os.Mkdir(shared, 0o755)
	defer os.Remove(shared)
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", shared)
	if got := tempBase(); got != shared {
		t.Errorf("TMPDIR=%s (traversable): tempBase() = %s", shared, got)
	}
}
