package doctor

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
)

// privateDNS is the zone of the EHLO DNS tests.
func privateDNS(t *testing.T) *dnsserver.Server {
	return dnsserver.Start(t, dnsserver.Options{
		Hosts: []dnsserver.Host{
			{Name: "good.test.example", Addr: "203.0.113.5"},
			{Name: "loop.test.example", Addr: "127.0.0.1"},
		},
		MXs: []dnsserver.MX{{Name: "mxonly.test.example", Target: "mail.test.example", Pref: 10}},
		PTRs: []dnsserver.PTR{
			{Addr: "203.0.113.9", Name: "dangling.test.example"}, // no A record
			{Addr: "203.0.113.10", Name: "other.test.example"},
		},
		Addresses: []dnsserver.Address{{Name: "other.test.example", Addr: "203.0.113.10"}},
		Local:     []string{"test.example", "113.0.203.in-addr.arpa"},
	})
}

func hostsFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func configured(name string) ehlo.Choice {
	return ehlo.Choice{Name: name, Rule: ehlo.Configured, Why: "configured ehlo_name"}
}

// Items 6 and 7: the EHLO name is checked in DNS, as the server does.
func TestEHLODNSAsksDNSNotTheHostsFile(t *testing.T) {
	dns := privateDNS(t)
	hosts := hostsFile(t, "127.0.0.1 localhost\n203.0.113.77 hostsonly.test.example\n203.0.113.5 good.test.example\n")
	for _, tc := range []struct {
		name   string
		status Status
		words  string
	}{
		{"good.test.example", OK, "resolves in DNS to 203.0.113.5"},
		{"hostsonly.test.example", Warning, "only through the hosts file (203.0.113.77)"},
		{"loop.test.example", Warning, "only to the loopback address 127.0.0.1"},
		{"mxonly.test.example", OK, "an MX record (mail.test.example)"},
		{"missing.test.example", Warning, "does not resolve in DNS"},
	} {
		r := &Report{}
		r.explainEHLO(context.Background(), configured(tc.name), ehloEnv{res: dns.Resolver(), hostsFile: hosts})
		c := statuses(r)["ehlo dns"]
		if c.Status != tc.status || !strings.Contains(c.Message, tc.words) {
			t.Errorf("%s: ehlo dns = %s %q; want %s saying %q", tc.name, c.Status, c.Message, tc.status, tc.words)
		}
	}
}

func TestEHLODNSFailureIsNotCalledMissing(t *testing.T) {
	dead, err := dnsserver.DeadResolvConf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{}
	r.explainEHLO(context.Background(), configured("good.test.example"), ehloEnv{res: &net.Resolver{}, resolvConf: dead, hostsFile: hostsFile(t, "")})
	c := statuses(r)["ehlo dns"]
	if c.Status != Warning || !strings.Contains(c.Message, "could not ask DNS") {
		t.Errorf("ehlo dns with no DNS server = %s %q; want a warning that DNS could not be asked", c.Status, c.Message)
	}
}

// Items 8 and 9: with a public local address and a server that does not
// name the client (Postfix), match and reverse DNS are checked against the
// local address, and only a forward-confirmed PTR name is suggested.
func TestEHLOMatchUsesPublicLocalAddressAndSuggestsOnlyFCrDNSNames(t *testing.T) {
	dns := privateDNS(t)
	hosts := hostsFile(t, "")
	for _, tc := range []struct {
		local       string
		match, rdns Status
		rdnsWords   string
		never       string
	}{
		{"203.0.113.5", OK, OK, "the EHLO name (forward-confirmed)", ""},
		{"203.0.113.9", Warning, Warning, "there is no forward-confirmed name", `ehlo_name = "dangling.test.example"`},
		{"203.0.113.10", Warning, Warning, `set ehlo_name = "other.test.example"`, ""},
	} {
		r := &Report{}
		r.explainEHLO(context.Background(), configured("good.test.example"), ehloEnv{
			server: netip.MustParseAddr("198.51.100.1"), local: netip.MustParseAddr(tc.local), res: dns.Resolver(), hostsFile: hosts,
		})
		got := statuses(r)
		if got["ehlo match"].Status != tc.match || !strings.Contains(got["ehlo match"].Message, "this connection comes from "+tc.local) {
			t.Errorf("local %s: ehlo match = %+v, want %s from the local address", tc.local, got["ehlo match"], tc.match)
		}
		rd := got["ehlo rdns"]
		if rd.Status != tc.rdns || !strings.Contains(rd.Message+" "+rd.Fix, tc.rdnsWords) {
			t.Errorf("local %s: ehlo rdns = %+v, want %s saying %q", tc.local, rd, tc.rdns, tc.rdnsWords)
		}
		if tc.never != "" && strings.Contains(rd.Fix, tc.never) {
			t.Errorf("local %s: suggests a name that does not resolve back: %q", tc.local, rd.Fix)
		}
	}
}

