package doctor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/ehlo"
)

func TestPostfixHELORestrictionsEmulation(t *testing.T) {
	for _, tc := range []struct {
		name            string
		invalid, nonFQD bool
	}{
		{"mail.example.com", false, false},
		{"mail.example.com.", false, false},
		{"a-b.example.com", false, false},
		{"yoga", false, true},
		{"localhost", false, true},
		{"[192.0.2.7]", false, false},
		{"[IPv6:2001:db8::1]", false, false},
		{"[2001:db8::1]", true, true},
		{"[192.0.2.300]", true, true},
		{"[192.0.2.7", true, true},
		{"192.0.2.7", false, true}, // a bare address is valid but numeric
		{"12345", true, true},
		{"-mail.example.com", true, true},
		{"mail-.example.com", true, true},
		{"mail..example.com", true, true},
		{".example.com", true, true},
		{"mail_1.example.com", true, true},
		{"mail example.com", true, true},
		{strings.Repeat("a", 64) + ".example.com", true, true},
		{strings.Repeat("a", 63) + ".example.com", false, false},
		{"", true, true},
	} {
		gotInv := PostfixInvalidHELO(tc.name) != ""
		gotNon := PostfixNonFQDNHELO(tc.name) != ""
		if gotInv != tc.invalid || gotNon != tc.nonFQD {
			t.Errorf("%q: reject_invalid %v (want %v: %q), reject_non_fqdn %v (want %v: %q)",
				tc.name, gotInv, tc.invalid, PostfixInvalidHELO(tc.name), gotNon, tc.nonFQD, PostfixNonFQDNHELO(tc.name))
		}
	}
}

func TestSeenAddressReadsTheClientAddressFromTheEHLOGreeting(t *testing.T) {
	for _, tc := range []struct {
		first string
		want  string
	}{
		{"smtp.gmail.com at your service, [203.0.113.9]", "203.0.113.9"},
		{"mx.example.org Hello client.example [IPv6:2001:db8::5]", "2001:db8::5"},
		{"mail.example.org Hello [::ffff:198.51.100.1]", "198.51.100.1"},
		{"mail.gsendmail.test", ""},
		{"mail [not-an-address]", ""},
	} {
		a, ok := SeenAddress([]string{tc.first, "PIPELINING"})
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.first, got, tc.want)
		}
	}
	if _, ok := SeenAddress(nil); ok {
		t.Error("no reply, yet an address")
	}
}

// fakeResolver answers from maps; everything else does not resolve.
type fakeResolver struct {
	hosts map[string][]string
	addrs map[string][]string
}

func (f fakeResolver) LookupHost(_ context.Context, h string) ([]string, error) {
	if a, ok := f.hosts[h]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}
}

func (f fakeResolver) LookupAddr(_ context.Context, a string) ([]string, error) {
	if n, ok := f.addrs[a]; ok {
		return n, nil
	}
	return nil, errors.New("no PTR")
}

func statuses(r *Report) map[string]Check {
	m := map[string]Check{}
	for _, c := range r.Checks {
		m[c.Step] = c
	}
	return m
}

