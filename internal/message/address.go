package message

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/gsendmail/gsendmail/internal/ehlo"
)

// addrParser decodes RFC 2047 display names in any charset by passing the
// bytes through: we only need addresses, never names, so an unknown charset
// (koi8-r, iso-2022-jp, ...) must not make a recipient list unparseable.
var addrParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// ParseAddressList returns the bare addresses (no display names, comments or
// group names) of an RFC 5322 §3.4 address-list such as a To: value or a
// sendmail recipient argument. Besides what net/mail accepts it takes bare
// local names ("root", "root, www-data") as sendmail does, and groups with
// no members ("undisclosed-recipients:;") give no addresses. A local part
// that is not a dot-atom comes back quoted ("\"a b\"@example.org"), ready
// for an SMTP path. An empty or blank list gives no addresses and no error.
func ParseAddressList(s string) ([]string, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, errors.New("address list contains a line break or NUL byte")
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if list, err := addrParser.ParseList(s); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			// net/mail returns the local part unquoted, so split at
			// the last '@' rather than parsing quotes again.
			at := strings.LastIndexByte(a.Address, '@')
			if at <= 0 {
				// net/mail never returns a bare local part; be defensive.
				return nil, fmt.Errorf("cannot parse address %q", a.Address)
			}
			local, domain := a.Address[:at], a.Address[at+1:]
			if strings.ContainsFunc(local, isCTL) || !validDomain(domain) {
				return nil, fmt.Errorf("address %q has a control character or an invalid domain", a.Address)
			}
			out = append(out, joinAddr(local, domain))
		}
		return out, nil
	}
	return parseLoose(s)
}

