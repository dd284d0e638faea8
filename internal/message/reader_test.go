package message

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Reader yields exactly what WriteTo writes, for a body in memory and a
// spooled one, after header edits, read in small pieces, and again from
// the start on every call (a failed attempt is queued from the same
// message).
func TestReaderYieldsWhatWriteToWrites(t *testing.T) {
	body := strings.Repeat("line of the body, long enough to matter\n", 2000)
	for _, tc := range []struct {
		name  string
		limit int
	}{{"body in memory", 1 << 20}, {"body spooled", -1}, {"no body", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			in := "Subject: hi\nBcc: secret@example.org\nTo: a@example.org\n\n" + body
			if tc.name == "no body" {
				in = "Subject: only headers\n"
			}
			m, err := Read(strings.NewReader(in), ReadOptions{IgnoreDots: true, MemoryLimit: tc.limit, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if tc.limit < 0 && m.spool == nil {
				t.Fatal("test setup: the body was not spooled")
			}
			m.RemoveBcc()
			if err := m.Add("Message-ID", "<x@example.org>"); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if _, err := m.WriteTo(&want); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				got, err := io.ReadAll(iotest.HalfReader(m.Reader()))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("read %d: Reader gave %d bytes, WriteTo %d; first difference at %d", i, len(got), want.Len(), firstDiff(got, want.Bytes()))
				}
			}
			if err := iotest.TestReader(m.Reader(), want.Bytes()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestReaderAfterCloseFails(t *testing.T) {
	m, err := Read(strings.NewReader("Subject: hi\n\nbody\n"), ReadOptions{IgnoreDots: true})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Reader()
	m.Close()
	if _, err := r.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Errorf("Read after Close = %v, want an error", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
