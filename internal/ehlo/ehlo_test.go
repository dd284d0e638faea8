package ehlo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestValidateAcceptsDomainsAndLiterals(t *testing.T) {
	for _, name := range []string{
		"yoga.example.com",
		"YOGA.Example.COM",
		"a.b",
		"mail-1.example.org",
		"xn--bcher-kva.example",
		"123.example.com",
		"host.example.c0m",
		strings.Repeat("a", 63) + ".example",
		"[192.0.2.7]",
		"[10.1.2.3]",
		"[IPv6:2001:db8::1]",
		"[ipv6:2001:DB8::1]",
		"[IPv6:::ffff:192.0.2.1]",
	} {
		if err := Validate(name); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", name, err)
		}
	}
}

func TestValidateRefusesNamesServersReject(t *testing.T) {
	for _, tc := range []struct{ name, why string }{
		{"", "empty"},
		{"yoga", `"yoga" is not fully qualified: it needs a dot, e.g. yoga.example.com`},
		{"localhost", "always means the local machine"},
		{"LocalHost", "always means the local machine"},
		{"dev.localhost", "always means the local machine"},
		{"localhost.localdomain", ".localdomain"},
		{"yoga.localdomain", ".localdomain"},
		{"yoga.example.com.", "ends with a dot"},
		{"yoga..example.com", "empty label"},
		{".example.com", "empty label"},
		{"-yoga.example.com", "hyphen"},
		{"yoga-.example.com", "hyphen"},
		{"yo_ga.example.com", `contains "_"`},
		{"yoga example.com", `contains " "`},
		{"bücher.example", "non-ASCII"},
		{"1.2.3.4", "write it as an address literal, [1.2.3.4]"},
		{"host.123", "all-numeric"},
		{strings.Repeat("a", 64) + ".example", "label of 64 characters"},
		{strings.Repeat("abcdefghi.", 26) + "com", "at most 253"},
		{"[192.0.2.7", "not an address literal"},
		{"[]", "not an address literal"},
		{"[192.0.2.256]", "not a valid IPv4"},
		{"[2001:db8::1]", "lacks the IPv6: tag: write it as [IPv6:2001:db8::1]"},
		{"[IPv6:192.0.2.1]", "not a valid IPv6"},
		{"[IPv6:fe80::1%eth0]", "not a valid IPv6"},
		{"[x-tag:content]", "not an IPv4 or IPv6"},
		{"[yoga.example.com]", "not a valid IPv4"},
	} {
		err := Validate(tc.name)
		if err == nil {
			t.Errorf("Validate(%q) = nil, want an error about %q", tc.name, tc.why)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("Validate(%q) = %q, want it to say %q", tc.name, err, tc.why)
		}
	}
}

// fakeResolver answers from maps; a missing entry is "no such host".
type fakeResolver struct {
	hosts map[string][]string // name -> addresses
	addrs map[string][]string // address -> names
	calls atomic.Int32
}

