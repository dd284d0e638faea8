package message

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Recipients returns the addresses for sendmail -t: those of To, Cc and
// Bcc, or, when any Resent-To, Resent-Cc or Resent-Bcc field exists, of
// those instead (RFC 5322 §3.6.6: a resent message goes to the resent
// destinations). Duplicates are dropped (domains compare
// case-insensitively); groups and comments give no addresses of their own.
// A field that cannot be parsed is an error with exit code 65 naming it.
func (m *Message) Recipients() ([]string, error) {
	names := []string{"To", "Cc", "Bcc"}
	for _, f := range m.fields {
		if strings.EqualFold(f.name, "Resent-To") || strings.EqualFold(f.name, "Resent-Cc") || strings.EqualFold(f.name, "Resent-Bcc") {
			names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range m.fields {
		if !nameIn(f.name, names) {
			continue
		}
		list, err := ParseAddressList(f.value())
		if err != nil {
			return nil, sysexits.New(sysexits.DataErr, fmt.Errorf(
				"malformed %s: header: %v; fix the header or give the recipients as arguments instead of -t", f.name, err))
		}
		for _, a := range list {
			if k := addrKey(a); !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func nameIn(name string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// addrKey is the duplicate-detection key: local parts are case-sensitive
// (RFC 5321 §2.4), domains are not.
func addrKey(a string) string {
	l, d := splitAddr(a)
	return l + "@" + strings.ToLower(d)
}

// FromAddress returns the first address of the From field (RFC 5322
// §3.6.2), if there is one that parses.
func (m *Message) FromAddress() (string, bool) {
	for _, v := range m.Header("From") {
		list, err := ParseAddressList(v)
		if err == nil && len(list) > 0 {
			return list[0], true
		}
	}
	return "", false
}

// AddOptions says which missing fields AddMissing adds.
type AddOptions struct {
	// From is the envelope sender; a From field "FullName <From>" is added
	// only when the message has none and From is not empty.
	From string
	// FullName is sendmail's -F: the display name of an added From field,
	// RFC 2047 encoded when it is not ASCII, quoted when needed.
	FullName string
	// Date adds a Date field (RFC 5322 §3.6.1) when missing.
	Date bool
	// MessageID adds a Message-ID field (RFC 5322 §3.6.4) when missing.
	MessageID bool
	// MsgIDDomain is the right-hand side of an added Message-ID. When
	// empty or not a dotted domain, the domain of the From field (or of
	// From) is used. When neither gives a dotted domain no Message-ID is
	// added: the submission server will add one, which is better than a
	// non-FQDN id that spam filters score (rspamd MID_RHS_NOT_FQDN).
	MsgIDDomain string
	// Now and Rand default to time.Now and crypto/rand.Reader.
	Now  func() time.Time
	Rand io.Reader
}

// AddMissing adds From, Date and Message-ID where missing and asked for,
// and returns the names of the fields it added (for --pretend and -v).
func (m *Message) AddMissing(o AddOptions) ([]string, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var added []string
	if o.From != "" && !m.Has("From") {
		if err := m.Add("From", formatMailbox(o.FullName, o.From)); err != nil {
			return added, err
		}
		added = append(added, "From")
	}
	if o.Date && !m.Has("Date") {
		// RFC 5322 §3.3 date-time.
		if err := m.Add("Date", now().Format("Mon, 02 Jan 2006 15:04:05 -0700")); err != nil {
			return added, err
		}
		added = append(added, "Date")
	}
	if o.MessageID && !m.Has("Message-ID") {
		domain := ""
		candidates := []string{o.MsgIDDomain}
		if a, ok := m.FromAddress(); ok {
			candidates = append(candidates, domainOf(a))
		}
		candidates = append(candidates, domainOf(o.From))
		for _, d := range candidates {
			if isMsgIDDomain(d) {
				domain = strings.ToLower(d)
				break
			}
		}
		if domain != "" {
			var b [15]byte // 120 bits
			if _, err := io.ReadFull(rnd, b[:]); err != nil {
				return added, sysexits.New(sysexits.OSErr, fmt.Errorf("cannot make a Message-ID: reading random bytes: %v", err))
			}
			id := strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
			ts := strconv.FormatInt(now().Unix(), 36)
			if err := m.Add("Message-ID", "<"+id+"."+ts+"@"+domain+">"); err != nil {
				return added, err
			}
			added = append(added, "Message-ID")
		}
	}
	return added, nil
}

func domainOf(a string) string {
	_, d := splitAddr(a)
	return d
}

// isMsgIDDomain accepts an ASCII host name (ehlo.CheckDomain) with at
// least one dot, the id-right of RFC 5322 §3.6.4 that spam filters accept.
func isMsgIDDomain(d string) bool {
	return strings.Contains(d, ".") && ehlo.CheckDomain(d) == nil
}

// formatMailbox renders RFC 5322 §3.4 name-addr, or the bare address when
// there is no name.
func formatMailbox(name, addr string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return addr
	}
	return encodePhrase(name) + " <" + addr + ">"
}

// encodePhrase returns name as an RFC 5322 phrase: atoms as is, otherwise
// a quoted-string, or RFC 2047 encoded-words when it is not ASCII.
func encodePhrase(name string) string {
	ascii, atoms := true, true
	for _, r := range name {
		switch {
		case r >= 0x80:
			ascii = false
		case r < 0x20 || r == 0x7f:
			ascii = false // control characters cannot be quoted safely
		case r == ' ':
		case !isAtext(r):
			atoms = false
		}
	}
	if !ascii {
		return mime.QEncoding.Encode("utf-8", name)
	}
	if atoms && !strings.Contains(name, "  ") {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range name {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
