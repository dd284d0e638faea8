package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// The types in this file decode one TOML value each. Decoding through
// toml.Unmarshaler lets every type and value error come back from the
// decoder as a toml.ParseError carrying the key and its line and column,
// and records whether the key was present (for inheritance from
// [defaults]). Messages never quote the value of a string that may be a
// secret: only enum-like and structural values are quoted.

// valueMarker prefixes messages of value errors so that Load can tell them
// from TOML syntax errors (toml.ParseError does not expose its cause). It is
// stripped before any message reaches the user.
const valueMarker = "\x00gsendmail:"

type valueError string

func (e valueError) Error() string { return valueMarker + string(e) }

func valueErrorf(format string, args ...any) error {
	return valueError(fmt.Sprintf(format, args...))
}

// field is implemented by every value type of the schema structs
// (rawAccount, rawServe, rawServeUser, rawSystem): whether the key was
// present, and the decoded value, which fill copies into the resolved
// struct.
type field interface {
	isSet() bool
	value() any
}

type tString struct {
	v   string
	set bool
}

func (t *tString) isSet() bool { return t.set }
func (t *tString) value() any  { return t.v }

func (t *tString) UnmarshalTOML(d any) error {
	s, ok := d.(string)
	if !ok {
		return valueErrorf("must be a string in quotes, not %s", tomlType(d))
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		// A CR or LF in a host, user, address or header value could inject
		// SMTP commands or mail headers; no legitimate value has one.
		return valueErrorf("contains a line break or NUL byte, which could inject SMTP commands or mail headers: remove it")
	}
	t.v, t.set = s, true
	return nil
}

// checker validates and normalises a string value.
type checker interface {
	check(s string) (string, error)
}

// checked is a string value with a checker. C is a zero-size type
// selecting the rules.
type checked[C checker] struct{ tString }

func (t *checked[C]) UnmarshalTOML(d any) error {
	if err := t.tString.UnmarshalTOML(d); err != nil {
		return err
	}
	var c C
	v, err := c.check(t.v)
	if err != nil {
		t.set = false
		return valueError(err.Error())
	}
	t.v = v
	return nil
}

type tBool struct {
	v   bool
	set bool
}

func (t *tBool) isSet() bool { return t.set }
func (t *tBool) value() any  { return t.v }

func (t *tBool) UnmarshalTOML(d any) error {
	b, ok := d.(bool)
	if !ok {
		return valueErrorf("must be true or false (without quotes), not %s", tomlType(d))
	}
	t.v, t.set = b, true
	return nil
}

type tPort struct {
	v   int
	set bool
}

func (t *tPort) isSet() bool { return t.set }
func (t *tPort) value() any  { return t.v }

func (t *tPort) UnmarshalTOML(d any) error {
	n, ok := d.(int64)
	if !ok {
		return valueErrorf("must be a port number without quotes, such as 587, not %s", tomlType(d))
	}
	if n < 1 || n > 65535 {
		return valueErrorf("%d is out of range: a port is 1 to 65535 (587 for STARTTLS, 465 for TLS)", n)
	}
	t.v, t.set = int(n), true
	return nil
}

type tDuration struct {
	v   time.Duration
	set bool
}

func (t *tDuration) isSet() bool { return t.set }
func (t *tDuration) value() any  { return t.v }

func (t *tDuration) UnmarshalTOML(d any) error {
	s, ok := d.(string)
	if !ok {
		return valueErrorf("must be a duration in quotes such as \"60s\", \"10m\" or \"120h\", not %s", tomlType(d))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return valueErrorf("%q is not a duration: write it like \"60s\", \"10m\" or \"120h\"", s)
	}
	if v <= 0 {
		return valueErrorf("%q must be positive", s)
	}
	t.v, t.set = v, true
	return nil
}

// tSyslog accepts a facility name, "" (off) or a boolean (true = LOG_MAIL).
type tSyslog struct {
	v   string // normalised facility ("LOG_MAIL") or "" for off
	set bool
}

func (t *tSyslog) isSet() bool { return t.set }
func (t *tSyslog) value() any  { return t.v }

var facilities = []string{"LOG_MAIL", "LOG_USER", "LOG_DAEMON",
	"LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2", "LOG_LOCAL3",
	"LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7"}