func (r *fakeResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.calls.Add(1)
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	r.calls.Add(1)
	if n, ok := r.addrs[addr]; ok {
		return n, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// writeHosts writes a hosts file for a Chooser, so that no test reads the
// machine's /etc/hosts.
func writeHosts(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func hostname(h string) func() (string, error) {
	return func() (string, error) { return h, nil }
}

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

func TestChooseByRule(t *testing.T) {
	debianHosts := &fakeResolver{
		hosts: map[string][]string{"yoga": {"127.0.1.1"}, "yoga.example.com": {"127.0.1.1"}},
		addrs: map[string][]string{"127.0.1.1": {"yoga.example.com", "yoga"}},
	}
	for _, tc := range []struct {
		test        string
		configured  string
		host        string
		resolver    *fakeResolver
		hosts       string // hosts file; "" is an empty one
		local       net.Addr
		wantName    string
		wantRule    Rule
		wantPrivate bool
		wantWhy     []string
	}{
		{
			test: "configured name wins", configured: "mail.example.org", host: "yoga.example.com",
			resolver: debianHosts, local: tcp("192.0.2.7"),
			wantName: "mail.example.org", wantRule: Configured, wantWhy: []string{"configured ehlo_name"},
		},
		{
			test: "configured literal is used and flagged private", configured: "[10.0.0.1]", host: "yoga",
			resolver: &fakeResolver{}, local: tcp("192.0.2.7"),
			wantName: "[10.0.0.1]", wantRule: Configured, wantPrivate: true, wantWhy: []string{"configured ehlo_name", "private"},
		},
		{
			test: "bare host name canonicalised through /etc/hosts", host: "yoga",
			resolver: debianHosts, hosts: "127.0.0.1 localhost\n127.0.1.1 yoga.example.com yoga\n", local: tcp("192.168.1.115"),
			wantName: "yoga.example.com", wantRule: SystemFQDN,
			wantWhy: []string{`system host name yoga.example.com (canonical name of host name "yoga", fully qualified, resolves)`},
		},
		{
			test: "dotted host name that resolves", host: "yoga.example.com",
			resolver: debianHosts, local: tcp("192.168.1.115"),
			wantName: "yoga.example.com", wantRule: SystemFQDN,
			wantWhy: []string{"system host name yoga.example.com (fully qualified, resolves)"},
		},
		{
			test: "dotted host name with trailing dot", host: "yoga.example.com.",
			resolver: debianHosts, local: tcp("192.168.1.115"),
			wantName: "yoga.example.com", wantRule: SystemFQDN,
		},
		{
			test: "bare host name that does not resolve gives the literal", host: "yoga",
			resolver: &fakeResolver{}, local: tcp("192.0.2.7"),
			wantName: "[192.0.2.7]", wantRule: AddressLiteral,
			wantWhy: []string{`address literal of the local address [192.0.2.7] because host name "yoga" is not fully qualified`},
		},
		{
			test: "bare host name whose reverse names are all bare or local", host: "yoga",
			resolver: &fakeResolver{
				hosts: map[string][]string{"yoga": {"127.0.1.1"}},
				addrs: map[string][]string{"127.0.1.1": {"yoga", "localhost.localdomain", "localhost"}},
			},
			local:    tcp("192.0.2.7"),
			wantName: "[192.0.2.7]", wantRule: AddressLiteral,
		},
		{
			test: "localhost gives the literal", host: "localhost",
			resolver: &fakeResolver{hosts: map[string][]string{"localhost": {"127.0.0.1"}}}, local: tcp("192.0.2.7"),
			wantName: "[192.0.2.7]", wantRule: AddressLiteral, wantWhy: []string{`host name "localhost" is a local-only name`},
		},
		{
			test: "localhost.localdomain gives the literal", host: "localhost.localdomain",
			resolver: &fakeResolver{hosts: map[string][]string{"localhost.localdomain": {"127.0.0.1"}}}, local: tcp("192.0.2.7"),
			wantName: "[192.0.2.7]", wantRule: AddressLiteral, wantWhy: []string{"localdomain"},
		},
		{
			test: "dotted host name that does not resolve gives the literal", host: "pod-7.cluster.internal",
			resolver: &fakeResolver{}, local: tcp("192.0.2.7"),
			wantName: "[192.0.2.7]", wantRule: AddressLiteral, wantWhy: []string{`host name "pod-7.cluster.internal" does not resolve`},
		},
		{
			test: "IPv6 literal", host: "yoga", resolver: &fakeResolver{},
			local:    &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Zone: ""},
			wantName: "[IPv6:2001:db8::1]", wantRule: AddressLiteral,
		},
		{
			test: "IPv6 link-local zone is stripped and flagged", host: "yoga", resolver: &fakeResolver{},
			local:    &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"},
			wantName: "[IPv6:fe80::1]", wantRule: AddressLiteral, wantPrivate: true,
		},
		{
			test: "IPv4-mapped IPv6 is written as IPv4", host: "yoga", resolver: &fakeResolver{},
			local:    &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.9")},
			wantName: "[192.0.2.9]", wantRule: AddressLiteral,
		},
		{
			test: "private literal is flagged and the reason suggests ehlo_name", host: "yoga", resolver: &fakeResolver{},
			local:    tcp("10.1.2.3"),
			wantName: "[10.1.2.3]", wantRule: AddressLiteral, wantPrivate: true,
			wantWhy: []string{`address literal of the local address [10.1.2.3] because host name "yoga" is not fully qualified (it is in neither the hosts file nor DNS); some servers refuse private addresses in EHLO: set ehlo_name to a public name`},
		},
		{
			test: "CGNAT literal is flagged", host: "yoga", resolver: &fakeResolver{},
			local: tcp("100.64.3.4"), wantName: "[100.64.3.4]", wantRule: AddressLiteral, wantPrivate: true,
		},
		{
			test: "ULA literal is flagged", host: "yoga", resolver: &fakeResolver{},
			local: tcp("fd00::5"), wantName: "[IPv6:fd00::5]", wantRule: AddressLiteral, wantPrivate: true,
		},
		{
			test: "loopback literal is flagged", host: "yoga", resolver: &fakeResolver{},
			local: tcp("127.0.0.1"), wantName: "[127.0.0.1]", wantRule: AddressLiteral, wantPrivate: true,
		},
	} {
		t.Run(tc.test, func(t *testing.T) {
			c := &Chooser{Configured: tc.configured, Hostname: hostname(tc.host), Resolver: tc.resolver, HostsFile: writeHosts(t, tc.hosts)}
			got, err := c.Choose(context.Background(), tc.local)
			if err != nil {
				t.Fatalf("Choose: %v", err)
			}
			if got.Name != tc.wantName || got.Rule != tc.wantRule || got.PrivateLiteral != tc.wantPrivate {
				t.Errorf("Choose = %q %v private=%v, want %q %v private=%v (why: %s)",
					got.Name, got.Rule, got.PrivateLiteral, tc.wantName, tc.wantRule, tc.wantPrivate, got.Why)
			}
			for _, w := range tc.wantWhy {
				if !strings.Contains(got.Why, w) {
					t.Errorf("Why = %q, want it to contain %q", got.Why, w)
				}
			}
			if strings.ContainsAny(got.Why, "\r\n") {
				t.Errorf("Why is not one line: %q", got.Why)
			}
			if err := Validate(got.Name); err != nil {
				t.Errorf("chosen name %q does not pass Validate: %v", got.Name, err)
			}
		})
	}
}

func TestChooseRefusesInvalidConfiguredNameAsConfigError(t *testing.T) {
	c := &Chooser{Configured: "yoga", Hostname: hostname("yoga.example.com"), Resolver: &fakeResolver{}}
	_, err := c.Choose(context.Background(), tcp("192.0.2.7"))
	if err == nil {
		t.Fatal("Choose accepted ehlo_name \"yoga\"")
	}
	if sysexits.Code(err) != sysexits.Config {
		t.Errorf("exit code %d, want %d", sysexits.Code(err), sysexits.Config)
	}
	if !strings.Contains(err.Error(), "ehlo_name") || !strings.Contains(err.Error(), "yoga.example.com") {
		t.Errorf("error %q should name ehlo_name and suggest a qualified name", err)
	}
}

func TestChooseWithoutUsableNameOrLocalAddressIsAnError(t *testing.T) {
	c := &Chooser{Hostname: hostname("yoga"), Resolver: &fakeResolver{}}
	_, err := c.Choose(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "set ehlo_name") {
		t.Errorf("err = %v, want one suggesting ehlo_name", err)
	}
}

func TestChooseReadsHostNameErrorAsUnusable(t *testing.T) {
	c := &Chooser{Hostname: func() (string, error) { return "", errors.New("uname failed") }, Resolver: &fakeResolver{}}
	got, err := c.Choose(context.Background(), tcp("192.0.2.7"))
	if err != nil || got.Rule != AddressLiteral {
		t.Fatalf("Choose = %+v, %v; want the address literal", got, err)
	}
}

func TestChooseLooksUpSystemNameOncePerChooser(t *testing.T) {
	r := &fakeResolver{
		hosts: map[string][]string{"yoga": {"192.0.2.50"}, "yoga.example.com": {"192.0.2.50"}},
		addrs: map[string][]string{"192.0.2.50": {"yoga.example.com"}},
	}
	var hostnameCalls atomic.Int32
	c := &Chooser{Resolver: r, HostsFile: writeHosts(t, ""), Hostname: func() (string, error) { hostnameCalls.Add(1); return "yoga", nil }}
	for i := 0; i < 3; i++ {
		got, err := c.Choose(context.Background(), tcp("192.0.2.7"))
		if err != nil || got.Name != "yoga.example.com" {
			t.Fatalf("Choose #%d = %+v, %v", i, got, err)
		}
	}
	if hostnameCalls.Load() != 1 {
		t.Errorf("host name read %d times, want 1", hostnameCalls.Load())
	}
	if n := r.calls.Load(); n != 3 { // forward, reverse, forward of the FQDN
		t.Errorf("resolver called %d times, want 3 (once per look-up of the first Choose)", n)
	}
	// A per-account copy made after first use shares the result.
	c2 := *c
	c2.Configured = ""
	if got, err := c2.Choose(context.Background(), tcp("192.0.2.7")); err != nil || got.Name != "yoga.example.com" {
		t.Fatalf("copy: Choose = %+v, %v", got, err)
	}
	if hostnameCalls.Load() != 1 {
		t.Errorf("a copy looked the host name up again")
	}
}

func TestChoosersOfTheRealSystemShareOneProcessCache(t *testing.T) {
	a, b := &Chooser{}, &Chooser{Configured: "x.example.org"}
	if a.systemCache() != processCache || b.systemCache() != processCache {
		t.Error("Choosers with no injected Hostname or Resolver do not share the process cache")
	}
	c := &Chooser{Hostname: hostname("h")}
	if c.systemCache() == processCache {
		t.Error("a Chooser with an injected Hostname uses the process cache")
	}
}

func TestChooseDoesNotCacheResultOfCancelledContext(t *testing.T) {
	r := &fakeResolver{hosts: map[string][]string{"yoga.example.com": {"192.0.2.1"}}}
	c := &Chooser{Resolver: r, Hostname: hostname("yoga.example.com")}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Choose(ctx, tcp("192.0.2.7"))
	got, err := c.Choose(context.Background(), tcp("192.0.2.7"))
	if err != nil || got.Rule != SystemFQDN {
		t.Errorf("Choose after a cancelled first call = %+v, %v; want the system name", got, err)
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		ip   net.IP
		want string
	}{
		{net.ParseIP("192.0.2.7"), "[192.0.2.7]"},
		{net.ParseIP("192.0.2.7").To4(), "[192.0.2.7]"},
		{net.ParseIP("::ffff:10.0.0.1"), "[10.0.0.1]"},
		{net.ParseIP("2001:db8::1"), "[IPv6:2001:db8::1]"},
		{net.ParseIP("2001:0db8:0000:0000:0000:0000:0000:0001"), "[IPv6:2001:db8::1]"},
		{nil, ""},
		{net.IP{1, 2, 3}, ""},
	} {
		if got := Literal(tc.ip); got != tc.want {
			t.Errorf("Literal(%v) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestRuleString(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []Rule{Configured, SystemFQDN, AddressLiteral, Rule(0)} {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("Rule(%d).String() = %q: empty or duplicate", int(r), s)
		}
		seen[s] = true
	}
}

// LiteralIP is what doctor compares with the socket's address, so a mapped
// IPv6 literal must come back as the IPv4 address it names.
func TestLiteralIPUnmapsAndRejectsNonLiterals(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" : not a literal
	}{
		{"[192.0.2.1]", "192.0.2.1"},
		{"[IPv6:2001:db8::1]", "2001:db8::1"},
		{"[ipv6:::ffff:192.0.2.1]", "192.0.2.1"},
		{"[]", ""},
		{"192.0.2.1", ""},
		{"[host.example]", ""},
	} {
		a, ok := LiteralIP(tc.in)
		if ok != (tc.want != "") || (ok && a.String() != tc.want) {
			t.Errorf("LiteralIP(%q) = %v, %v; want %q", tc.in, a, ok, tc.want)
		}
	}
}

func TestIsPrivateCoversMappedSharedAndLinkLocal(t *testing.T) {
	for in, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:192.168.1.1": true, "100.64.0.1": true, "fe80::1": true,
		"fd00::1": true, "127.0.0.1": true, "0.0.0.0": true,
		"192.0.2.1": false, "2001:db8::1": false, "100.128.0.1": false,
	} {
		if got := IsPrivate(netip.MustParseAddr(in)); got != want {
			t.Errorf("IsPrivate(%s) = %v, want %v", in, got, want)
		}
	}
}
