package ehlo

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckDomain is the one syntax check of a domain name in gsendmail (EHLO
// names, address domains, setup's address discovery, Microsoft tenant
// names), RFC 5321 4.1.2:
//
//	Domain     = sub-domain *("." sub-domain)
//	sub-domain = Let-dig [Ldh-str]
//
// with the limits of RFC 1035 2.3.4: labels of 1 to 63 octets, at most 253
// octets in text form (no trailing dot: RFC 5321 does not write one). It
// takes a single label ("localhost"): whether a name must be fully
// qualified is the caller's rule. Names are ASCII: an internationalised
// domain is checked in its A-label (xn--) form; CheckDomainUTF8 is for
// SMTPUTF8 addresses. The error says what is wrong, in words a user can
// act on.
func CheckDomain(name string) error { return checkDomain(name, false) }

// CheckDomainUTF8 is CheckDomain that also takes U-labels (RFC 6531 3.3:
// sub-domain =/ U-label), as an SMTPUTF8 address may carry: a label with
// non-ASCII characters must be valid UTF-8 of letters, digits, marks and
// hyphens, not start or end with a hyphen. Its length limit is that of
// its A-label form, which only the server computes, so a U-label is not
// held to 63 octets here; the whole name still is to 253.
func CheckDomainUTF8(name string) error { return checkDomain(name, true) }

func checkDomain(name string, uLabels bool) error {
	switch {
	case name == "":
		return fmt.Errorf("the name is empty")
	case len(name) > 253:
		return fmt.Errorf("the name is %d characters long; a domain has at most 253", len(name))
	case strings.HasSuffix(name, ".") && len(name) > 1:
		return fmt.Errorf("%q ends with a dot: write it without the trailing dot", name)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return fmt.Errorf("%q has an empty label (two dots in a row, or a leading dot)", name)
		}
		ascii := true
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c >= utf8.RuneSelf {
				ascii = false
				continue
			}
			if !isLDH(c) {
				return fmt.Errorf("%q contains %q: a domain has only letters, digits, hyphens and dots", name, string(c))
			}
		}
		switch {
		case !ascii && !uLabels:
			return fmt.Errorf("%q contains non-ASCII characters: use the ASCII (xn--) form of the name", name)
		case !ascii && !uLabel(l):
			return fmt.Errorf("%q has a label that is not a valid internationalised label (letters, digits and hyphens in UTF-8)", name)
		case ascii && len(l) > 63:
			return fmt.Errorf("%q has a label of %d characters; the limit is 63", name, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("%q has a label that starts or ends with a hyphen", name)
		}
	}
	return nil
}

// uLabel reports valid UTF-8 made of letters, digits, combining marks and
// (ASCII, checked by the caller) hyphens: no spaces, punctuation, symbols,
// control or format characters (RFC 5892's PVALID classes, roughly).
func uLabel(l string) bool {
	if !utf8.ValidString(l) {
		return false
	}
	for _, r := range l {
		if r < utf8.RuneSelf {
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			return false
		}
	}
	return true
}
