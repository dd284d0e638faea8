package setup

// This file is "gsendmail setup --from-thunderbird": a Thunderbird
// profile's outgoing servers from prefs.js (mail.smtpservers,
// mail.smtpserver.NAME.*, the identities that use them) and, with
// --with-token, the saved password or OAuth2 refresh token from
// logins.json + key4.db (internal/nss).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gsendmail/gsendmail/internal/nss"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// MaxPrefsSize bounds prefs.js.
const MaxPrefsSize = 16 << 20

// ParsePrefs reads a Mozilla prefs.js: user_pref("name", value); lines
// (also pref and sticky_pref), where a value is a JavaScript string, an
// integer or a boolean. Comments (//, /* */ and #) are skipped. Values
// come out as string, int or bool.
func ParsePrefs(b []byte) (map[string]any, error) {
	p := &prefsParser{s: string(b), line: 1}
	out := map[string]any{}
	for {
		p.space()
		if p.i >= len(p.s) {
			return out, nil
		}
		word := p.ident()
		switch word {
		case "user_pref", "pref", "sticky_pref":
		default:
			return nil, p.errorf("expected user_pref(, found %q", p.peek())
		}
		p.space()
		if !p.eat('(') {
			return nil, p.errorf("expected ( after %s", word)
		}
		p.space()
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(',') {
			return nil, p.errorf("expected , after the name %q", name)
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(')') {
			return nil, p.errorf("expected ) after the value of %q", name)
		}
		p.space()
		if !p.eat(';') {
			return nil, p.errorf("expected ; after user_pref(%q, ...)", name)
		}
		out[name] = v
	}
}

type prefsParser struct {
	s    string
	i    int
	line int
}

func (p *prefsParser) errorf(format string, a ...any) error {
	return fmt.Errorf("prefs.js line %d: %s", p.line, fmt.Sprintf(format, a...))
}

func (p *prefsParser) peek() string {
	e := min(p.i+10, len(p.s))
	return p.s[p.i:e]
}

func (p *prefsParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// space skips white space and comments.
func (p *prefsParser) space() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\n':
			p.line++
			p.i++
		case c == ' ' || c == '\t' || c == '\r':
			p.i++
		case c == '#' || strings.HasPrefix(p.s[p.i:], "//"):
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case strings.HasPrefix(p.s[p.i:], "/*"):
			end := strings.Index(p.s[p.i+2:], "*/")
			if end < 0 {
				p.i = len(p.s)
				return
			}
			p.line += strings.Count(p.s[p.i:p.i+2+end], "\n")
			p.i += end + 4
		default:
			return
		}
	}
}

func (p *prefsParser) ident() string {
	st := p.i
	for p.i < len(p.s) && (p.s[p.i] == '_' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z') {
		p.i++
	}
	return p.s[st:p.i]
}

func (p *prefsParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.errorf("value missing")
	}
	switch c := p.s[p.i]; {
	case c == '"' || c == '\'':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		st := p.i
		p.i++
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.Atoi(p.s[st:p.i])
		if err != nil {
			return nil, p.errorf("bad number %q", p.s[st:p.i])
		}
		return n, nil
	}
	switch w := p.ident(); w {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return nil, p.errorf("bad value %q", p.peek())
}

// str reads a JavaScript string literal with its escapes.
func (p *prefsParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
		return "", p.errorf("expected a string")
	}
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			return "", p.errorf("line break inside a string")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		if p.i >= len(p.s) {
			break
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'x', 'u':
			n := 2
			if e == 'u' {
				n = 4
			}
			if p.i+n > len(p.s) {
				return "", p.errorf("short \\%c escape", e)
			}
			v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil {
				return "", p.errorf("bad \\%c escape", e)
			}
			p.i += n
			r := rune(v)
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			b.WriteByte(e)
		}
	}
	return "", p.errorf("string not closed")
}

// Thunderbird's authMethod values (nsMsgAuthMethod in mailnews).
const (
	tbAuthNone              = 1
	tbAuthOld               = 2
	tbAuthPasswordCleartext = 3
	tbAuthPasswordEncrypted = 4
	tbAuthGSSAPI            = 5
	tbAuthNTLM              = 6
	tbAuthExternal          = 7
	tbAuthSecure            = 8
	tbAuthAnything          = 9
	tbAuthOAuth2            = 10
)

