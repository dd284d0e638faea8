package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzLoad feeds arbitrary bytes to the config parser: it must never
// panic, every error must be a one-line config error (exit code 78), and
// every accepted account must be usable: a host, a port in range, a known
// TLS mode, and no line break or NUL in any string; an accepted [system]
// has its defaults filled and names an account.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(withPassword))
	f.Add([]byte(selectConfig))
	f.Add([]byte("default_account = \"a\"\n[defaults]\ntls = \"tls\"\n[account.a]\nhost = \"h.example\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _, err := parse("/c.toml", data)
		if err != nil {
			if sysexits.Code(err) != sysexits.Config {
				t.Fatalf("error %q has exit code %d", err, sysexits.Code(err))
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if len(file.Order) != len(file.Accounts) {
			t.Fatalf("Order %v does not match Accounts", file.Order)
		}
		for _, name := range file.Order {
			a := file.Accounts[name]
			if a == nil || a.Host == "" || a.Port < 1 || a.Port > 65535 || a.Timeout <= 0 {
				t.Fatalf("account %q accepted incomplete: %+v", name, a)
			}
			switch a.TLS {
			case smtp.StartTLS, smtp.Implicit, smtp.None:
			default:
				t.Fatalf("account %q has tls %q", name, a.TLS)
			}
			v := reflect.ValueOf(a).Elem()
			for i := 0; i < v.NumField(); i++ {
				if s, ok := v.Field(i).Interface().(string); ok && strings.ContainsAny(s, "\r\n\x00") {
					t.Fatalf("account %q field %s holds a line break or NUL", name, v.Type().Field(i).Name)
				}
			}
		}
		if s := file.SystemMTA; s != nil {
			if s.DaemonUser == "" || !filepath.IsAbs(s.SubmitSocket) || file.Accounts[s.Account] == nil ||
				(s.Sender != SenderAccount && s.Sender != SenderLocal) || (s.Sender == SenderLocal && s.SenderDomain == "") {
				t.Fatalf("[system] accepted incomplete: %+v", *s)
			}
		}
		if _, _, err := file.Select("", "a@b.example", "c@d.example"); err != nil && sysexits.Code(err) != sysexits.Config {
			t.Fatalf("Select error %q has exit code %d", err, sysexits.Code(err))
		}
	})
}