func (t *tSyslog) UnmarshalTOML(d any) error {
	switch v := d.(type) {
	case bool:
		t.v, t.set = "", true
		if v {
			t.v = "LOG_MAIL"
		}
		return nil
	case string:
		if v == "" {
			t.v, t.set = "", true
			return nil
		}
		up := strings.ToUpper(v)
		if !strings.HasPrefix(up, "LOG_") {
			up = "LOG_" + up
		}
		for _, f := range facilities {
			if up == f {
				t.v, t.set = f, true
				return nil
			}
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return valueErrorf("is not a syslog facility: use true, \"LOG_MAIL\", \"LOG_USER\", \"LOG_DAEMON\" or \"LOG_LOCAL0\"..\"LOG_LOCAL7\"")
		}
		return valueErrorf("%q is not a syslog facility: use true, \"LOG_MAIL\", \"LOG_USER\", \"LOG_DAEMON\" or \"LOG_LOCAL0\"..\"LOG_LOCAL7\"", v)
	}
	return valueErrorf("must be true, false or a facility such as \"LOG_MAIL\", not %s", tomlType(d))
}

type tStrings struct {
	v   []string
	set bool
}

func (t *tStrings) isSet() bool { return t.set }
func (t *tStrings) value() any  { return slices.Clone(t.v) }

func (t *tStrings) UnmarshalTOML(d any) error {
	list, ok := d.([]any)
	if !ok {
		return valueErrorf("must be a list of strings such as [\"a\", \"b\"], not %s", tomlType(d))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return valueErrorf("must be a list of strings such as [\"a\", \"b\"]; it holds %s", tomlType(e))
		}
		if s == "" || strings.ContainsAny(s, " \t\r\n\x00") {
			return valueErrorf("%q is not a valid entry: entries are single words without spaces", s)
		}
		out = append(out, s)
	}
	t.v, t.set = out, true
	return nil
}

func tomlType(d any) string {
	switch d.(type) {
	case string:
		return "a string"
	case int64:
		return "a number"
	case float64:
		return "a decimal number"
	case bool:
		return "true/false"
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("a %T", d)
}

// Enumerations.

type enum []string

func (e enum) check(s string) (string, error) {
	for _, v := range e {
		if s == v {
			return s, nil
		}
	}
	quoted := make([]string, len(e))
	for i, v := range e {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	msg := fmt.Sprintf("%q is not valid: use %s", s, orList(quoted))
	if best := closest(strings.ToLower(s), e); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return "", fmt.Errorf("%s", msg)
}

func orList(q []string) string {
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Auth values as written in the file, plus AuthPassword from AuthMethod.
const (
	AuthAuto        = "auto"
	AuthPlain       = "plain"
	AuthLogin       = "login"
	AuthOAuth2      = "oauth2" // XOAUTH2 or OAUTHBEARER, whichever the server offers
	AuthXOAUTH2     = "xoauth2"
	AuthOAUTHBEARER = "oauthbearer"
	AuthNone        = "none"
	// AuthPassword is what AuthMethod returns for auth = "auto" with a
	// password source: the client picks PLAIN or LOGIN from the server's
	// EHLO AUTH list (PLAIN preferred).
	AuthPassword = "auto-password"
)

// OAuth providers and token stores.
const (
	ProviderGoogle    = "google"
	ProviderMicrosoft = "microsoft"
	ProviderGeneric   = "generic"

	TokenStoreAuto    = "auto"
	TokenStoreKeyring = "keyring"
	TokenStoreFile    = "file"
)

// tTLS is the tls key: one of smtp.TLSModeWords. internal/smtp owns the
// TLS mode type and its words ("starttls", "tls", "none"), so the file,
// the protocol client, doctor and setup spell the setting one way.
type tTLS struct {
	v   smtp.TLSMode
	set bool
}

func (t *tTLS) isSet() bool { return t.set }
func (t *tTLS) value() any  { return t.v }

func (t *tTLS) UnmarshalTOML(d any) error {
	var s tString
	if err := s.UnmarshalTOML(d); err != nil {
		return err
	}
	m, ok := smtp.ParseTLSMode(s.v)
	if !ok {
		_, err := enum(smtp.TLSModeWords()).check(s.v)
		return valueError(err.Error())
	}
	t.v, t.set = m, true
	return nil
}

type authCheck struct{}

func (authCheck) check(s string) (string, error) {
	return enum{AuthAuto, AuthPlain, AuthLogin, AuthOAuth2, AuthXOAUTH2, AuthOAUTHBEARER, AuthNone}.check(strings.ToLower(s))
}

type providerCheck struct{}

func (providerCheck) check(s string) (string, error) {
	return enum{ProviderGoogle, ProviderMicrosoft, ProviderGeneric}.check(strings.ToLower(s))
}

type tokenStoreCheck struct{}

func (tokenStoreCheck) check(s string) (string, error) {
	return enum{TokenStoreAuto, TokenStoreKeyring, TokenStoreFile}.check(strings.ToLower(s))
}

// Structured strings.

type hostCheck struct{}

func (hostCheck) check(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("is empty: set the smarthost's name, such as smtp.example.org")
	case strings.Contains(s, "://"):
		return "", fmt.Errorf("%q is a URL: write only the host name, such as smtp.example.org, and set port and tls separately", s)
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		return "", fmt.Errorf("%q includes a port: write host = %q and port = %s", s, h, p)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':') {
			return "", fmt.Errorf("%q is not a host name or IP address (it contains %q)", s, string(c))
		}
	}
	if strings.Contains(s, ":") && net.ParseIP(s) == nil {
		return "", fmt.Errorf("%q is not a host name or IP address", s)
	}
	return s, nil
}

type fingerprintCheck struct{}

// check normalises a SHA-256 certificate fingerprint to 64 lower-case hex
// digits (colons optional in the file, as openssl prints them).
func (fingerprintCheck) check(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(h) != 64 {
		return "", fmt.Errorf("must be the SHA-256 fingerprint: 64 hex digits, colons optional (openssl x509 -noout -fingerprint -sha256); it has %d digits", len(h))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("must be the SHA-256 fingerprint: 64 hex digits, colons optional; it contains a non-hex character")
	}
	return h, nil
}

type ehloCheck struct{}

func (ehloCheck) check(s string) (string, error) {
	if err := ehlo.Validate(s); err != nil {
		return "", fmt.Errorf("is not a valid EHLO name: %v", err)
	}
	return s, nil
}

// domainCheck is for msgid_domain and local_domain: a fully qualified
// domain; the same rules as EHLO names (a Message-ID or address under
// "localhost" is as useless as such an EHLO), literals excluded.
type domainCheck struct{}

func (domainCheck) check(s string) (string, error) {
	if strings.HasPrefix(s, "[") {
		return "", fmt.Errorf("%q is an address literal: use a domain name such as example.org", s)
	}
	if err := ehlo.Validate(s); err != nil {
		return "", fmt.Errorf("is not a valid domain: %v", err)
	}
	return s, nil
}

type fromCheck struct{}

// check accepts an address (local@domain) or a pattern with * and ?.
func (fromCheck) check(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("is empty: write an address such as me@example.org or a pattern such as *@example.org")
	}
	if strings.ContainsAny(s, " \t<>,;\"()") {
		return "", fmt.Errorf("%q must be a bare address or pattern, such as me@example.org or *@example.org (no names, brackets or lists)", s)
	}
	if !strings.ContainsAny(s, "*?") && !isAddress(s) {
		return "", fmt.Errorf("%q is not an address: write it as me@example.org, or use * and ? for a pattern", s)
	}
	return s, nil
}

