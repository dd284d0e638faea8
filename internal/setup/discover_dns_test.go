package setup

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
)

// The setup discovery through a real DNS server (dnsmasq) with SRV and MX
// records, missing names and a dot target.
func TestRecogniseThroughPrivateDNS(t *testing.T) {
	dns := dnsserver.Start(t, dnsserver.Options{
		SRVs: []dnsserver.SRV{
			{Name: "_submissions._tcp.srv.test.example", Target: "mail.srv.test.example", Port: 465, Weight: 1},
			{Name: "_submission._tcp.starttls.test.example", Target: "smtp.starttls.test.example", Port: 587},
			{Name: "_submissions._tcp.none.test.example", Target: "."},
			{Name: "_submission._tcp.none.test.example", Target: "."},
		},
		MXs: []dnsserver.MX{
			{Name: "workspace.test.example", Target: "aspmx.l.google.com", Pref: 1},
			{Name: "none.test.example", Target: "aspmx.l.google.com", Pref: 1},
			{Name: "own.test.example", Target: "mx.own.test.example", Pref: 10},
		},
		Local: []string{"test.example"},
	})
	r := dns.Resolver()
	for _, tc := range []struct {
		addr, host string
		port       int
		tls        string
		err        error
	}{
		{addr: "me@srv.test.example", host: "mail.srv.test.example", port: 465, tls: "tls"},
		{addr: "me@starttls.test.example", host: "smtp.starttls.test.example", port: 587, tls: "starttls"},
		{addr: "me@workspace.test.example", host: "smtp.gmail.com", port: 465, tls: "tls"},
		{addr: "me@none.test.example", err: ErrNoService},
		{addr: "me@own.test.example", err: ErrUnknown},
		{addr: "me@nxdomain.test.example", err: ErrUnknown},
	} {
		s, err := Recognise(context.Background(), r, tc.addr)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %+v, %v; want %v", tc.addr, s, err, tc.err)
			}
			continue
		}
		if err != nil || s.Host != tc.host || s.Port != tc.port || s.TLS.String() != tc.tls {
			t.Errorf("%s: %s:%d %s (%v); want %s:%d %s", tc.addr, s.Host, s.Port, s.TLS, err, tc.host, tc.port, tc.tls)
		}
	}
}

func TestRecogniseTellsADNSFailureFromNoRecords(t *testing.T) {
	// A name server that never answers: every question times out.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	silent := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	saved := DiscoveryTimeout
	DiscoveryTimeout = 500 * time.Millisecond
	defer func() { DiscoveryTimeout = saved }()
	start := time.Now()
	_, err = Recognise(context.Background(), silent, "me@example.org")
	if !errors.Is(err, ErrDNS) || errors.Is(err, ErrUnknown) {
		t.Fatalf("Recognise with a silent DNS server = %v; want ErrDNS", err)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error %q does not say the look-up timed out", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("discovery took %v, past its overall limit", d)
	}
}

func TestWizardSaysItAsksDNSAndWhyNothingWasFound(t *testing.T) {
	dns := dnsserver.Start(t, dnsserver.Options{
		SRVs:  []dnsserver.SRV{{Name: "_submissions._tcp.none.test.example", Target: "."}},
		Local: []string{"test.example"},
	})
	stderr, _, _ := script{
		dir: t.TempDir(), dns: dns.Resolver(),
		args:    []string{"--yes", "--dry-run", "--auth", "none", "me@none.test.example"},
		answers: "",
	}.run(t)
	for _, want := range []string{"Asking DNS about none.test.example", "offers no mail submission service", `_submissions._tcp.none.test.example has the target "."`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("wizard output lacks %q:\n%s", want, stderr)
		}
	}
}
