package ehlo

import (
	"strings"
	"testing"
)

// FuzzValidate checks that Validate never panics, that whatever it accepts
// is safe to put on an SMTP command line, and that its reasons are one line.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"yoga", "yoga.example.com", "[192.0.2.7]", "[IPv6:2001:db8::1]", "localhost", "a..b", "[IPv6:fe80::1%eth0]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := Validate(name)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("reason for %q is not one line: %q", name, err)
			}
			return
		}
		if name == "" || len(name) > 253+len("[IPv6:]") {
			t.Fatalf("accepted %q", name)
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q with byte %#x", name, c)
			}
		}
		if name[0] != '[' {
			if !strings.Contains(name, ".") || isLocalhost(strings.ToLower(name)) {
				t.Fatalf("accepted unqualified or local name %q", name)
			}
		} else if _, ok := LiteralIP(name); !ok {
			t.Fatalf("accepted literal %q that does not parse", name)
		}
	})
}
