package cli

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzParse feeds arbitrary command lines (arguments separated by NUL):
// Parse must never panic, must fail only with exit code 64, and must never
// let a line break reach a value that ends up in an SMTP command or header.
func FuzzParse(f *testing.F) {
	f.Add("sendmail", "-t\x00-i")
	f.Fuzz(func(t *testing.T, argv0, joined string) {
		var args []string
		if joined != "" {
			args = strings.Split(joined, "\x00")
		}
		inv, err := Parse(argv0, args)
		if err != nil {
			if c := sysexits.Code(err); c != sysexits.Usage {
				t.Fatalf("exit code %d for %v", c, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if inv.Mode < Send || inv.Mode > Subcommand {
			t.Fatalf("invalid mode %d", inv.Mode)
		}
		values := append([]string{inv.From, inv.FullName, inv.EnvID, inv.DSNNotify, inv.DSNReturn, inv.Account, inv.ConfigFile}, inv.Recipients...)
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("value %q carries a line break", v)
			}
		}
		for _, r := range inv.Recipients {
			if r == "" {
				t.Fatal("empty recipient")
			}
		}
	})
}
