package ehlo

import (
	"context"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
)

// goLikeResolver answers reverse look-ups the way Go's resolver does from
// /etc/hosts: the names of every line with the address.
func goLikeResolver(hosts string) *fakeResolver {
	r := &fakeResolver{hosts: map[string][]string{}, addrs: map[string][]string{}}
	for _, line := range strings.Split(hosts, "\n") {
		l, ok := parseHostsLine(line)
		if !ok {
			continue
		}
		for _, n := range l.names {
			r.hosts[n] = append(r.hosts[n], l.addr)
		}
		r.addrs[l.addr] = append(r.addrs[l.addr], l.names...)
	}
	return r
}

func TestSystemFQDNFollowsGlibcNotGoReverseLookup(t *testing.T) {
	for _, tc := range []struct {
		test, host, hosts, smarthost string
		want                         string // "" means the address literal
		why                          string
	}{
		{
			test: "a name found only through 127.0.0.1 on another line is not ours",
			host: "runsc", hosts: "127.0.0.1 localhost\n127.0.0.1 runsc vm\n127.0.0.1 mail.test.example\n",
			why: `hosts line "127.0.0.1 runsc vm" has no other usable fully qualified name`,
		},
		{
			test: "a bare own line does not borrow a name from a later line",
			host: "vm", hosts: "127.0.0.1 localhost runsc\n::1 localhost\n127.0.0.1 vm\n10.0.0.1 vm.test.example\n",
		},
		{
			test: "Debian's own line on 127.0.1.1 counts",
			host: "yoga", hosts: "127.0.0.1 localhost\n127.0.1.1 yoga.test.example yoga\n",
			want: "yoga.test.example",
		},
		{
			test: "only the first line naming the host counts",
			host: "yoga", hosts: "127.0.1.1 yoga\n192.0.2.5 yoga.test.example yoga\n",
		},
		{
			test: "the smarthost's name on our own line is skipped",
			host: "runsc", hosts: "127.0.0.1 localhost\n127.0.1.1 runsc mail.test.example\n", smarthost: "mail.test.example",
		},
		{
			test: "another alias on our own line is taken instead of the smarthost",
			host: "runsc", hosts: "127.0.1.1 mail.test.example runsc.test.example runsc\n", smarthost: "MAIL.test.example.",
			want: "runsc.test.example",
		},
		{
			test: "a dotted host name equal to the smarthost is refused",
			host: "mail.test.example", hosts: "127.0.1.1 mail.test.example mail\n", smarthost: "mail.test.example",
			why: "is the server's own name",
		},
	} {
		t.Run(tc.test, func(t *testing.T) {
			c := &Chooser{Hostname: hostname(tc.host), Resolver: goLikeResolver(tc.hosts), HostsFile: writeHosts(t, tc.hosts), Smarthost: tc.smarthost}
			got, err := c.Choose(context.Background(), tcp("192.0.2.7"))
			if err != nil {
				t.Fatal(err)
			}
			want, rule := tc.want, SystemFQDN
			if want == "" {
				want, rule = "[192.0.2.7]", AddressLiteral
			}
			if got.Name != want || got.Rule != rule {
				t.Errorf("Choose = %q (%v: %s), want %q", got.Name, got.Rule, got.Why, want)
			}
			if tc.why != "" && !strings.Contains(got.Why, tc.why) {
				t.Errorf("Why = %q, want it to say %q", got.Why, tc.why)
			}
		})
	}
}

func TestChooseCachesPerSmarthost(t *testing.T) {
	hosts := "127.0.1.1 mail.test.example runsc\n"
	c := &Chooser{Hostname: hostname("runsc"), Resolver: goLikeResolver(hosts), HostsFile: writeHosts(t, hosts)}
	if got, _ := c.Choose(context.Background(), tcp("192.0.2.7")); got.Name != "mail.test.example" {
		t.Fatalf("without a smarthost: %q, want mail.test.example", got.Name)
	}
	c2 := *c
	c2.Smarthost = "mail.test.example"
	if got, _ := c2.Choose(context.Background(), tcp("192.0.2.7")); got.Name != "[192.0.2.7]" {
		t.Fatalf("with that smarthost: %q, want the literal (cached answer of another smarthost reused?)", got.Name)
	}
}

// The DNS half of the rule, through the private dnsmasq: a host name not
// in the hosts file is canonicalised through its DNS address's PTR, but
// not through a loopback address.
func TestSystemFQDNThroughPrivateDNS(t *testing.T) {
	dns := dnsserver.Start(t, dnsserver.Options{
		Addresses: []dnsserver.Address{
			{Name: "yoga", Addr: "192.0.2.60"},
			{Name: "loopy", Addr: "127.0.1.1"},
		},
		Hosts: []dnsserver.Host{{Name: "yoga.test.example", Addr: "192.0.2.60"}},
		PTRs:  []dnsserver.PTR{{Addr: "127.0.1.1", Name: "mail.test.example"}},
		Local: []string{"test.example"},
	})
	for _, tc := range []struct{ host, want string }{
		{"yoga", "yoga.test.example"},
		{"loopy", "[192.0.2.7]"},
		{"missing", "[192.0.2.7]"},
		{"yoga.test.example", "yoga.test.example"},
		{"nxdomain.test.example", "[192.0.2.7]"},
	} {
		c := &Chooser{Hostname: hostname(tc.host), Resolver: dns.Resolver(), HostsFile: writeHosts(t, "127.0.0.1 localhost\n")}
		got, err := c.Choose(context.Background(), tcp("192.0.2.7"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != tc.want {
			t.Errorf("host %q: Choose = %q (%s), want %q", tc.host, got.Name, got.Why, tc.want)
		}
	}
}

func FuzzParseHostsLine(f *testing.F) {
	for _, s := range []string{"127.0.1.1 yoga.example.com yoga", "::1 localhost ip6-localhost # comment", "fe80::1%eth0 link", "# only a comment", "bad line"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := parseHostsLine(s)
		if !ok {
			return
		}
		if !l.ip.IsValid() || len(l.names) == 0 {
			t.Fatalf("accepted %q as %+v", s, l)
		}
		for _, n := range l.names {
			if n == "" || strings.ContainsAny(n, " \t#") {
				t.Fatalf("name %q from %q", n, s)
			}
		}
	})
}