// parseLoose is the fallback for lists net/mail refuses, chiefly because
// they contain bare local names. It splits on top-level commas (outside
// quotes, angle brackets and comments), drops comments and group names,
// and validates every remaining address.
func parseLoose(s string) ([]string, error) {
	var (
		out     []string
		item    strings.Builder
		inQuote bool
		escaped bool
		angle   int
		paren   int
		inGroup bool
	)
	flush := func() error {
		a := strings.TrimSpace(item.String())
		item.Reset()
		if a == "" {
			return nil
		}
		addr, err := parseOne(a)
		if err != nil {
			return err
		}
		out = append(out, addr)
		return nil
	}
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if paren == 0 {
				item.WriteRune(r)
			}
			continue
		case r == '\\' && (inQuote || paren > 0):
			escaped = true
			if paren == 0 {
				item.WriteRune(r)
			}
			continue
		case inQuote:
			if r == '"' {
				inQuote = false
			}
			item.WriteRune(r)
			continue
		case paren > 0:
			// RFC 5322 §3.2.2: comments nest.
			if r == '(' {
				paren++
			} else if r == ')' {
				paren--
			}
			continue
		}
		switch r {
		case '"':
			inQuote = true
			item.WriteRune(r)
		case '(':
			paren++
			item.WriteByte(' ')
		case ')':
			return nil, fmt.Errorf("unbalanced ')' in %q", s)
		case '<':
			angle++
			item.WriteRune(r)
		case '>':
			if angle == 0 {
				return nil, fmt.Errorf("unbalanced '>' in %q", s)
			}
			angle--
			item.WriteRune(r)
		case ',':
			if angle > 0 {
				item.WriteRune(r) // obs-route inside <...>
				continue
			}
			if err := flush(); err != nil {
				return nil, err
			}
		case ':':
			cur := item.String()
			if angle > 0 || inGroup || strings.ContainsAny(cur, "<@") {
				item.WriteRune(r)
				continue
			}
			// RFC 5322 §3.4: group = display-name ":" [group-list] ";"
			inGroup = true
			item.Reset()
		case ';':
			if !inGroup || angle > 0 {
				return nil, fmt.Errorf("unexpected ';' in %q", s)
			}
			if err := flush(); err != nil {
				return nil, err
			}
			inGroup = false
		default:
			item.WriteRune(r)
		}
	}
	if inQuote || paren > 0 || angle > 0 {
		return nil, fmt.Errorf("unterminated quote, comment or angle bracket in %q", s)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseOne parses one mailbox: "Name <addr>", "<addr>", "addr" or a bare
// local name, comments already removed.
func parseOne(s string) (string, error) {
	spec := s
	if i := indexUnquoted(s, '<'); i >= 0 {
		j := strings.LastIndexByte(s, '>')
		if j < i || strings.TrimSpace(s[j+1:]) != "" {
			return "", fmt.Errorf("cannot parse address %q", s)
		}
		spec = strings.TrimSpace(s[i+1 : j])
		// RFC 5322 §4.4 obs-route: "<@relay1,@relay2:user@host>".
		if strings.HasPrefix(spec, "@") {
			if k := indexUnquoted(spec, ':'); k >= 0 {
				spec = spec[k+1:]
			}
		}
	}
	local, domain := splitAddr(spec)
	lp, ok := unquoteLocal(local)
	if !ok {
		return "", fmt.Errorf("cannot parse address %q", s)
	}
	if domain == "" {
		if strings.Contains(spec, "@") {
			return "", fmt.Errorf("address %q has an empty domain", s)
		}
		return joinAddr(lp, ""), nil
	}
	if !validDomain(domain) {
		return "", fmt.Errorf("address %q has an invalid domain", s)
	}
	return joinAddr(lp, domain), nil
}

// indexUnquoted returns the index of the first c outside a quoted string.
func indexUnquoted(s string, c byte) int {
	inQuote, esc := false, false
	for i := 0; i < len(s); i++ {
		switch {
		case esc:
			esc = false
		case s[i] == '\\' && inQuote:
			esc = true
		case s[i] == '"':
			inQuote = !inQuote
		case !inQuote && s[i] == c:
			return i
		}
	}
	return -1
}

// splitAddr splits an addr-spec at its last '@' outside quotes.
func splitAddr(a string) (local, domain string) {
	at := -1
	inQuote, esc := false, false
	for i := 0; i < len(a); i++ {
		switch {
		case esc:
			esc = false
		case a[i] == '\\' && inQuote:
			esc = true
		case a[i] == '"':
			inQuote = !inQuote
		case !inQuote && a[i] == '@':
			at = i
		}
	}
	if at < 0 {
		return a, ""
	}
	return a[:at], a[at+1:]
}

// unquoteLocal returns the local part's value: a dot-atom as is, a
// quoted-string without its quotes and escapes.
func unquoteLocal(l string) (string, bool) {
	if l == "" {
		return "", false
	}
	if l[0] != '"' {
		return l, isDotAtom(l)
	}
	if len(l) < 2 || l[len(l)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	esc := false
	for _, r := range l[1 : len(l)-1] {
		if r < 0x20 || r == 0x7f {
			// RFC 5321 §4.1.2: Quoted-string allows no control
			// characters, not even escaped.
			return "", false
		}
		switch {
		case esc:
			esc = false
			b.WriteRune(r)
		case r == '\\':
			esc = true
		case r == '"':
			return "", false
		default:
			b.WriteRune(r)
		}
	}
	if esc || b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}

// joinAddr builds an addr-spec, quoting the local part when it is not a
// dot-atom (RFC 5321 §4.1.2 Quoted-string).
func joinAddr(local, domain string) string {
	if !isDotAtom(local) {
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range local {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
		local = b.String()
	}
	if domain == "" {
		return local
	}
	return local + "@" + domain
}

// isAtext reports RFC 5322 §3.2.3 atext, extended by RFC 6532 §3.2 to
// non-ASCII UTF-8.
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r >= 0x80 && r != 0xfffd:
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// isDotAtom reports RFC 5322 §3.2.3 dot-atom-text.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r != '.' && !isAtext(r) {
			return false
		}
	}
	return true
}

// validDomain accepts a domain an SMTP path can carry: a domain name,
// U-labels allowed for SMTPUTF8 (ehlo.CheckDomainUTF8; RFC 5322's wider
// dot-atom would let through names no server can route, such as
// a_b.example), or a domain literal (RFC 5322 §3.4.1 dtext, which the
// server judges).
func validDomain(d string) bool {
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(d, "]") || len(d) < 3 {
			return false
		}
		for _, r := range d[1 : len(d)-1] {
			if r <= ' ' || r == '[' || r == ']' || r == '\\' || r == 0x7f {
				return false
			}
		}
		return true
	}
	return ehlo.CheckDomainUTF8(d) == nil
}

// isCTL reports control characters, which no SMTP path may carry.
func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }
