package ehlo

import (
	"fmt"
	"net/netip"
	"strings"
)

// Validate reports whether name may be sent as the EHLO argument to a
// server that checks it (Postfix reject_invalid_helo_hostname and
// reject_non_fqdn_helo_hostname, and providers that refuse local names).
// The error says why, in words a user can act on.
//
// RFC 5321 4.1.1.1: ehlo = "EHLO" SP ( Domain / address-literal ) CRLF.
// RFC 5321 2.3.5: the domain must be a fully qualified domain name.
func Validate(name string) error {
	if name == "" {
		return fmt.Errorf("the name is empty")
	}
	if name[0] == '[' {
		return validateLiteral(name)
	}
	return validateDomain(name)
}

// validateLiteral checks an address literal (RFC 5321 4.1.3):
//
//	address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
//	                        General-address-literal ) "]"
//	IPv6-address-literal = "IPv6:" IPv6-addr
//
// General-address-literal (a registered tag) is refused: no tag other than
// IPv6 is registered and no server would understand one.
func validateLiteral(name string) error {
	if len(name) < 3 || name[len(name)-1] != ']' {
		return fmt.Errorf("%q is not an address literal: write it as [192.0.2.7] or [IPv6:2001:db8::1]", name)
	}
	inner := name[1 : len(name)-1]
	// "IPv6:" is a case-insensitive string in the RFC 5234 ABNF.
	if len(inner) >= 5 && strings.EqualFold(inner[:5], "IPv6:") {
		a, err := netip.ParseAddr(inner[5:])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%q is not a valid IPv6 address literal: write it as [IPv6:2001:db8::1]", name)
		}
		return nil
	}
	a, err := netip.ParseAddr(inner)
	switch {
	case err == nil && a.Is4():
		return nil
	case err == nil && a.Is6() && a.Zone() == "":
		return fmt.Errorf("%q lacks the IPv6: tag: write it as [IPv6:%s]", name, inner)
	case strings.Contains(inner, ":"):
		return fmt.Errorf("%q is not an IPv4 or IPv6 address literal: write it as [192.0.2.7] or [IPv6:2001:db8::1]", name)
	}
	return fmt.Errorf("%q is not a valid IPv4 address literal: write it as [192.0.2.7]", name)
}

// validateDomain checks a domain for EHLO: the syntax of CheckDomain plus
// the checks servers apply to EHLO names (fully qualified, not local, not
// an IP address written as a name).
func validateDomain(name string) error {
	if err := CheckDomain(name); err != nil {
		return err
	}
	labels := strings.Split(name, ".")
	lower := strings.ToLower(name)
	if isLocalhost(lower) {
		// RFC 6761 6.3: localhost and everything under .localhost is this
		// machine; in EHLO it tells the server nothing.
		return fmt.Errorf("%q always means the local machine (RFC 6761), so servers refuse it: set a fully qualified name such as host.example.com", name)
	}
	if lower == "localdomain" || strings.HasSuffix(lower, ".localdomain") {
		// .localdomain is not a delegated top-level domain: installers write
		// "localhost.localdomain" or "host.localdomain" into /etc/hosts when
		// the machine has no real domain. It has a dot, so a syntax check
		// passes, but no server can resolve it and it identifies nothing, so
		// servers that check EHLO (and msmtp users hitting them) see it fail
		// like a bare name. Rejecting it here lets rule 3 use a literal.
		return fmt.Errorf("%q is under .localdomain, a placeholder for machines without a domain: set a fully qualified name such as host.example.com", name)
	}
	if len(labels) < 2 {
		return fmt.Errorf("%q is not fully qualified: it needs a dot, e.g. %s.example.com", name, name)
	}
	last := labels[len(labels)-1]
	if allDigits(last) {
		if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
			return fmt.Errorf("%q is an IP address: write it as an address literal, [%s]", name, name)
		}
		return fmt.Errorf("%q ends in an all-numeric label, which no top-level domain is", name)
	}
	return nil
}

func isLocalhost(lower string) bool {
	return lower == "localhost" || strings.HasSuffix(lower, ".localhost")
}

func isLDH(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
