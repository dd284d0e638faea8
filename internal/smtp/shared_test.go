package smtp

import (
	"errors"
	"testing"
)

// DSNNotify is the one NOTIFY rule (RFC 3461 4.1), used by -N and the
// envelope. The rows marked "was" are where the two old copies disagreed:
// cli accepted a repeated NEVER and kept the user's order; smtp refused
// the repeat and sorted.
func TestDSNNotifyAcceptsNeverAloneOrAListAndCanonicalises(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"never", "NEVER", true},
		{"success,failure,delay", "SUCCESS,FAILURE,DELAY", true},
		{"delay, failure", "FAILURE,DELAY", true}, // was: cli sent "DELAY,FAILURE"
		{"NEVER,NEVER", "NEVER", true},            // was: smtp refused it
		{"failure,FAILURE", "FAILURE", true},      // a repeat is the same request
		{" Success ", "SUCCESS", true},            // spaces around items
		{"never,success", "", false},              // NEVER cannot be combined
		{"NEVER,NEVER,DELAY", "", false},          // not even when repeated
		{"", "", false},                           // an empty value says nothing
		{"success,", "", false},                   // an empty item
		{"sucess", "", false},                     // a typo
		{"success;failure", "", false},            // the wrong separator
		{"SUCCESS\r\nRCPT TO:<x@y>", "", false},   // no smuggled command
	} {
		got, err := DSNNotify(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("DSNNotify(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		var f *Failure
		if !tc.ok && (err == nil || !errors.As(err, &f) || f.Reason != BadDSN || exitCode(err) != 64) {
			t.Errorf("DSNNotify(%q) = %q, %v; want a bad-DSN failure, exit 64", tc.in, got, err)
		}
	}
}

func TestNeedsUTF8WhenAnAddressIsNotASCII(t *testing.T) {
	for _, tc := range []struct {
		from string
		to   []string
		want bool
	}{
		{"a@example.org", []string{"b@example.org"}, false},
		{"", nil, false},
		{"jörg@example.org", []string{"b@example.org"}, true},
		{"a@example.org", []string{"b@example.org", "用户@例子.广告"}, true},
		{"a@bücher.example", nil, true},
		{"a@example.org", []string{"\x7f@example.org"}, false}, // DEL is ASCII (refused elsewhere)
		{"a@example.org", []string{"\xff@example.org"}, true},  // invalid UTF-8 is not ASCII either
	} {
		if got := NeedsUTF8(tc.from, tc.to); got != tc.want {
			t.Errorf("NeedsUTF8(%q, %q) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}
