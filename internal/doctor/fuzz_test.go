package doctor

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// FuzzSeenAddress: the first EHLO reply line is the server's text; it
// must never panic, and an address found must really be in the line.
func FuzzSeenAddress(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		a, ok := SeenAddress([]string{line})
		if !ok {
			return
		}
		if !a.IsValid() || a.Is4In6() {
			t.Fatalf("%q: returned %v", line, a)
		}
		if !strings.Contains(line, "[") {
			t.Fatalf("%q: address %v without a bracket", line, a)
		}
	})
}

// FuzzPostfixHELO: a name gsendmail itself accepts as EHLO argument
// (ehlo.Validate) must pass both emulated Postfix restrictions, and a name
// that fails reject_invalid_helo_hostname fails reject_non_fqdn too
// (Postfix checks validity first).
func FuzzPostfixHELO(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		inv, non := PostfixInvalidHELO(name), PostfixNonFQDNHELO(name)
		if ehlo.Validate(name) == nil && (inv != "" || non != "") {
			t.Fatalf("%q is valid for gsendmail but the Postfix emulation refuses it: %q / %q", name, inv, non)
		}
		if inv != "" && non == "" {
			t.Fatalf("%q is invalid (%s) yet passes the FQDN check", name, inv)
		}
	})
}

// FuzzParseTarget: probe's HOST[:PORT] argument is user input.
func FuzzParseTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, implicit bool) {
		mode := modeFor(implicit)
		h, p, _, err := parseTarget(s, mode, implicit)
		if err != nil {
			return
		}
		if h == "" || p < 1 || p > 65535 || strings.ContainsAny(h, " \r\n\x00/@[]") {
			t.Fatalf("%q: accepted host %q port %d", s, h, p)
		}
	})
}

func modeFor(implicit bool) smtp.TLSMode {
	if implicit {
		return smtp.Implicit
	}
	return smtp.StartTLS
}
