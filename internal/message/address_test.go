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
