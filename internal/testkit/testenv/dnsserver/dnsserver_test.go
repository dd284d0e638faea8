package dnsserver

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

func TestServerAnswersOnlyItsOwnRecordsAndNXDOMAINForTheRest(t *testing.T) {
	s := Start(t, Options{
		Hosts:     []Host{{"a.test.example", "192.0.2.1"}},
		Addresses: []Address{{"noptr.test.example", "192.0.2.9"}},
		PTRs:      []PTR{{"192.0.2.2", "p.test.example"}},
		MXs:       []MX{{"mxonly.test.example", "mail.test.example", 10}},
		SRVs: []SRV{
			{Name: "_submission._tcp.test.example", Target: "mail.test.example", Port: 587, Weight: 1},
			{Name: "_submission._tcp.none.test.example", Target: "."},
		},
		Local: []string{"test.example"},
	})
	r := s.Resolver()
	ctx := context.Background()
	if got, err := r.LookupHost(ctx, "a.test.example"); err != nil || len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("A a.test.example = %v, %v; want [192.0.2.1]", got, err)
	}
	if got, err := r.LookupAddr(ctx, "192.0.2.1"); err != nil || len(got) != 1 || got[0] != "a.test.example." {
		t.Errorf("PTR of a --host-record address = %v, %v", got, err)
	}
	if got, err := r.LookupAddr(ctx, "192.0.2.2"); err != nil || len(got) != 1 || got[0] != "p.test.example." {
		t.Errorf("PTR 192.0.2.2 = %v, %v", got, err)
	}
	if _, err := r.LookupAddr(ctx, "192.0.2.9"); !isNotFound(err) {
		t.Errorf("--address gave a PTR too: %v", err)
	}
	if mx, err := r.LookupMX(ctx, "mxonly.test.example"); err != nil || len(mx) != 1 || mx[0].Host != "mail.test.example." {
		t.Errorf("MX = %v, %v", mx, err)
	}
	if _, srv, err := r.LookupSRV(ctx, "submission", "tcp", "test.example"); err != nil || len(srv) != 1 || srv[0].Port != 587 {
		t.Errorf("SRV = %v, %v", srv, err)
	}
	if _, err := r.LookupHost(ctx, "missing.test.example"); !isNotFound(err) {
		t.Errorf("missing name: %v, want NXDOMAIN", err)
	}
	if !strings.Contains(s.Log(), "query[A] a.test.example") {
		t.Errorf("query log does not show the query:\n%s", s.Log())
	}
}

func TestCommandSeesTheTestFilesAndTheMachineKeepsItsOwn(t *testing.T) {
	s := Start(t, Options{Hosts: []Host{{"dns-only.test.example", "192.0.2.7"}}, Local: []string{"test.example"}})
	before, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := s.Command(context.Background(), t.TempDir(), Namespace{
		Hosts:    "127.0.0.1 localhost\n127.0.1.1 yoga.test.example yoga\n",
		Hostname: "yoga",
	}, "sh", "-c", "hostname; getent hosts yoga; getent hosts dns-only.test.example; cat /etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"yoga\n", "127.0.1.1", "yoga.test.example", "192.0.2.7", "nameserver " + s.Addr} {
		if !strings.Contains(string(out), want) {
			t.Errorf("inside the namespace: no %q in\n%s", want, out)
		}
	}
	after, _ := os.ReadFile("/etc/resolv.conf")
	if string(after) != string(before) {
		t.Fatalf("the machine's /etc/resolv.conf changed")
	}
	if h, _ := os.Hostname(); h == "yoga" {
		t.Fatalf("the machine's host name changed")
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