func TestEHLOMatchSaysWhenItCannotBeChecked(t *testing.T) {
	r := &Report{}
	r.explainEHLO(context.Background(), configured("good.test.example"), ehloEnv{
		server: netip.MustParseAddr("198.51.100.1"), local: netip.MustParseAddr("192.168.1.115"), res: fakeResolver{},
	})
	c := statuses(r)["ehlo match"]
	if c.Step == "" || !strings.Contains(c.Message, "not checked") || !strings.Contains(c.Message, "192.168.1.115") {
		t.Errorf("ehlo match = %+v; want a line saying the check could not be made and why", c)
	}
}

// Item 10: a configured private literal is compared with the address the
// connection really comes from.
func TestConfiguredPrivateLiteralIsComparedWithTheConnection(t *testing.T) {
	ch := configured("[10.1.2.3]")
	ch.PrivateLiteral = true
	for _, tc := range []struct {
		local  string
		status Status
		words  string
	}{
		{"127.0.0.1", Warning, "this connection comes from 127.0.0.1"},
		{"10.1.2.3", OK, "sees it as it is"},
	} {
		r := &Report{}
		r.explainEHLO(context.Background(), ch, ehloEnv{server: netip.MustParseAddr("127.0.0.1"), local: netip.MustParseAddr(tc.local), res: fakeResolver{}})
		c := statuses(r)["ehlo"]
		if c.Status != tc.status || !strings.Contains(c.Message, tc.words) {
			t.Errorf("local %s: ehlo = %s %q; want %s saying %q", tc.local, c.Status, c.Message, tc.status, tc.words)
		}
		if c.Status != OK && !strings.Contains(c.Fix, "[127.0.0.1]") {
			t.Errorf("fix %q does not offer the real literal", c.Fix)
		}
	}
}

// Item 11.
func TestSettingsLineForTLSNoneDoesNotClaimAVerifiedCertificate(t *testing.T) {
	r := &Report{}
	r.settings(&config.Account{Name: "t", Host: "127.0.0.1", Port: 25, TLS: smtp.None, Auth: "none"})
	c := statuses(r)["settings"]
	if c.Status != OK || strings.Contains(c.Message, "certificate verified") || !strings.Contains(c.Message, "no certificate") {
		t.Errorf("settings = %+v", c)
	}
}

func FuzzParseAnswer(f *testing.F) {
	q, id, _ := buildQuery("good.test.example", typeA)
	resp := append([]byte(nil), q...)
	resp[2] |= 0x80
	resp[7] = 1                                                                  // one answer
	resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 5) // compressed name, A, 203.0.113.5
	f.Add(resp, id)
	nx := append([]byte(nil), q...)
	nx[2] |= 0x80
	nx[3] |= 3
	f.Add(nx, id)
	f.Add([]byte{0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		addrs, err := parseAnswer(b, id, typeA)
		if err == nil && len(addrs) == 0 {
			t.Fatal("no error and no address")
		}
		for _, a := range addrs {
			if !a.IsValid() {
				t.Fatalf("invalid address from %x", b)
			}
		}
	})
}

func TestParseAnswerReadsACompressedARecord(t *testing.T) {
	q, id, _ := buildQuery("good.test.example", typeA)
	resp := append([]byte(nil), q...)
	resp[2] |= 0x80
	resp[7] = 1
	resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 5)
	addrs, err := parseAnswer(resp, id, typeA)
	if err != nil || len(addrs) != 1 || addrs[0].String() != "203.0.113.5" {
		t.Fatalf("parseAnswer = %v, %v", addrs, err)
	}
	if _, err := parseAnswer(resp, id+1, typeA); err == nil {
		t.Error("an answer to another query id was accepted")
	}
}

func TestDoctorSaysASmarthostThatDoesNotExistIs68(t *testing.T) {
	dns := privateDNS(t)
	r := Doctor(context.Background(), Options{
		ConfigPath: "/test/config.toml", ConfigWhy: "test",
		Account:  &config.Account{Name: "t", Host: "nxdomain.test.example", Port: 587, TLS: smtp.StartTLS, TLSVerify: true, Auth: config.AuthNone, EHLOName: "client.test.example"},
		Resolver: dns.Resolver(),
	})
	c := statuses(r)["dns"]
	if c.Status != Error || c.Code != 68 || !strings.Contains(c.Message, "does not exist") {
		t.Errorf("dns = %+v; want error 68 saying the host does not exist", c)
	}
	if r.ExitCode() != 68 {
		t.Errorf("doctor exit %d, want 68", r.ExitCode())
	}
}
