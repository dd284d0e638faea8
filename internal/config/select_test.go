package config

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

const selectConfig = `
[defaults]
host = "smtp.example.org"

[account.work]
from = "*@work.example"

[account.alice]
from = "alice@example.org"

[account.catchall]
from = "*@example.org"

[account.short]
from = "?@x.example"

[account.nofrom]
`

func TestSelectOrder(t *testing.T) {
	f := mustLoad(t, selectConfig)
	withDefault := mustLoad(t, "default_account = \"nofrom\"\n"+selectConfig)
	for _, tc := range []struct {
		test                 string
		f                    *File
		name, envelope, head string
		want, wantReason     string
	}{
		{"-a wins over everything", f, "nofrom", "me@work.example", "alice@example.org", "nofrom", "chosen with -a nofrom"},
		{"envelope sender pattern", f, "", "me@work.example", "", "work", "envelope sender me@work.example matches from pattern *@work.example of account work"},
		{"envelope match is case-insensitive", f, "", "Me@WORK.Example", "", "work", ""},
		{"envelope with angle brackets", f, "", "<me@work.example>", "", "work", ""},
		{"first match in file order wins", f, "", "alice@example.org", "", "alice", ""},
		{"later pattern when earlier literal does not match", f, "", "bob@example.org", "", "catchall", ""},
		{"envelope before header", f, "", "bob@example.org", "me@work.example", "catchall", ""},
		{"header when envelope matches nothing", f, "", "root@laptop", "me@work.example", "work", "From: header address me@work.example matches from pattern *@work.example of account work"},
		{"? matches one character", f, "", "a@x.example", "", "short", ""},
		{"? does not match two", withDefault, "", "ab@x.example", "", "nofrom", "default_account"},
		{"* does not match across a missing part", withDefault, "", "me@work.example.com", "", "nofrom", "default_account"},
		{"default_account when nothing matches", withDefault, "", "root@laptop", "", "nofrom", "default_account"},
		{"default_account without senders", withDefault, "", "", "", "nofrom", "default_account"},
	} {
		a, reason, err := tc.f.Select(tc.name, tc.envelope, tc.head)
		if err != nil {
			t.Errorf("%s: %v", tc.test, err)
			continue
		}
		if a.Name != tc.want {
			t.Errorf("%s: chose %q (%s), want %q", tc.test, a.Name, reason, tc.want)
		}
		if tc.wantReason != "" && reason != tc.wantReason {
			t.Errorf("%s: reason %q, want %q", tc.test, reason, tc.wantReason)
		}
	}
}

func TestSelectOnlyAccount(t *testing.T) {
	f := mustLoad(t, "[account.solo]\nhost = \"h.example\"\nfrom = \"*@other.example\"\n")
	a, reason, err := f.Select("", "root@laptop", "")
	if err != nil || a.Name != "solo" || reason != "the only account" {
		t.Errorf("Select = %v, %q, %v; want solo, \"the only account\"", a, reason, err)
	}
}

func TestSelectErrors(t *testing.T) {
	f := mustLoad(t, selectConfig)
	for _, tc := range []struct {
		test                 string
		f                    *File
		name, envelope, head string
		want                 string
	}{
		{"unknown -a lists accounts", f, "wrok", "", "", `no account "wrok" in /home/u/.config/gsendmail/config.toml: the accounts are "work", "alice", "catchall", "short", "nofrom"`},
		{"no match and no default", f, "", "root@laptop", "", "no account matches sender root@laptop and no default_account is set: set default_account or use -a"},
		{"no sender and no default", f, "", "", "", "no sender to match against from patterns and no default_account is set"},
		{"no accounts", mustLoad(t, "[defaults]\nhost = \"h.example\"\n"), "", "a@b.example", "", "defines no account"},
	} {
		_, _, err := tc.f.Select(tc.name, tc.envelope, tc.head)
		if err == nil || !strings.Contains(err.Error(), tc.want) || sysexits.Code(err) != sysexits.Config {
			t.Errorf("%s: err = %v, want code 78 and %q", tc.test, err, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything@x", true},
		{"*@x", "@x", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"*a", "aaaa", true},
		{"?", "é", true},
		{"??", "é", false},
		{"a?c", "abc", true},
		{"abc", "abcd", false},
		{"**@*.org", "x@y.org", true},
	} {
		if got := matchFrom(tc.pattern, tc.s); got != tc.want {
			t.Errorf("matchFrom(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
