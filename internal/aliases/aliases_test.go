package aliases

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func mustParse(t *testing.T, text string) *Table {
	t.Helper()
	tab, err := Parse(strings.NewReader(text), "aliases")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tab
}

const sample = `# /etc/aliases
postmaster: root
MAILER-DAEMON: postmaster
root: admin, ops@example.net
admin: Alice <alice@example.org>,
  bob@example.org
   , "carol smith"@example.org
www-data: root
self: \self, self-copy@example.net
loopy: loopy, x@example.net
team: alice@EXAMPLE.org, alice@example.org, bob@example.org
local: someone@corp.example
`

func TestExpand(t *testing.T) {
	tab := mustParse(t, sample)
	tests := []struct {
		name        string
		rcpts       []string
		localDomain string
		want        []string
	}{
		{"recursion through several aliases", []string{"postmaster"}, "", []string{"alice@example.org", "bob@example.org", `"carol smith"@example.org`, "ops@example.net"}},
		{"names are case-insensitive", []string{"Mailer-Daemon"}, "", []string{"alice@example.org", "bob@example.org", `"carol smith"@example.org`, "ops@example.net"}},
		{"address with a domain passes through", []string{"Root@Elsewhere.org"}, "example.org", []string{"Root@Elsewhere.org"}},
		{"localhost is looked up", []string{"root@localhost"}, "", []string{"alice@example.org", "bob@example.org", `"carol smith"@example.org`, "ops@example.net"}},
		{"local domain is looked up", []string{"www-data@Host.Example"}, "host.example", []string{"alice@example.org", "bob@example.org", `"carol smith"@example.org`, "ops@example.net"}},
		{"local domain without alias kept", []string{"nobody@host.example"}, "host.example", []string{"nobody@host.example"}},
		{"bare name without alias gets local domain", []string{"nobody"}, "host.example", []string{"nobody@host.example"}},
		{"localhost without alias gets local domain", []string{"nobody@localhost"}, "host.example", []string{"nobody@host.example"}},
		{"backslash stops expansion", []string{"self"}, "host.example", []string{"self@host.example", "self-copy@example.net"}},
		{"alias listing itself stops", []string{"loopy"}, "host.example", []string{"loopy@host.example", "x@example.net"}},
		{"duplicates removed, domain case-insensitive", []string{"team", "bob@example.org", "admin"}, "", []string{"alice@EXAMPLE.org", "bob@example.org", `"carol smith"@example.org`}},
		{"order kept", []string{"z@x.org", "local", "a@x.org"}, "", []string{"z@x.org", "someone@corp.example", "a@x.org"}},
		{"local part case is kept when qualifying", []string{"Nobody"}, "h.example", []string{"Nobody@h.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tab.Expand(tt.rcpts, tt.localDomain)
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Expand(%q) = %q, want %q", tt.rcpts, got, tt.want)
			}
		})
	}
}

func TestDefaultCatchesUnknownBareNames(t *testing.T) {
	tab := mustParse(t, "root: admin\nadmin: me@example.org\ndefault: catchall, me@example.org\n")
	tests := []struct {
		rcpt, localDomain string
		want              []string
	}{
		{"cron", "", []string{"catchall@h.example", "me@example.org"}},
		{"root", "", []string{"me@example.org"}},
		{"who@localhost", "", []string{"catchall@h.example", "me@example.org"}},
		{"who@h.example", "h.example", []string{"who@h.example"}},
	}
	for _, tt := range tests {
		ld := tt.localDomain
		if ld == "" {
			ld = "h.example"
		}
		got, err := tab.Expand([]string{tt.rcpt}, ld)
		if err != nil {
			t.Fatalf("%s: %v", tt.rcpt, err)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Expand(%q) = %q, want %q", tt.rcpt, got, tt.want)
		}
	}
	// default's own bare targets need a local domain, not default again.
	if _, err := tab.Expand([]string{"cron"}, ""); sysexits.Code(err) != sysexits.NoUser {
		t.Errorf("default with bare target and no local domain: %v, want exit 67", err)
	}
}

