package ehlo

import (
	"strings"
	"testing"
)

// CheckDomain replaced five validators: ehlo's (EHLO names), message's
// (address domains, RFC 5322 dot-atom), setup's discovery, oauth's tenant
// names and message's Message-ID domain. The comments name the old copies
// that decided the row otherwise.
func TestCheckDomainIsRFC5321DomainSyntax(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	for _, tc := range []struct {
		name     string
		ascii    bool // CheckDomain accepts
		utf8     bool // CheckDomainUTF8 accepts
		comments string
	}{
		{"example.org", true, true, ""},
		{"Mail.Example.ORG", true, true, "setup took lower case only (it lower-cases first)"},
		{"localhost", true, true, "a single label: FQDN is the caller's rule (setup, oauth and ehlo require a dot)"},
		{"a-b.example", true, true, ""},
		{"xn--bcher-kva.example", true, true, "an IDN in A-label form"},
		{"123.example", true, true, "a numeric label is a label"},
		{long63 + ".example", true, true, ""},
		{long63 + "a.example", false, false, "message's dot-atom took a 64-octet label"},
		{strings.Repeat("abcdefghi.", 26) + "com", false, false, "message had no 253 limit"},
		{"", false, false, ""},
		{".", false, false, "message took no dot-atom like this either"},
		{"example.org.", false, false, "the trailing dot: RFC 5321 writes none"},
		{".example.org", false, false, ""},
		{"a..b", false, false, ""},
		{"-a.example", false, false, "message's dot-atom took a leading hyphen"},
		{"a-.example", false, false, "message's dot-atom took a trailing hyphen"},
		{"a_b.example", false, false, "message's dot-atom took atext such as _"},
		{"a!b.example", false, false, "message's dot-atom took atext such as !"},
		{"a b.example", false, false, ""},
		{"a\x00b.example", false, false, ""},
		{"a/b.example", false, false, "the tenant name goes into a URL path"},
		{"bücher.example", false, true, "message took U-labels (SMTPUTF8); the others did not"},
		{"例子.广告", false, true, ""},
		{"-bücher.example", false, false, ""},
		{"b\u00fccher\u200b.example", false, false, "a zero-width space is no letter"},
		{"bü\xffcher.example", false, false, "invalid UTF-8"},
		{"bü€.example", false, false, "a symbol is no letter"},
	} {
		if got := CheckDomain(tc.name) == nil; got != tc.ascii {
			t.Errorf("CheckDomain(%q) accepts: %v, want %v (%s)", tc.name, got, tc.ascii, tc.comments)
		}
		if got := CheckDomainUTF8(tc.name) == nil; got != tc.utf8 {
			t.Errorf("CheckDomainUTF8(%q) accepts: %v, want %v (%s)", tc.name, got, tc.utf8, tc.comments)
		}
	}
}

func TestCheckDomainSaysWhatIsWrong(t *testing.T) {
	for name, why := range map[string]string{
		"":                               "empty",
		"a..b":                           "empty label",
		"a_b.example":                    `contains "_"`,
		"bücher.example":                 "xn--",
		strings.Repeat("a", 64) + ".org": "limit is 63",
		"a.example.":                     "trailing dot",
		"-a.example":                     "hyphen",
	} {
		err := CheckDomain(name)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckDomain(%q) = %v, want it to say %q", name, err, why)
		}
	}
}

// FuzzCheckDomain: whatever CheckDomain accepts is LDH labels of 1-63
// octets joined by dots, at most 253 octets, so it can go on an SMTP
// command line or into a URL; CheckDomainUTF8 accepts all of that too,
// and its extra names are valid UTF-8 without spaces or controls.
func FuzzCheckDomain(f *testing.F) {
	for _, s := range []string{"example.org", "a..b", "bücher.example", "a_b.c", "-x.y", "x.y.", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		errA, errU := CheckDomain(name), CheckDomainUTF8(name)
		for _, err := range []error{errA, errU} {
			if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("reason for %q is not one line: %q", name, err)
			}
		}
		if errA == nil && errU != nil {
			t.Fatalf("%q: ASCII check accepts, UTF-8 check refuses: %v", name, errU)
		}
		if errU != nil {
			return
		}
		if name == "" || len(name) > 253 {
			t.Fatalf("accepted %q of %d octets", name, len(name))
		}
		for _, l := range strings.Split(name, ".") {
			if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("accepted %q with label %q", name, l)
			}
			for _, r := range l {
				if r < 0x80 && !isLDH(byte(r)) || r == 0xFFFD {
					t.Fatalf("accepted %q with %q", name, r)
				}
			}
			if errA == nil && len(l) > 63 {
				t.Fatalf("accepted %q with a %d-octet label", name, len(l))
			}
		}
	})
}