// TestEHLOExplanationNamesTheRuleThatChoseTheName drives the real chooser
// with a controlled host name and resolver, then the explanation.
func TestEHLOExplanationNamesTheRuleThatChoseTheName(t *testing.T) {
	res := fakeResolver{
		hosts: map[string][]string{
			"yoga":             {"203.0.113.5"},
			"yoga.example.com": {"203.0.113.5"},
			"mail.example.com": {"198.51.100.7"},
		},
		addrs: map[string][]string{"203.0.113.5": {"yoga.example.com."}},
	}
	public := &net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 40000}
	private := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 40000}
	for _, tc := range []struct {
		name       string
		configured string
		hostname   string
		local      net.Addr
		server     string // the server's address
		seen       string // what the server says it sees; "" none
		wantName   string
		wantRule   string
		wantEHLO   Status
		want       map[string]Status
	}{
		{
			name: "configured", configured: "mail.example.com", hostname: "yoga", local: public,
			server: "192.0.2.1", wantName: "mail.example.com", wantRule: "rule: configured", wantEHLO: OK,
			want: map[string]Status{"ehlo syntax": OK, "ehlo postfix": OK, "ehlo dns": OK},
		},
		{
			name: "system FQDN through getfqdn-style canonicalisation", hostname: "yoga", local: public,
			server: "192.0.2.1", seen: "203.0.113.5", wantName: "yoga.example.com", wantRule: "rule: system FQDN", wantEHLO: OK,
			want: map[string]Status{"ehlo postfix": OK, "ehlo dns": OK, "ehlo match": OK, "ehlo rdns": OK},
		},
		{
			name: "public address literal when the host name is bare", hostname: "laptop", local: public,
			server: "192.0.2.1", seen: "203.0.113.5", wantName: "[203.0.113.5]", wantRule: "rule: address literal", wantEHLO: OK,
			want: map[string]Status{"ehlo postfix": OK, "ehlo match": OK, "ehlo rdns": OK},
		},
		{
			name: "private literal to a public server warns", hostname: "pod-7f9c", local: private,
			server: "192.0.2.1", seen: "198.51.100.200", wantName: "[10.1.2.3]", wantRule: "rule: address literal", wantEHLO: Warning,
			want: map[string]Status{"ehlo postfix": OK, "ehlo match": Warning, "ehlo rdns": Warning},
		},
		{
			name: "private literal to a server on the same private network is fine", hostname: "pod-7f9c", local: private,
			server: "10.1.2.1", wantName: "[10.1.2.3]", wantRule: "rule: address literal", wantEHLO: OK,
			want: map[string]Status{"ehlo postfix": OK},
		},
		{
			name: "configured name that does not resolve and mismatches", configured: "nowhere.example.net", hostname: "yoga", local: public,
			server: "192.0.2.1", seen: "203.0.113.5", wantName: "nowhere.example.net", wantRule: "rule: configured", wantEHLO: OK,
			want: map[string]Status{"ehlo dns": Warning, "ehlo rdns": Warning},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.hostname
			ch := ehlo.Chooser{Configured: tc.configured, Hostname: func() (string, error) { return host, nil }, Resolver: res}
			choice, err := ch.Choose(context.Background(), tc.local)
			if err != nil {
				t.Fatal(err)
			}
			r := &Report{}
			var seen netip.Addr
			if tc.seen != "" {
				seen = netip.MustParseAddr(tc.seen)
			}
			local, _ := netip.AddrFromSlice(tc.local.(*net.TCPAddr).IP)
			r.explainEHLO(context.Background(), choice, ehloEnv{
				server: netip.MustParseAddr(tc.server), local: local.Unmap(), seen: seen, haveSeen: tc.seen != "", res: res,
			})
			got := statuses(r)
			e := got["ehlo"]
			if choice.Name != tc.wantName || !strings.HasPrefix(e.Message, tc.wantName+" ("+tc.wantRule) || e.Status != tc.wantEHLO {
				t.Fatalf("ehlo line %+v (chose %q); want %q by %q with status %s", e, choice.Name, tc.wantName, tc.wantRule, tc.wantEHLO)
			}
			if e.Status != OK && !strings.Contains(e.Fix, "ehlo_name") {
				t.Errorf("warning without an ehlo_name fix: %+v", e)
			}
			for step, st := range tc.want {
				if got[step].Status != st {
					t.Errorf("%s: %s %q, want %s", step, got[step].Status, got[step].Message, st)
				}
			}
			for _, c := range r.Checks {
				if c.Status != OK && c.Fix == "" {
					t.Errorf("%s is %s without a fix", c.Step, c.Status)
				}
			}
		})
	}
}

func TestEHLOExplanationFlagsANameThePostfixRulesRefuse(t *testing.T) {
	r := &Report{}
	// A name such a server refuses can come only from elsewhere than
	// the chooser (which validates); explain it all the same.
	r.explainEHLO(context.Background(), ehlo.Choice{Name: "yoga", Rule: ehlo.Configured, Why: "configured ehlo_name"}, ehloEnv{res: fakeResolver{}})
	got := statuses(r)
	if got["ehlo syntax"].Status != Error || got["ehlo postfix"].Status != Error || got["ehlo postfix"].Code != 78 {
		t.Fatalf("checks %+v", r.Checks)
	}
	if !strings.Contains(got["ehlo postfix"].Message, "need fully-qualified hostname") {
		t.Errorf("postfix line %q should quote Postfix's refusal", got["ehlo postfix"].Message)
	}
}
