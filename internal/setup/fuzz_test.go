package setup

import (
	"context"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/smtp"
)

// FuzzRenderAccount checks that whatever the user types (address, host,
// command, client ID: untrusted text) renders into a configuration that
// internal/config loads back with the same values, or is refused by
// config's own validation, never a file that means something else.
func FuzzRenderAccount(f *testing.F) {
	f.Add("me@example.org", "smtp.example.org", "pass show mail", "client-id")
	f.Add("a\"b@example.org", "h.example", "echo \"x\\y\"\n[account.evil]", "id\x00")
	f.Fuzz(func(t *testing.T, addr, host, cmd, clientID string) {
		if !utf8.ValidString(addr + host + cmd + clientID) {
			return
		}
		a := Account{Name: "fz", Address: addr, Host: host, Port: 587, TLS: smtp.StartTLS,
			Auth: AuthPassword, User: addr, PasswordStore: StoreCommand, PasswordCommand: cmd}
		text := RenderFile(a)
		cf, err := parseProbe(text)
		if err != nil {
			return // refused by validation: fine, the wizard reports it
		}
		if len(cf.Order) != 1 {
			t.Fatalf("rendered text defines accounts %v:\n%s", cf.Order, text)
		}
		got := cf.Accounts["fz"]
		if got.From != addr || got.Host != host || got.PasswordCommand != cmd || got.User != addr {
			t.Fatalf("values changed in the round trip: %q %q %q", got.From, got.Host, got.PasswordCommand)
		}
	})
}

// fuzzDNS answers every query with one SRV record or MX host.
type fuzzDNS struct {
	target string
	port   uint16
	mx     string
}

func (d fuzzDNS) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if service == "submission" {
		return "", []*net.SRV{{Target: d.target, Port: d.port}}, nil
	}
	return "", nil, &net.DNSError{IsNotFound: true}
}

func (d fuzzDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return []*net.MX{{Host: d.mx}}, nil
}

// FuzzRecognise feeds arbitrary addresses and DNS answers (untrusted: any
// network can forge them) and checks the result is usable: a host without
// spaces or control characters, a real port, a known TLS mode.
func FuzzRecognise(f *testing.F) {
	f.Add("me@example.org", "smtp.example.org.", uint16(587), "aspmx.l.google.com.")
	f.Add("me@example.org", ".", uint16(0), "mx.example.org")
	f.Fuzz(func(t *testing.T, addr, target string, port uint16, mx string) {
		s, err := Recognise(context.Background(), fuzzDNS{target, port, mx}, addr)
		if err != nil {
			return
		}
		if s.Host == "" || s.Port <= 0 || (s.TLS.String() != "tls" && s.TLS.String() != "starttls") {
			t.Fatalf("unusable server %+v", s)
		}
		if strings.ContainsFunc(s.Host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("host %q holds spaces or control characters", s.Host)
		}
	})
}
