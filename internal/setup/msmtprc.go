package setup

// This file is "gsendmail setup --from-msmtprc": a parser for msmtp's
// configuration file (msmtp(1) 1.8, "CONFIGURATION FILES") and the mapping
// of every msmtp command onto gsendmail's keys. A command gsendmail has no
// equivalent for is reported, one line each, never dropped silently.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// MsmtpSetting is one command of an account, with the line that set it.
type MsmtpSetting struct {
	Value string
	Line  int
}

// MsmtpAccount is one account with defaults and inheritance applied.
type MsmtpAccount struct {
	Name     string
	Line     int
	Settings map[string]MsmtpSetting
}

// Msmtprc is a parsed msmtp configuration file.
type Msmtprc struct {
	Path     string
	Accounts []*MsmtpAccount
	// Default names the account msmtp uses without -a: the one that
	// "account default : NAME" inherits from, or the account called
	// "default".
	Default string
	// Evals lists the lines of "eval" commands, which are not run.
	Evals []int
}

// msmtpCommands lists every command msmtp 1.8 accepts inside an account
// or defaults (msmtp(1), CONFIGURATION FILES), plus the obsolete ones it
// still reads.
var msmtpCommands = []string{
	"host", "port", "source_ip", "proxy_host", "proxy_port", "socket", "timeout", "protocol",
	"domain", "auth", "user", "password", "passwordeval", "ntlmdomain",
	"tls", "tls_starttls", "tls_trust_file", "tls_crl_file", "tls_fingerprint", "tls_key_file",
	"tls_cert_file", "tls_certcheck", "tls_priorities", "tls_host_override", "tls_min_dh_prime_bits",
	"from", "allow_from_override", "dsn_notify", "dsn_return", "set_from_header", "set_date_header",
	"set_msgid_header", "remove_bcc_headers", "undisclosed_recipients", "logfile",
	"logfile_time_format", "syslog", "aliases", "auto_from", "maildomain",
	// Obsolete spellings msmtp 1.8 still accepts.
	"add_missing_from_header", "add_missing_date_header", "tls_nocertcheck", "tls_force_sslv3", "keepbcc",
}

func knownMsmtpCommand(c string) bool {
	for _, k := range msmtpCommands {
		if k == c {
			return true
		}
	}
	return false
}

