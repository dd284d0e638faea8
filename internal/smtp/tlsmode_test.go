package smtp

import (
	"slices"
	"testing"
)

func TestTLSModeWordsAreTheConfigFileWords(t *testing.T) {
	for _, c := range []struct {
		mode TLSMode
		word string
	}{{StartTLS, "starttls"}, {Implicit, "tls"}, {None, "none"}} {
		if got := c.mode.String(); got != c.word {
			t.Errorf("%d.String() = %q, want %q", int(c.mode), got, c.word)
		}
		if m, ok := ParseTLSMode(c.word); !ok || m != c.mode {
			t.Errorf("ParseTLSMode(%q) = %v, %v; want %v", c.word, m, ok, c.mode)
		}
	}
	if got := TLSModeWords(); !slices.Equal(got, []string{"starttls", "tls", "none"}) {
		t.Errorf("TLSModeWords() = %q", got)
	}
}

func TestParseTLSModeRefusesOtherSpellings(t *testing.T) {
	for _, s := range []string{"", "implicit", "TLS", "StartTLS", "ssl", "starttls ", "TLSMode(2)"} {
		if m, ok := ParseTLSMode(s); ok {
			t.Errorf("ParseTLSMode(%q) = %v, want refusal", s, m)
		}
	}
}

// FuzzParseTLSMode: every accepted word round-trips through String, and
// nothing else is accepted.
func FuzzParseTLSMode(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := ParseTLSMode(s)
		if !ok {
			if slices.Contains(TLSModeWords(), s) {
				t.Fatalf("ParseTLSMode refused its own word %q", s)
			}
			return
		}
		if m.String() != s {
			t.Fatalf("ParseTLSMode(%q) = %v, whose String is %q", s, m, m.String())
		}
	})
}
