package message

import (
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "a@x.org", want: []string{"a@x.org"}},
		{in: "Alice <a@x.org>, b@y.org", want: []string{"a@x.org", "b@y.org"}},
		{in: "root", want: []string{"root"}},
		{in: "root,www-data", want: []string{"root", "www-data"}},
		{in: "Cron <root>, a@x.org (comment, with comma)", want: []string{"root", "a@x.org"}},
		{in: `"Smith, J" <j@x.org>, root`, want: []string{"j@x.org", "root"}},
		{in: "undisclosed-recipients:;", want: nil},
		{in: "team: root, a@x.org;, b@y.org", want: []string{"root", "a@x.org", "b@y.org"}},
		{in: "<@relay.example:a@x.org>, root", want: []string{"a@x.org", "root"}},
		{in: `"a b"@x.org`, want: []string{`"a b"@x.org`}},
		{in: `"ab"@x.org`, want: []string{"ab@x.org"}},
		{in: `"a\"b"@x.org, root`, want: []string{`"a\"b"@x.org`, "root"}},
		{in: "a@[192.0.2.1]", want: []string{"a@[192.0.2.1]"}},
		{in: "jörg@bücher.example", want: []string{"jörg@bücher.example"}},
		{in: "  ", want: nil},
		{in: ", ,", want: nil},
		{in: "John Smith", wantErr: true},
		{in: "a@", wantErr: true},
		{in: "root@", wantErr: true},
		{in: "a@x..org", wantErr: true},
		{in: "<a@x.org", wantErr: true},
		{in: "a@x.org>", wantErr: true},
		{in: "(unclosed a@x.org", wantErr: true},
		{in: "a;b", wantErr: true},
		{in: "\"\x17\"@x.org", wantErr: true},
		{in: "\"\\\x17\", root", wantErr: true},
		{in: "a@x.org\nBcc: b@y.org", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseAddressList(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseAddressList(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("ParseAddressList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// An address's domain follows the one domain rule (ehlo.CheckDomainUTF8):
// what RFC 5322's dot-atom took but no server can route is refused here,
// with exit 65, instead of bouncing later.
func TestAddressDomainIsADomainAnSMTPPathCanCarry(t *testing.T) {
	for in, ok := range map[string]bool{
		"a@example.org":       true,
		"root@localhost":      true, // one label: local delivery
		"jörg@bücher.example": true, // SMTPUTF8
		"a@[192.0.2.1]":       true,
		"a@a_b.example":       false, // was accepted (atext)
		"a@-x.example":        false, // was accepted
		"a@" + strings.Repeat("x", 64) + ".example": false, // was accepted
		"a@b!c.example":                               false, // was accepted
		"Alice <a@a_b.example>":                       false,
		"a@" + strings.Repeat("abcdefghi.", 26) + "x": false, // was accepted: over 253
	} {
		_, err := ParseAddressList(in)
		if (err == nil) != ok {
			t.Errorf("ParseAddressList(%q) = %v, want accepted %v", in, err, ok)
		}
	}
}