// msmtpArg decodes a command's argument as msmtp does: the rest of the
// line without surrounding blanks; when it then starts and ends with a
// double quote, those two are removed and the rest is taken as it is (no
// escapes), so "  a b " keeps its blanks.
func msmtpArg(s string) string {
	s = strings.Trim(s, " \t")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// ParseMsmtprc reads an msmtp configuration file. name is the path, for
// messages. Accounts come out with the defaults in force at their
// definition and the accounts they inherit from (account A : B,C) applied.
func ParseMsmtprc(r io.Reader, name string) (*Msmtprc, error) {
	m := &Msmtprc{Path: name}
	defaults := map[string]MsmtpSetting{}
	own := map[string]map[string]MsmtpSetting{} // explicitly set, incl. inherited accounts
	var cur map[string]MsmtpSetting             // defaults or the current account
	var curAcct *MsmtpAccount
	byName := map[string]*MsmtpAccount{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	bad := func(format string, a ...any) error {
		return sysexits.New(sysexits.Config, fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, a...)))
	}
	for sc.Scan() {
		n++
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		cmd, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(cmd, '\t'); i >= 0 {
			cmd, rest = cmd[:i], cmd[i+1:]+" "+rest
		}
		arg := msmtpArg(rest)
		switch cmd {
		case "defaults":
			cur, curAcct = defaults, nil
		case "account":
			nm, parents, hasColon := strings.Cut(arg, ":")
			nm = strings.TrimSpace(nm)
			if nm == "" || strings.ContainsAny(nm, " \t") {
				return nil, bad("account needs one name, got %q", arg)
			}
			if byName[nm] != nil {
				return nil, bad("account %q is defined twice", nm)
			}
			a := &MsmtpAccount{Name: nm, Line: n, Settings: map[string]MsmtpSetting{}}
			for k, v := range defaults {
				a.Settings[k] = v
			}
			own[nm] = map[string]MsmtpSetting{}
			if hasColon {
				for _, p := range strings.Split(parents, ",") {
					p = strings.TrimSpace(p)
					pa := byName[p]
					if pa == nil {
						return nil, bad("account %q inherits from %q, which is not defined above it", nm, p)
					}
					for k, v := range own[p] {
						a.Settings[k] = v
						own[nm][k] = v
					}
					if nm == "default" {
						m.Default = p
					}
				}
			}
			if nm == "default" && m.Default == "" {
				m.Default = nm
			}
			byName[nm] = a
			m.Accounts = append(m.Accounts, a)
			cur, curAcct = own[nm], a
		case "eval":
			m.Evals = append(m.Evals, n)
		default:
			if !knownMsmtpCommand(cmd) {
				return nil, bad("unknown msmtp command %q", cmd)
			}
			if cur == nil {
				return nil, bad("%s before any account or defaults line", cmd)
			}
			s := MsmtpSetting{Value: arg, Line: n}
			cur[cmd] = s
			if curAcct != nil {
				curAcct.Settings[cmd] = s
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s: %v", name, err))
	}
	if len(m.Accounts) == 0 {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("%s defines no account", name))
	}
	return m, nil
}

// FindMsmtprc returns msmtp's user configuration file: ~/.msmtprc, then
// $XDG_CONFIG_HOME/msmtp/config (default ~/.config).
func FindMsmtprc(home, xdg string) (string, error) {
	var tried []string
	if home != "" {
		tried = append(tried, filepath.Join(home, ".msmtprc"))
	}
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	if xdg != "" {
		tried = append(tried, filepath.Join(xdg, "msmtp", "config"))
	}
	for _, p := range tried {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-msmtprc: no msmtp configuration (looked for %s): give its path, --from-msmtprc=FILE", strings.Join(tried, " and ")))
}

// msmtpBool reads on/off; an empty argument is on (msmtp(1)).
func msmtpBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "", "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}

// MsmtpEnv is what msmtp's substitution patterns (%U %H %C %M) and "~"
// expand to.
type MsmtpEnv struct {
	Home, User, Hostname, MailName string
}

func (e MsmtpEnv) subst(v string) (string, bool) {
	if !strings.Contains(v, "%") {
		return v, false
	}
	r := strings.NewReplacer("%U", e.User, "%H", e.Hostname, "%C", e.Hostname, "%M", e.MailName)
	return r.Replace(v), true
}

// Import maps every account. The notes say, for each setting that is not
// carried over one to one, what was done.
func (m *Msmtprc) Import(env MsmtpEnv) ([]Imported, []Note) {
	var out []Imported
	var notes []Note
	base := filepath.Dir(m.Path)
	for _, l := range m.Evals {
		notes = append(notes, Note{fmt.Sprintf("%s:%d", m.Path, l), "eval", "not run (setup does not run commands from a file it imports): put the result of the command in the new configuration by hand"})
	}
	def := m.Default
	for _, ma := range m.Accounts {
		if ma.Name == "default" && def != "default" && !m.sameAs(ma, def) {
			def = "default" // it changes what it inherits: an account of its own
		}
	}
	for _, ma := range m.Accounts {
		if ma.Name == "default" && def != "default" {
			notes = append(notes, Note{fmt.Sprintf("%s:%d", m.Path, ma.Line), "account default", fmt.Sprintf("an alias of %q; default_account = %q instead", def, sanitizeName(def))})
			continue
		}
		im, n := m.importAccount(ma, env, base)
		notes = append(notes, n...)
		if im != nil {
			im.Account.Default = ma.Name == def
			out = append(out, *im)
		}
	}
	if def == "" && len(out) > 0 {
		out[0].Account.Default = true
	}
	return out, notes
}

// sameAs reports whether account a has exactly the settings of the
// account called name.
func (m *Msmtprc) sameAs(a *MsmtpAccount, name string) bool {
	for _, o := range m.Accounts {
		if o.Name != name {
			continue
		}
		if len(o.Settings) != len(a.Settings) {
			return false
		}
		for k, v := range o.Settings {
			if a.Settings[k].Value != v.Value {
				return false
			}
		}
		return true
	}
	return false
}

func (m *Msmtprc) importAccount(ma *MsmtpAccount, env MsmtpEnv, base string) (*Imported, []Note) {
	var notes []Note
	s := ma.Settings
	get := func(k string) (string, bool) { v, ok := s[k]; return v.Value, ok }
	note := func(k, did string) {
		where := fmt.Sprintf("%s:%d", m.Path, ma.Line)
		if v, ok := s[k]; ok {
			where = fmt.Sprintf("%s:%d", m.Path, v.Line)
		}
		notes = append(notes, Note{where, fmt.Sprintf("account %s: %s", ma.Name, k), did})
	}
	// path resolves a file name: "~" is expanded, and a relative name,
	// which msmtp takes from wherever it runs, is taken from the msmtprc's
	// directory and said so.
	path := func(k, v string) string {
		p := expandHome(v, env.Home)
		if !filepath.IsAbs(p) {
			p = absFrom(p, base)
			note(k, fmt.Sprintf("relative path %q taken as %s", v, p))
		}
		return p
	}
	im := &Imported{}
	a := &im.Account
	a.Name = sanitizeName(ma.Name)
	a.How = fmt.Sprintf("imported from account %q of %s", ma.Name, m.Path)
	if a.Name != ma.Name {
		note("account", fmt.Sprintf("renamed %q (gsendmail account names are letters, digits and - _ . @ +)", a.Name))
	}
	if v, _ := get("protocol"); strings.EqualFold(v, "lmtp") {
		note("protocol", "not imported: gsendmail submits with SMTP only; the account is skipped")
		return nil, notes
	}
	host, ok := get("host")
	if !ok || host == "" {
		if _, sock := get("socket"); sock {
			note("socket", "not imported: gsendmail connects over TCP only; the account is skipped")
		} else {
			note("host", "not set: the account is skipped (msmtp refuses it too)")
		}
		return nil, notes
	}
	a.Host = host
	if p, ok := PresetByHost(host); ok {
		a.Preset = p
	}

	// TLS (msmtp's defaults: tls off, tls_starttls on).
	tlsOn, starttls := false, true
	if v, ok := get("tls"); ok {
		if b, ok := msmtpBool(v); ok {
			tlsOn = b
		}
	}
	if v, ok := get("tls_starttls"); ok {
		if b, ok := msmtpBool(v); ok {
			starttls = b
		}
	}
	authV, hasAuth := get("auth")
	authOn := false
	if hasAuth {
		if b, ok := msmtpBool(authV); !ok || b {
			authOn = true
		}
	}
	defPort := 25
	switch {
	case tlsOn && starttls:
		a.TLS = smtp.StartTLS
	case tlsOn:
		a.TLS = smtp.Implicit
		defPort = 465
	case authOn:
		a.TLS = smtp.StartTLS
		note("tls", "off in msmtp, but gsendmail never sends credentials unencrypted: imported as tls = \"starttls\" (the server must offer STARTTLS)")
	default:
		a.TLS = smtp.None
		note("tls", "off: imported as tls = \"none\" (no login, so nothing secret crosses the network)")
	}
	a.Port = defPort
	if v, ok := get("port"); ok {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			note("port", fmt.Sprintf("%q is not a port number: the default %d is used", v, defPort))
		} else {
			a.Port = p
		}
	} else {
		note("port", fmt.Sprintf("not set: msmtp's default %d is written explicitly", defPort))
	}
	if v, ok := get("tls_trust_file"); ok && v != "" && v != "system" {
		a.TLSTrustFile = path("tls_trust_file", v)
	}
	if v, ok := get("tls_fingerprint"); ok && v != "" {
		hex := strings.ToLower(strings.ReplaceAll(v, ":", ""))
		if len(hex) == 64 && isHex(hex) {
			a.Extra = append(a.Extra, Setting{"Pinned certificate (SHA-256), from msmtp's tls_fingerprint.", "tls_fingerprint", hex})
		} else {
			note("tls_fingerprint", "not imported: gsendmail pins SHA-256 fingerprints only, this is SHA-1 or MD5; setup's server check shows the SHA-256 one to pin")
		}
	}
	certcheck := true
	if v, ok := get("tls_certcheck"); ok {
		if b, ok := msmtpBool(v); ok {
			certcheck = b
		}
	}
	certKey := "tls_certcheck"
	if v, ok := get("tls_nocertcheck"); ok {
		if b, ok := msmtpBool(v); ok && b {
			certcheck, certKey = false, "tls_nocertcheck"
		}
	}
	if !certcheck && a.TLS != smtp.None {
		a.Extra = append(a.Extra, Setting{"WARNING: the server certificate is not checked (msmtp tls_certcheck off);\n# prefer tls_trust_file or tls_fingerprint.", "tls_verify", false})
		note(certKey, "off: imported as tls_verify = false; WARNING: anyone on the network path can read your password and mail: use tls_trust_file or tls_fingerprint instead")
	}
	for _, k := range []string{"tls_crl_file", "tls_priorities", "tls_host_override", "tls_min_dh_prime_bits", "tls_force_sslv3"} {
		if v, ok := get(k); ok && v != "" {
			note(k, "not imported: gsendmail has no such setting (it uses Go's TLS defaults, TLS 1.2 or newer, and the host name to verify)")
		}
	}
	for _, k := range []string{"tls_key_file", "tls_cert_file"} {
		if v, ok := get(k); ok && v != "" {
			note(k, "not imported: gsendmail sends no TLS client certificate")
		}
	}
	for _, k := range []string{"source_ip", "proxy_host", "proxy_port", "socket"} {
		if v, ok := get(k); ok && v != "" {
			note(k, "not imported: gsendmail has no such setting (it connects directly to host:port)")
		}
	}
	if v, ok := get("timeout"); ok {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			a.Extra = append(a.Extra, Setting{"", "timeout", fmt.Sprintf("%ds", secs)})
		} else {
			note("timeout", fmt.Sprintf("%q: not imported; gsendmail's default timeout (60s per step) applies", v))
		}
	}

	// EHLO name.
	if v, ok := get("domain"); ok && v != "" {
		d, subst := env.subst(v)
		switch {
		case strings.EqualFold(d, "localhost"):
			note("domain", "\"localhost\" not imported: gsendmail chooses a fully qualified name or an address literal, which strict servers accept")
		case ehlo.Validate(d) == nil:
			a.Extra = append(a.Extra, Setting{"EHLO name, from msmtp's domain.", "ehlo_name", d})
			if subst {
				note("domain", fmt.Sprintf("%q expanded now to ehlo_name %q", v, d))
			}
		default:
			note("domain", fmt.Sprintf("%q is not a fully qualified name: not imported; gsendmail chooses one (see gsendmail doctor)", d))
		}
	} else {
		note("domain", "not set: msmtp sends EHLO localhost, which strict servers refuse; gsendmail will not: it sends this host's fully qualified name or an address literal")
	}

	// Authentication.
	method := strings.ToLower(authV)
	user, _ := get("user")
	pw, hasPw := get("password")
	eval, hasEval := get("passwordeval")
	hasPw, hasEval = hasPw && pw != "", hasEval && eval != ""
	if hasPw && hasEval {
		// Both set (one inherited): the later line is the account's own.
		if s["password"].Line > s["passwordeval"].Line {
			hasEval = false
		} else {
			hasPw = false
		}
		note("passwordeval", "and password are both set: the later line is imported, the other ignored")
	}
	switch {
	case !authOn:
		a.Auth = AuthNone
		if hasPw || hasEval {
			note("password", "ignored: auth is off in msmtp, so the account logs in with no password")
		}
	case method == "xoauth2" || method == "oauthbearer":
		a.Auth = AuthOAuth2
		a.User = user
		im.NeedsOAuth = true
		a.OAuthProvider = a.Preset.OAuthProvider
		a.OAuthTenant = a.Preset.OAuthTenant
		if hasEval {
			im.Helper = eval
			note("passwordeval", "an OAuth2 access-token helper: replaced by gsendmail's built-in OAuth2 (it refreshes tokens itself); the helper is no longer needed")
		}
	default:
		a.Auth = AuthPassword
		a.User = user
		switch method {
		case "", "on":
		case "plain", "login":
			a.Extra = append(a.Extra, Setting{"", "auth", method})
		default:
			note("auth", fmt.Sprintf("%q not supported by gsendmail: PLAIN or LOGIN (whichever the server offers) is used instead, always inside TLS", method))
		}
		switch {
		case hasEval:
			a.PasswordStore = StoreCommand
			a.PasswordCommand = eval
		case hasPw:
			im.Password = pw
			note("password", "moved out of the configuration into the keyring or a 0600 file; never copied in clear")
		default:
			im.AskPassword = true
			note("password", "not in the file (msmtp asked a keyring, ~/.netrc or the terminal): setup asks for it")
		}
		if user == "" {
			note("user", "not set: the login name is taken to be the from address")
		}
	}
	if v, ok := get("ntlmdomain"); ok && v != "" {
		note("ntlmdomain", "not imported: gsendmail has no NTLM")
	}

	// Sender.
	from, hasFrom := get("from")
	if af, ok := get("auto_from"); ok {
		if b, ok := msmtpBool(af); ok && b {
			dom, _ := get("maildomain")
			if dom == "" {
				dom = env.Hostname
			}
			from, hasFrom = env.User+"@"+dom, true
			note("auto_from", fmt.Sprintf("on: the address it makes today, %q, is imported as from", from))
		}
	}
	if v, ok := get("maildomain"); ok && v != "" {
		note("maildomain", "only used by auto_from, which gsendmail does not have: not imported")
	}
	if hasFrom && from != "" {
		f, subst := env.subst(from)
		if strings.Contains(f, "[") {
			note("from", fmt.Sprintf("%q uses a [...] class, which gsendmail patterns lack (only * and ?): the class is widened to ?", f))
			f = widenClasses(f)
		}
		if subst {
			note("from", fmt.Sprintf("%q expanded now to %q", from, f))
		}
		a.Address = f
	} else if strings.Contains(user, "@") {
		a.Address = user
		note("from", "not set: the login name is used as the from address; set from in the new file if that is wrong")
	} else {
		note("from", "not set: the account gets no from, so it is used with -a or as the default account only")
	}
	if a.User == "" && a.Auth != AuthNone {
		a.User = a.Address
	}
	if v, ok := get("allow_from_override"); ok {
		if b, ok := msmtpBool(v); ok && !b {
			a.Extra = append(a.Extra, Setting{"", "allow_from_override", false})
		}
	}
	headerOpt := func(k, gk string, obsolete string) {
		v, ok := get(k)
		if !ok && obsolete != "" {
			if ov, ook := get(obsolete); ook {
				if b, bok := msmtpBool(ov); bok && !b {
					v, ok = "off", true
				}
			}
		}
		if !ok {
			return
		}
		switch strings.ToLower(v) {
		case "", "auto":
		case "off":
			a.Extra = append(a.Extra, Setting{"", gk, false})
		default:
			note(k, fmt.Sprintf("%q not imported: gsendmail only adds the header when it is missing (never replaces one)", v))
		}
	}
	headerOpt("set_from_header", "add_from_header", "add_missing_from_header")
	headerOpt("set_date_header", "add_date_header", "add_missing_date_header")
	headerOpt("set_msgid_header", "add_message_id_header", "")
	for _, k := range []string{"remove_bcc_headers", "keepbcc"} {
		if v, ok := get(k); ok {
			b, _ := msmtpBool(v)
			if (k == "remove_bcc_headers" && !b) || (k == "keepbcc" && b) {
				note(k, "not imported: gsendmail always removes Bcc headers")
			}
		}
	}
	if v, ok := get("undisclosed_recipients"); ok {
		if b, _ := msmtpBool(v); b {
			note("undisclosed_recipients", "not imported: gsendmail has no such setting")
		}
	}
	for _, k := range []string{"dsn_notify", "dsn_return"} {
		if v, ok := get(k); ok && !strings.EqualFold(v, "off") {
			flag := map[string]string{"dsn_notify": "-N", "dsn_return": "-R"}[k]
			note(k, fmt.Sprintf("not imported: gsendmail has no such setting; pass %s %s on the command line", flag, v))
		}
	}

	// Logging and aliases.
	if v, ok := get("logfile"); ok && v != "" {
		if v == "-" {
			note("logfile", "\"-\" (standard output) not imported: gsendmail logs to a file or syslog")
		} else {
			a.Extra = append(a.Extra, Setting{"", "logfile", path("logfile", v)})
		}
	}
	if v, ok := get("logfile_time_format"); ok && v != "" {
		note("logfile_time_format", "not imported: gsendmail's log lines have a fixed time format")
	}
	if v, ok := get("syslog"); ok {
		switch lv := strings.ToUpper(v); lv {
		case "", "ON":
			a.Extra = append(a.Extra, Setting{"", "syslog", "LOG_USER"})
		case "OFF":
		case "LOG_USER", "LOG_MAIL", "LOG_DAEMON", "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2", "LOG_LOCAL3",
			"LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7":
			a.Extra = append(a.Extra, Setting{"", "syslog", lv})
		default:
			note("syslog", fmt.Sprintf("%q is not a facility gsendmail knows: not imported", v))
		}
	}
	if v, ok := get("aliases"); ok && v != "" {
		a.Extra = append(a.Extra, Setting{"", "aliases", path("aliases", v)})
	}
	return im, notes
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// widenClasses replaces every shell [...] class with ?.
func widenClasses(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			if j := strings.IndexByte(s[i:], ']'); j > 0 {
				b.WriteByte('?')
				i += j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// PresetByHost returns the preset whose submission host (or MX suffix) is
// host.
func PresetByHost(host string) (Preset, bool) { return presetForHost(host) }
