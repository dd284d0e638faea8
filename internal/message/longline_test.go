package message

import (
	"strings"
	"testing"
)

// The first over-long body line is found while the body is read, so that
// Conform need not read a spooled body a second time; what it finds must
// be exactly what a scan of the stored body finds, for LF, CRLF and bare
// CR line ends, the last line with or without a line break, in memory
// and spooled.
func TestLongLineFoundWhileReadingMatchesAScanOfTheBody(t *testing.T) {
	long := strings.Repeat("x", MaxLineOctets)
	bodies := map[string]string{
		"none":                  "short\nlines\n",
		"998 LF":                long + "\n",
		"998 CRLF":              long + "\r\n",
		"999 LF":                long + "x\n",
		"999 CRLF on line 3":    "a\r\n\r\n" + long + "x\r\nb\r\n",
		"998 then CR CRLF":      long + "\r\r\n",
		"999 with bare CRs":     strings.Repeat("ab\r", 333) + "\n",
		"last line 999, no LF":  "a\n" + long + "x",
		"last line 998, no LF":  "a\n" + long,
		"last line CR, no LF":   "a\n" + long + "\r",
		"two long, first wins":  "a\n" + long + "yy\n" + long + "zzz\n",
		"long after 100 KB":     strings.Repeat("line of text\n", 8000) + long + "x\n",
		"empty lines then long": "\n\n\n" + long + "xx\n",
	}
	for name, body := range bodies {
		for _, limit := range []int{-1, 64 << 10} {
			m := read(t, "Subject: s\n\n"+body, ReadOptions{IgnoreDots: true, MemoryLimit: limit, TempDir: t.TempDir()})
			if !m.longKnown {
				t.Fatalf("%s (limit %d): not found while reading", name, limit)
			}
			line, n, err := m.firstLongBodyLine()
			if err != nil {
				t.Fatal(err)
			}
			m.longKnown = false
			wantLine, wantN, err := m.firstLongBodyLine()
			if err != nil {
				t.Fatal(err)
			}
			if line != wantLine || n != wantN {
				t.Errorf("%s (limit %d): found line %d of %d octets while reading, a scan finds line %d of %d", name, limit, line, n, wantLine, wantN)
			}
			m.Close()
		}
	}
}

// A replaced body (re-encoded by Conform) is scanned again, not judged
// by what was found in the body it replaced.
func TestLongLineOfAReplacedBodyIsNotTheOldOne(t *testing.T) {
	m := read(t, "Subject: s\n\n"+strings.Repeat("x", 2000)+"\n", ReadOptions{IgnoreDots: true})
	defer m.Close()
	changed, err := m.Conform(false)
	if err != nil || !changed {
		t.Fatalf("Conform = %v, %v; want the long line re-encoded", changed, err)
	}
	if line, n, err := m.firstLongBodyLine(); err != nil || line != 0 {
		t.Fatalf("after re-encoding: long line %d of %d octets (%v); want none", line, n, err)
	}
	if changed, err := m.Conform(false); err != nil || changed {
		t.Fatalf("second Conform = %v, %v; want nothing left to change", changed, err)
	}
}