type addressCheck struct{}

// check accepts an address, or a bare local name ("root") that the message
// layer qualifies with local_domain.
func (addressCheck) check(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, " \t<>,;\"()*?") || (strings.Contains(s, "@") && !isAddress(s)) {
		return "", fmt.Errorf("%q is not an address: write it as someone@example.org", s)
	}
	return s, nil
}

func isAddress(s string) bool {
	i := strings.LastIndexByte(s, '@')
	return i > 0 && i < len(s)-1 && !strings.Contains(s[i+1:], "@")
}

type urlCheck struct{}

// check accepts https URLs, and http only to a loopback host: token
// requests carry secrets.
func (urlCheck) check(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%q is not an https URL", s)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("%q uses http: use https (http is allowed only for a loopback host)", s)
	}
	return s, nil
}

// redirectCheck accepts an OAuth2 redirect URI gsendmail can receive
// (RFC 8252 7.3): http on a loopback address with a fixed port, where the
// browser login listens; or https, for the paste flow only.
type redirectCheck struct{}

func (redirectCheck) check(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a redirect URI such as http://127.0.0.1:8765/", s)
	}
	switch u.Scheme {
	case "https":
		return s, nil
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("%q uses http on a host that is not loopback: use http://127.0.0.1:PORT/ (or https for the paste flow)", s)
		}
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return "", fmt.Errorf("%q has no port: give the registered one, e.g. http://127.0.0.1:8765/", s)
		}
		return s, nil
	}
	return "", fmt.Errorf("%q is not an http or https URI", s)
}

type pathCheck struct{}

func (pathCheck) check(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("is empty: set a path or remove the key")
	}
	return s, nil
}

type nonEmptyCheck struct{}

func (nonEmptyCheck) check(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("is empty: set a value or remove the key")
	}
	return s, nil
}

// isLoopback reports localhost and loopback addresses.
func isLoopback(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
