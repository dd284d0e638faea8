package smtp

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
)

// The connect step through the private DNS: a smarthost name that does not
// exist is 68 (EX_NOHOST); a DNS server that does not answer is 75.
func TestDialOfANameThatDoesNotExistIsNoHostAndAResolverFailureIsTemporary(t *testing.T) {
	dns := dnsserver.Start(t, dnsserver.Options{Local: []string{"test.example"}})
	viaDNS := func(r *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Resolver: r}
		return d.DialContext
	}
	_, err := Dial(context.Background(), Options{Addr: "smtp.nxdomain.test.example:587", Dialer: viaDNS(dns.Resolver()), HelloName: fixedHello})
	if code := exitCode(err); code != sysexits.NoHost {
		t.Fatalf("NXDOMAIN smarthost: exit %d (%v), want 68", code, err)
	}
	if l := line(err); !strings.Contains(l, "does not exist") || strings.Contains(l, "try again later") {
		t.Errorf("NXDOMAIN message %q", l)
	}

	dead := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.53.0.254:53") // nothing listens
	}}
	_, err = Dial(context.Background(), Options{Addr: "smtp.nxdomain.test.example:587", Dialer: viaDNS(dead), HelloName: fixedHello})
	if code := exitCode(err); code != sysexits.TempFail {
		t.Fatalf("resolver failure: exit %d (%v), want 75", code, err)
	}
}

func fixedHello(net.Addr) (string, error) { return "client.test.example", nil }