func TestExpandLoopNamesTheChain(t *testing.T) {
	tests := []struct {
		text, rcpt, chain string
	}{
		{"root: admin\nadmin: root\n", "root", "root -> admin -> root"},
		{"a: b\nb: c\nc: B@localhost\n", "a", "b -> c -> b"},
		{"default: admin\nadmin: nobody\n", "nobody", "nobody -> default -> admin -> nobody"},
	}
	for _, tt := range tests {
		tab := mustParse(t, tt.text)
		_, err := tab.Expand([]string{tt.rcpt}, "h.example")
		if sysexits.Code(err) != sysexits.Config {
			t.Errorf("%q: error %v, want exit 78", tt.text, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.chain) || !strings.Contains(err.Error(), "aliases") {
			t.Errorf("error %q does not name the chain %q", err, tt.chain)
		}
	}
}

func TestBareNameWithoutDomainIsNoUser(t *testing.T) {
	for _, tab := range []*Table{nil, mustParse(t, "x: y@z.org\n")} {
		for _, r := range []string{"root", "root@localhost"} {
			_, err := tab.Expand([]string{r}, "")
			if sysexits.Code(err) != sysexits.NoUser {
				t.Fatalf("Expand(%q) = %v, want exit 67", r, err)
			}
			want := `has no domain: add "root: you@example.org" to an aliases file (aliases = "/etc/aliases" in the config) or set local_domain`
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"`+r+`"`) {
				t.Errorf("error %q", err)
			}
		}
	}
}

func TestNilTableQualifies(t *testing.T) {
	var tab *Table
	got, err := tab.Expand([]string{"root", "a@b.org", "root"}, "h.example")
	if err != nil || strings.Join(got, "|") != "root@h.example|a@b.org" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	if tab.Len() != 0 {
		t.Errorf("Len = %d", tab.Len())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"no colon", "root admin\n", "aliases:1: expected"},
		{"continuation first", "# c\n  admin\n", "aliases:2: continuation line"},
		{"empty name", ": a@b\n", "aliases:1: alias with an empty name"},
		{"no targets", "x: a@b.org\nroot:\n", "aliases:2: alias \"root\" has no addresses"},
		{"duplicate", "root: a@b.org\n\nRoot: c@d.org\n", "aliases:3: alias \"Root\" is already defined on line 1"},
		{"pipe", "proc: |/usr/bin/procmail\n", "aliases:1: alias \"proc\": |/usr/bin/procmail pipes mail to a command"},
		{"quoted pipe", "proc: \"|/usr/bin/procmail -a x\"\n", "pipes mail to a command"},
		{"include", "list:  :include:/etc/mail/list\n", "includes another file"},
		{"file", "arch: a@b.org, /var/mail/archive\n", "/var/mail/archive delivers to a file"},
		{"bad address", "x: a@b.org,\n\tJohn Smith\n", "aliases:1: alias \"x\""},
		{"domain in name", "root@x.org: a@b.org\n", "has a domain"},
		{"space in name", "my root: a@b.org\n", "contains white space"},
		{"NUL", "x: a\x00b\n", "aliases:1: NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text), "aliases")
			if sysexits.Code(err) != sysexits.Config {
				t.Fatalf("error %v, want exit 78", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestParseSyntax(t *testing.T) {
	text := "# comment\r\n\r\n   # indented comment\r\nRoot: a@x.org,\r\n# comment inside\r\n\tb@x.org\r\n\"quoted\": \"c d\"@x.org, <e@x.org> (Eve)\r\nlast: f@x.org"
	tab := mustParse(t, text)
	if tab.Len() != 3 {
		t.Fatalf("Len = %d, want 3", tab.Len())
	}
	got, err := tab.Expand([]string{"root", "QUOTED", "last"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := `a@x.org|b@x.org|"c d"@x.org|e@x.org|f@x.org`
	if strings.Join(got, "|") != want {
		t.Errorf("Expand = %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "aliases")
	if err := os.WriteFile(p, []byte("root: me@example.org\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("Load error %v, want it to start with %s:2:", err, p)
	}
	_, err = Load(filepath.Join(dir, "missing"))
	if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Load of a missing file: %v, want exit 78 naming it", err)
	}
}

func TestDiamondAliasesExpandOnce(t *testing.T) {
	// 40 levels of a: b, c; b: d; c: d ... would be 2^40 paths without
	// memoisation; the result is a single address.
	var b strings.Builder
	for i := 0; i < 40; i++ {
		b.WriteString("l" + strconv.Itoa(i) + ": x" + strconv.Itoa(i) + ", y" + strconv.Itoa(i) + "\n")
		b.WriteString("x" + strconv.Itoa(i) + ": l" + strconv.Itoa(i+1) + "\n")
		b.WriteString("y" + strconv.Itoa(i) + ": l" + strconv.Itoa(i+1) + "\n")
	}
	b.WriteString("l40: end@example.org\n")
	got, err := mustParse(t, b.String()).Expand([]string{"l0"}, "")
	if err != nil || len(got) != 1 || got[0] != "end@example.org" {
		t.Errorf("Expand = %q, %v", got, err)
	}
}