// ThunderbirdServer is one outgoing server of a profile.
type ThunderbirdServer struct {
	Key        string // "smtp1"
	Host       string
	Port       int // 0: the default for the TLS mode
	TrySSL     int // 0 none, 1 STARTTLS if offered, 2 STARTTLS, 3 TLS
	AuthMethod int
	Username   string
	Addresses  []string // identities' addresses that send through it
	Default    bool
}

func prefString(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

func prefInt(p map[string]any, k string, def int) int {
	switch v := p[k].(type) {
	case int:
		return v
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// ThunderbirdServers lists the outgoing servers prefs names.
func ThunderbirdServers(prefs map[string]any) []ThunderbirdServer {
	var out []ThunderbirdServer
	def := prefString(prefs, "mail.smtp.defaultserver")
	// Which identities send through which server.
	addrs := map[string][]string{}
	var ids []string
	for k := range prefs {
		if strings.HasPrefix(k, "mail.identity.") && strings.HasSuffix(k, ".useremail") {
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(k, "mail.identity."), ".useremail"))
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		srv := prefString(prefs, "mail.identity."+id+".smtpServer")
		if srv == "" {
			srv = def
		}
		if a := prefString(prefs, "mail.identity."+id+".useremail"); a != "" {
			addrs[srv] = append(addrs[srv], a)
		}
	}
	for _, key := range strings.Split(prefString(prefs, "mail.smtpservers"), ",") {
		key = strings.TrimSpace(key)
		if key == "" {
			continue
		}
		pre := "mail.smtpserver." + key + "."
		out = append(out, ThunderbirdServer{
			Key:        key,
			Host:       prefString(prefs, pre+"hostname"),
			Port:       prefInt(prefs, pre+"port", 0),
			TrySSL:     prefInt(prefs, pre+"try_ssl", 0),
			AuthMethod: prefInt(prefs, pre+"authMethod", tbAuthPasswordCleartext),
			Username:   prefString(prefs, pre+"username"),
			Addresses:  addrs[key],
			Default:    key == def,
		})
	}
	return out
}

// oauthIssuer is the host Thunderbird files a provider's refresh token
// under in logins.json ("oauth://ISSUER").
func oauthIssuer(provider string) string {
	switch provider {
	case "google":
		return "accounts.google.com"
	case "microsoft":
		return "login.microsoftonline.com"
	}
	return ""
}

// ImportThunderbird maps a profile's outgoing servers to accounts. logins
// (nil without --with-token) supplies saved passwords and refresh tokens.
func ImportThunderbird(prefsPath string, prefs map[string]any, logins []nss.Login) ([]Imported, []Note) {
	var ims []Imported
	var notes []Note
	used := map[string]bool{}
	for _, s := range ThunderbirdServers(prefs) {
		where := prefsPath
		note := func(k, did string) {
			notes = append(notes, Note{where, "mail.smtpserver." + s.Key + "." + k, did})
		}
		if s.Host == "" {
			note("hostname", "not set: the server is skipped")
			continue
		}
		im := Imported{}
		a := &im.Account
		a.Host = s.Host
		if p, ok := PresetByHost(s.Host); ok {
			a.Preset = p
		}
		base := sanitizeName(s.Host)
		if a.Preset.Name != "" {
			base = a.Preset.Name
		}
		a.Name = base
		for i := 2; used[a.Name]; i++ {
			a.Name = fmt.Sprintf("%s-%d", base, i)
		}
		used[a.Name] = true
		a.How = fmt.Sprintf("imported from Thunderbird's outgoing server %s in %s", s.Key, prefsPath)
		a.Default = s.Default
		switch s.TrySSL {
		case 3:
			a.TLS = smtp.Implicit
		case 1, 2:
			a.TLS = smtp.StartTLS
			if s.TrySSL == 1 {
				note("try_ssl", "1 (STARTTLS when offered): imported as tls = \"starttls\", which gsendmail always requires")
			}
		default:
			a.TLS = smtp.None
		}
		a.Port = s.Port
		if a.Port == 0 {
			a.Port = a.TLS.DefaultPort()
			note("port", fmt.Sprintf("not set: Thunderbird's default for the connection security, %d, is used", a.Port))
		}
		if len(s.Addresses) > 0 {
			a.Address = s.Addresses[0]
			if len(s.Addresses) > 1 {
				note("identities", fmt.Sprintf("%d identities send through this server; from = %q (the first): add from patterns or accounts for %s", len(s.Addresses), a.Address, strings.Join(s.Addresses[1:], ", ")))
			}
		} else if strings.Contains(s.Username, "@") {
			a.Address = s.Username
			note("identities", "no identity uses this server: its user name is taken as the from address")
		}
		a.User = s.Username
		if a.User == "" {
			a.User = a.Address
		}
		switch s.AuthMethod {
		case tbAuthNone:
			a.Auth = AuthNone
		case tbAuthOAuth2:
			a.Auth = AuthOAuth2
			im.NeedsOAuth = true
			a.OAuthProvider, a.OAuthTenant = a.Preset.OAuthProvider, a.Preset.OAuthTenant
			issuer := oauthIssuer(a.OAuthProvider)
			for _, l := range logins {
				if strings.HasPrefix(l.Origin, "oauth://") && l.Username == s.Username && (issuer == "" || l.Origin == "oauth://"+issuer) {
					im.Token = l.Password
					break
				}
			}
			if logins != nil && im.Token == "" {
				note("authMethod", "OAuth2, but logins.json holds no refresh token for "+s.Username+": setup logs in instead")
			}
		default:
			a.Auth = AuthPassword
			switch s.AuthMethod {
			case tbAuthPasswordCleartext, tbAuthOld, tbAuthAnything, tbAuthSecure:
			case tbAuthPasswordEncrypted:
				note("authMethod", "4 (encrypted password, CRAM-MD5) not supported: PLAIN or LOGIN inside TLS is used")
			default:
				note("authMethod", fmt.Sprintf("%d (GSSAPI, NTLM or TLS certificate) not supported: PLAIN or LOGIN inside TLS is used", s.AuthMethod))
			}
			for _, l := range logins {
				if (l.Origin == "smtp://"+s.Host || l.Origin == "smtp://"+s.Username+"@"+s.Host) && (l.Username == s.Username || l.Username == "") {
					im.Password = l.Password
					break
				}
			}
			if im.Password == "" {
				im.AskPassword = true
				if logins == nil {
					note("password", "not read (give --with-token to take the one Thunderbird saved): setup asks for it")
				} else {
					note("password", "not saved in Thunderbird: setup asks for it")
				}
			} else {
				note("password", "taken from Thunderbird's saved logins into the keyring or a 0600 file")
			}
		}
		if a.Auth != AuthNone && a.TLS == smtp.None {
			a.TLS = smtp.StartTLS
			if s.Port == 0 {
				a.Port = 587
			}
			note("try_ssl", "0 (no encryption) with a login: imported as tls = \"starttls\"; gsendmail never sends credentials unencrypted")
		}
		ims = append(ims, im)
	}
	if len(ims) == 0 {
		notes = append(notes, Note{prefsPath, "mail.smtpservers", "no outgoing server is configured in this profile"})
	}
	if len(ims) > 0 {
		hasDef := false
		for _, im := range ims {
			hasDef = hasDef || im.Account.Default
		}
		if !hasDef {
			ims[0].Account.Default = true
		}
	}
	return ims, notes
}

// importThunderbird reads the profile at dir.
func (w *wizard) importThunderbird(dir string) ([]Imported, []Note, error) {
	prefsPath := filepath.Join(dir, "prefs.js")
	fi, err := os.Stat(prefsPath)
	if err != nil {
		return nil, nil, sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-thunderbird: %v: give the profile directory (the one holding prefs.js)", err))
	}
	if fi.Size() > MaxPrefsSize {
		return nil, nil, sysexits.New(sysexits.DataErr, fmt.Errorf("setup --from-thunderbird: %s is larger than %d bytes", prefsPath, MaxPrefsSize))
	}
	b, err := os.ReadFile(prefsPath)
	if err != nil {
		return nil, nil, sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-thunderbird: %v", err))
	}
	prefs, err := ParsePrefs(b)
	if err != nil {
		return nil, nil, sysexits.New(sysexits.DataErr, fmt.Errorf("setup --from-thunderbird: %s: %v", prefsPath, err))
	}
	var logins []nss.Login
	if w.f.withToken {
		if logins, err = w.thunderbirdLogins(dir); err != nil {
			return nil, nil, err
		}
		if logins == nil {
			logins = []nss.Login{}
		}
	}
	ims, notes := ImportThunderbird(prefsPath, prefs, logins)
	return ims, notes, nil
}

// thunderbirdLogins decrypts logins.json, asking for the primary password
// when one is set.
func (w *wizard) thunderbirdLogins(dir string) ([]nss.Login, error) {
	if _, err := os.Stat(filepath.Join(dir, "logins.json")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(w.out, "%s has no logins.json: Thunderbird saved no password or token.\n", dir)
		return nil, nil
	}
	keys, err := nss.Open(dir, "")
	for tries := 0; errors.Is(err, nss.ErrPrimaryPassword) && tries < 3; tries++ {
		if w.f.yes {
			return nil, sysexits.New(sysexits.NoPerm, errors.New("setup --from-thunderbird --with-token: the profile has a primary password; run without --yes to type it"))
		}
		pw, perr := w.secret("Thunderbird primary password (input hidden)", "primary password", false)
		if perr != nil {
			return nil, perr
		}
		keys, err = nss.Open(dir, pw)
	}
	if errors.Is(err, nss.ErrPrimaryPassword) {
		return nil, sysexits.New(sysexits.NoPerm, errors.New("setup --from-thunderbird: the primary password was refused three times"))
	}
	if err != nil {
		return nil, sysexits.New(sysexits.DataErr, fmt.Errorf("setup --from-thunderbird: %v", err))
	}
	logins, err := nss.ReadLogins(dir, keys)
	if err != nil {
		return nil, sysexits.New(sysexits.DataErr, fmt.Errorf("setup --from-thunderbird: %v", err))
	}
	return logins, nil
}

// thunderbirdRoots are where Thunderbird keeps profiles.ini.
func thunderbirdRoots(home, appdata string) []string {
	switch runtime.GOOS {
	case "darwin":
		return []string{filepath.Join(home, "Library", "Thunderbird")}
	case "windows":
		return []string{filepath.Join(appdata, "Thunderbird")}
	}
	return []string{
		filepath.Join(home, ".thunderbird"),
		filepath.Join(home, ".var", "app", "org.mozilla.Thunderbird", ".thunderbird"),
		filepath.Join(home, "snap", "thunderbird", "common", ".thunderbird"),
	}
}

// FindThunderbirdProfile returns the default profile directory from the
// first profiles.ini found.
func FindThunderbirdProfile(home, appdata string) (string, error) {
	roots := thunderbirdRoots(home, appdata)
	for _, root := range roots {
		fh, err := os.Open(filepath.Join(root, "profiles.ini"))
		if err != nil {
			continue
		}
		dir, err := defaultProfile(fh, root)
		fh.Close()
		if err != nil {
			return "", sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-thunderbird: %s/profiles.ini: %v", root, err))
		}
		return dir, nil
	}
	return "", sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-thunderbird: no Thunderbird profiles.ini in %s: give the profile directory, --from-thunderbird=DIR", strings.Join(roots, ", ")))
}

// defaultProfile picks the profile profiles.ini marks as the default:
// the [Install…] section's Default (Thunderbird 68 and newer), else the
// [Profile…] with Default=1, else the only profile.
func defaultProfile(r io.Reader, root string) (string, error) {
	type profile struct{ name, path string }
	var profiles []profile
	var install, marked string
	sec := ""
	cur := map[string]string{}
	flush := func() {
		switch {
		case strings.HasPrefix(sec, "Install"):
			if install == "" {
				install = cur["Default"]
			}
		case strings.HasPrefix(sec, "Profile"):
			p := cur["Path"]
			if p == "" {
				break
			}
			if cur["IsRelative"] != "0" {
				p = filepath.Join(root, filepath.FromSlash(p))
			}
			profiles = append(profiles, profile{cur["Name"], p})
			if cur["Default"] == "1" {
				marked = p
			}
		}
		cur = map[string]string{}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == ';' || l[0] == '#':
		case l[0] == '[' && strings.HasSuffix(l, "]"):
			flush()
			sec = l[1 : len(l)-1]
		default:
			k, v, _ := strings.Cut(l, "=")
			cur[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return "", err
	}
	if install != "" {
		if filepath.IsAbs(install) {
			return install, nil
		}
		return filepath.Join(root, filepath.FromSlash(install)), nil
	}
	if marked != "" {
		return marked, nil
	}
	if len(profiles) == 1 {
		return profiles[0].path, nil
	}
	var names []string
	for _, p := range profiles {
		names = append(names, p.path)
	}
	if len(names) == 0 {
		return "", errors.New("lists no profile")
	}
	return "", fmt.Errorf("several profiles and none is the default (%s): give one, --from-thunderbird=DIR", strings.Join(names, ", "))
}
