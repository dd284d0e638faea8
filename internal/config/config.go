// Package config owns gsendmail's configuration file: finding it, the TOML
// schema with [defaults] inheritance and built-in defaults, strict
// validation (unknown keys, bad values and insecure permissions are errors
// that name the file, account and key), and choosing the account for a
// message.
//
// It does not fetch secrets (internal/secret), talk to OAuth2 providers
// (internal/oauth) or choose EHLO names (internal/ehlo validates ehlo_name
// for it). Every error it returns has exit code 78 (EX_CONFIG).
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// SystemPath is the system-wide configuration file, tried last. A variable
// so tests can point it elsewhere.
var SystemPath = "/etc/gsendmail.toml"

// DefaultTenant is oauth_tenant for oauth_provider = "microsoft". The
// other built-in defaults are in the schema (rawAccount's default tags).
const DefaultTenant = "common"

// File is a loaded configuration file.
type File struct {
	Path           string
	System         bool // the system-wide file (SystemPath)
	DefaultAccount string
	// Accounts by name, with [defaults] inherited and built-in defaults
	// filled in.
	Accounts map[string]*Account
	// Order lists the account names in the order the file defines them;
	// Select tries from patterns in this order.
	Order []string
	// SystemMTA is the [system] table: nil unless the file configures a
	// system MTA (a daemon owning the secrets, local users handing mail
	// to it).
	SystemMTA *SystemMTA
	// Serve is the [serve] table (serve.go).
	Serve Serve
}

// Account is one [account.NAME] with everything resolved. Paths are
// absolute ("~" expanded, relative paths taken from the config file's
// directory). Zero strings mean "not set".
type Account struct {
	Name   string
	Source string // path of the file that defined it

	Host string
	Port int          // default 587 (starttls), 465 (tls), 25 (none)
	TLS  smtp.TLSMode // smtp.StartTLS (default), smtp.Implicit or smtp.None
	// TLSTrustFile is a PEM bundle to verify the server with instead of
	// the system roots.
	TLSTrustFile string
	// TLSFingerprint pins the server certificate: SHA-256 of its DER
	// encoding, 64 lower-case hex digits.
	TLSFingerprint string
	TLSVerify      bool // default true

	EHLOName string // validated with ehlo.Validate; empty: choose one

	Auth               string // as written; see AuthMethod for the resolved value
	User               string
	Password           string // inline; the file was checked to be private
	PasswordCommand    string
	PasswordFile       string
	PasswordKeyring    bool
	AllowCleartextAuth bool // see CleartextAuthAllowed

	From               string // address or pattern with * and ?
	AllowFromOverride  bool   // default true; false: -f is ignored
	AddFromHeader      bool   // default true
	AddDateHeader      bool   // default true
	AddMessageIDHeader bool   // default true
	MsgIDDomain        string

	Timeout  time.Duration // per SMTP command step; default 60s
	Deadline time.Duration // whole submission; default 10m

	Logfile string
	Syslog  string // "" (off) or a facility: "LOG_MAIL", "LOG_USER", "LOG_DAEMON", "LOG_LOCAL0".."LOG_LOCAL7"

	Aliases     string // aliases(5) file
	LocalDomain string

	Queue           bool
	QueueDir        string
	QueueMaxAge     time.Duration // default 120h
	FailureNoticeTo string

	OAuthProvider            string // ProviderGoogle, ProviderMicrosoft, ProviderGeneric or ""
	OAuthTenant              string // default "common" for microsoft
	OAuthClientID            string
	OAuthClientSecret        string // inline; the file was checked to be private
	OAuthClientSecretCommand string
	OAuthAuthURL             string
	OAuthTokenURL            string
	OAuthDeviceURL           string
	OAuthRedirectURI         string // exact registered redirect; "" means a random loopback port
	OAuthScopes              []string
	TokenStore               string // TokenStoreAuto (default), TokenStoreKeyring or TokenStoreFile
	TokenFile                string
}

// String describes the account without any secret, so that printing an
// Account by mistake (%v, %+v) leaks nothing.
func (a *Account) String() string {
	return fmt.Sprintf("account %q (%s:%d, tls=%s, auth=%s)", a.Name, a.Host, a.Port, a.TLS, a.AuthMethod())
}

// GoString is String, for %#v.
func (a *Account) GoString() string { return a.String() }

// AuthMethod resolves auth = "auto": OAuth2 settings (oauth_provider or
// oauth_client_id) give AuthOAuth2; a password source gives AuthPassword
// (the client picks PLAIN or LOGIN from what the server offers); otherwise
// AuthNone. Any other value is returned as written: AuthPlain, AuthLogin,
// AuthOAuth2, AuthXOAUTH2, AuthOAUTHBEARER or AuthNone.
func (a *Account) AuthMethod() string {
	if a.Auth != "" && a.Auth != AuthAuto {
		return a.Auth
	}
	switch {
	case a.OAuthProvider != "" || a.OAuthClientID != "":
		return AuthOAuth2
	case a.HasPasswordSource():
		return AuthPassword
	}
	return AuthNone
}

// UsesOAuth reports whether AuthMethod is one of the OAuth2 mechanisms.
func (a *Account) UsesOAuth() bool {
	switch a.AuthMethod() {
	case AuthOAuth2, AuthXOAUTH2, AuthOAUTHBEARER:
		return true
	}
	return false
}

// HasPasswordSource reports whether a password source is configured.
func (a *Account) HasPasswordSource() bool {
	return a.Password != "" || a.PasswordCommand != "" || a.PasswordFile != "" || a.PasswordKeyring
}

// PasswordSource returns where internal/secret finds the password.
func (a *Account) PasswordSource() secret.PasswordSource {
	return secret.PasswordSource{
		Account: a.Name,
		Inline:  a.Password,
		Command: a.PasswordCommand,
		File:    a.PasswordFile,
		Keyring: a.PasswordKeyring,
	}
}

// FromAddress returns from when it is a literal address (no * or ?).
func (a *Account) FromAddress() (string, bool) {
	if a.From == "" || strings.ContainsAny(a.From, "*?") {
		return "", false
	}
	return a.From, true
}

// IsLoopbackHost reports whether host is localhost (or under .localhost),
// in 127.0.0.0/8, or ::1.
func (a *Account) IsLoopbackHost() bool { return isLoopback(a.Host) }

// CleartextAuthAllowed reports whether credentials may be sent without
// TLS: only when the account asks for it, uses tls = "none" and talks to a
// loopback host (a local relay or an ssh tunnel).
func (a *Account) CleartextAuthAllowed() bool {
	return a.AllowCleartextAuth && a.TLS == smtp.None && a.IsLoopbackHost()
}

// configErr builds a one-line config error with exit code 78.
func configErr(format string, args ...any) error {
	return sysexits.New(sysexits.Config, fmt.Errorf(format, args...))
}

// statPath is os.Stat; a variable for tests.
var statPath = os.Stat

// Find returns the configuration file to use: explicit (-C), else
// $GSENDMAIL_CONFIG, else $XDG_CONFIG_HOME/gsendmail/config.toml (default
// $HOME/.config), else SystemPath; see Lookup, which also says why user
// files were skipped. system is true for SystemPath. A file named by -C or
// $GSENDMAIL_CONFIG must exist.
func Find(explicit string, getenv func(string) string) (path string, system bool, err error) {
	f, err := Lookup(explicit, getenv)
	return f.Path, f.System, err
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Injection points for the permission checks.
var (
	geteuid  = os.Geteuid
	statFile = func(f *os.File) (os.FileInfo, error) { return f.Stat() }
	homeDir  = func() (string, error) {
		// The same home Lookup searched, not an inherited $HOME.
		getenv, _ := UserEnv(os.Getenv)
		if h := getenv("HOME"); h != "" {
			return h, nil
		}
		return "", errors.New("$HOME is not set")
	}
)

// maxFileSize bounds the config file; a larger one is not a config file.
const maxFileSize = 1 << 20

// Load reads, validates and resolves the configuration file at path
// (system: it is SystemPath, for diagnostics). A file holding a password or
// client secret must not be accessible by group or others; when running as
// root, a file holding a secret or a command must be owned by root; no
// config file may be writable by group or others.
func Load(path string, system bool) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, configErr("cannot read configuration file %s: %v: check the path and its permissions", path, unwrapPathError(err))
	}
	defer fh.Close()
	fi, err := statFile(fh)
	if err != nil {
		return nil, configErr("cannot read configuration file %s: %v", path, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, configErr("%s is not a regular file: point -C or $GSENDMAIL_CONFIG at the configuration file", path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, configErr("cannot read configuration file %s: %v", path, unwrapPathError(err))
	}
	if len(data) > maxFileSize {
		return nil, configErr("%s is larger than 1 MiB: is it the right file?", path)
	}
	f, sens, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	f.System = system
	if err := checkPermissions(path, fi, sens); err != nil {
		return nil, err
	}
	return f, nil
}

// sensitivity records what in a file makes its permissions matter.
type sensitivity struct {
	secret  string // "a password" or "a client secret"; "" if none
	command bool   // password_command or oauth_client_secret_command
}

func checkPermissions(path string, fi os.FileInfo, s sensitivity) error {
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		// Whoever can write the file can make gsendmail run commands and
		// send mail as this user (like ssh's "Bad owner or permissions").
		return configErr("%s is writable by others (mode %04o): run chmod go-w %s", path, perm, path)
	}
	if s.secret != "" && perm&0o077 != 0 {
		return configErr("%s holds %s and is readable by others: run chmod 600 %s", path, s.secret, path)
	}
	if geteuid() == 0 && (s.secret != "" || s.command) {
		if uid, ok := safeio.Owner(fi); ok && uid != 0 {
			what := s.secret
			if what == "" {
				what = "a command"
			}
			return configErr("%s holds %s but is owned by uid %d, not root, and gsendmail runs as root: run chown root %s", path, what, uid, path)
		}
	}
	return nil
}

// parse decodes and validates data read from path.
func parse(path string, data []byte) (*File, sensitivity, error) {
	var raw rawFile
	md, err := toml.NewDecoder(strings.NewReader(string(data))).Decode(&raw)
	if err != nil {
		return nil, sensitivity{}, decodeError(path, data, err)
	}
	if err := checkKeys(path, md); err != nil {
		return nil, sensitivity{}, err
	}
	f := &File{Path: path, DefaultAccount: raw.DefaultAccount.v, Accounts: map[string]*Account{}}
	for _, k := range md.Keys() {
		if len(k) >= 2 && k[0] == keyAccount && !slices.Contains(f.Order, k[1]) {
			f.Order = append(f.Order, k[1])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(raw.Account)) {
		if !slices.Contains(f.Order, name) {
			f.Order = append(f.Order, name) // not expected: Keys lists every table
		}
	}
	accounts := make(map[string]*rawAccount, len(f.Order))
	for _, name := range f.Order {
		r := raw.Account[name] // an empty table if the decoder left none
		accounts[name] = &r
	}
	var sens sensitivity
	sections := []struct {
		name string
		r    *rawAccount
	}{{"[defaults]", &raw.Defaults}}
	for _, name := range f.Order {
		if err := checkAccountName(name); err != nil {
			return nil, sensitivity{}, configErr("%s: account name %q %v", path, name, err)
		}
		sections = append(sections, struct {
			name string
			r    *rawAccount
		}{fmt.Sprintf("account %q", name), accounts[name]})
	}
	for _, s := range sections {
		if src := s.r.passwordSources(); len(src) > 1 {
			return nil, sensitivity{}, configErr("%s: %s: more than one password source (%s): keep one", path, s.name, strings.Join(src, ", "))
		}
		if s.r.OAuthClientSecret.set && s.r.OAuthClientSecretCommand.set {
			return nil, sensitivity{}, configErr("%s: %s: both oauth_client_secret and oauth_client_secret_command are set: keep one", path, s.name)
		}
		if s.r.Password.set {
			sens.secret = "a password"
		} else if s.r.OAuthClientSecret.set && sens.secret == "" {
			sens.secret = "a client secret"
		}
		if s.r.PasswordCommand.set || s.r.OAuthClientSecretCommand.set {
			sens.command = true
		}
		// `password_command = "echo secret"` is an inline password in
		// disguise: the file needs the same privacy.
		if sens.secret == "" && s.r.PasswordCommand.set && secret.CommandEmbedsLiteral(s.r.PasswordCommand.v) {
			sens.secret = "a password (password_command prints a literal)"
		}
		if sens.secret == "" && s.r.OAuthClientSecretCommand.set && secret.CommandEmbedsLiteral(s.r.OAuthClientSecretCommand.v) {
			sens.secret = "a client secret (oauth_client_secret_command prints a literal)"
		}
	}
	for _, name := range f.Order {
		r := accounts[name]
		inherit(r, &raw.Defaults)
		a, err := resolve(path, name, r)
		if err != nil {
			return nil, sensitivity{}, err
		}
		f.Accounts[name] = a
	}
	if f.DefaultAccount != "" && f.Accounts[f.DefaultAccount] == nil {
		return nil, sensitivity{}, configErr("%s: default_account %q is not an account: %s", path, f.DefaultAccount, f.accountList())
	}
	raw.Serve.sensitivity(&sens)
	if f.Serve, err = resolveServe(path, &raw.Serve, f); err != nil {
		return nil, sensitivity{}, err
	}
	if f.SystemMTA, err = resolveSystem(path, md, &raw.System, f); err != nil {
		return nil, sensitivity{}, err
	}
	return f, sens, nil
}

// accountList says which accounts exist, for error messages.
func (f *File) accountList() string {
	if len(f.Order) == 0 {
		return "the file defines no account: add an [account.NAME] section"
	}
	q := make([]string, len(f.Order))
	for i, n := range f.Order {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "the accounts are " + strings.Join(q, ", ")
}

// checkAccountName keeps names usable as keyring user names, file names
// (token files, queue entries) and command-line arguments.
func checkAccountName(name string) error {
	if name == "" {
		return errors.New("is empty: name the account, e.g. [account.work]")
	}
	if len(name) > 64 {
		return errors.New("is longer than 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@' || c == '+') {
			return fmt.Errorf("contains %q: use letters, digits and - _ . @ +", string(c))
		}
	}
	if name[0] == '.' || name[0] == '-' {
		return errors.New("must start with a letter or digit")
	}
	return nil
}

// decodeError turns a decoder error into "PATH:LINE:COL: message".
func decodeError(path string, data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if strings.HasPrefix(msg, valueMarker) {
			msg = pe.LastKey + ": " + strings.TrimPrefix(msg, valueMarker)
		} else {
			msg = strings.TrimPrefix(msg, "toml: ")
		}
		msg = lowerFirst(oneLine(msg))
		if pe.Position.Line > 0 {
			col := pe.Position.Col
			// The decoder points into a string value, past its quote; point
			// at the value itself.
			if st := pe.Position.Start; col > 1 && st > 0 && st <= len(data) && (data[st-1] == '"' || data[st-1] == '\'') {
				col--
			}
			if col < 1 {
				col = 1
			}
			return configErr("%s:%d:%d: %s", path, pe.Position.Line, col, msg)
		}
		return configErr("%s: %s", path, msg)
	}
	// Structural mismatches ("account.work = 5", "[defaults]" as a value)
	// come as plain errors: "toml: line N (last key "K"): type mismatch
	// for Go type: expected table but found T".
	msg := oneLine(strings.ReplaceAll(err.Error(), valueMarker, ""))
	if m := plainErrRE.Get().FindStringSubmatch(msg); m != nil {
		what := "has the wrong type"
		if strings.Contains(m[3], "expected table") {
			what = "must be a table (a [section])"
		}
		return configErr("%s:%s: %s %s", path, m[1], m[2], what)
	}
	return configErr("%s: %s", path, strings.TrimPrefix(msg, "toml: "))
}

var plainErrRE = &lazyre.Regexp{Expr: `^toml: line (\d+) \(last key "(.*)"\): (.*)$`}

// lowerFirst keeps the decoder's messages in our style ("key 'x' has
// already been defined").
func lowerFirst(s string) string {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

// oneLine keeps error messages on one line whatever the input held
// (redact.OneLine).
func oneLine(s string) string { return redact.OneLine(s) }

// checkKeys refuses any key outside the schema, with a suggestion. The
// decoder matches struct fields case-insensitively, so names are checked
// here exactly, from the file's own list of keys.
func checkKeys(path string, md toml.MetaData) error {
	for _, top := range []string{keyAccount, keyDefaults, keyServe, keySystem} {
		if t := md.Type(top); t != "" && t != "Hash" {
			return configErr("%s: %s must be a table: write [%s] sections", path, top, map[string]string{keyAccount: "account.NAME", keyDefaults: "defaults", keyServe: "serve", keySystem: "system"}[top])
		}
	}
	var unknown []string
	var first string
	report := func(key, hint string) {
		if slices.Contains(unknown, key) || underUnknown(key, unknown) {
			return
		}
		if first == "" {
			first = fmt.Sprintf("%s: unknown key %q%s", path, key, hint)
		}
		unknown = append(unknown, key)
	}
	for _, k := range md.Keys() {
		if key, hint, bad := unknownKey(k); bad {
			report(key, hint)
		}
	}
	for _, k := range md.Undecoded() {
		report(k.String(), "")
	}
	if first == "" {
		return nil
	}
	if len(unknown) > 1 {
		first += fmt.Sprintf(" (and %d more unknown keys)", len(unknown)-1)
	}
	return configErr("%s", oneLine(first))
}

func underUnknown(k string, unknown []string) bool {
	for _, u := range unknown {
		if strings.HasPrefix(k, u+".") {
			return true
		}
	}
	return false
}

// unknownKey reports whether k is outside the schema and, if so, which key
// to name (the outermost unknown part) and a hint.
func unknownKey(k toml.Key) (key, hint string, bad bool) {
	suggest := func(s string, candidates []string) string {
		if c := closest(strings.ToLower(s), candidates); c != "" {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
		return ""
	}
	switch k[0] {
	case keyDefaultAccount, keyDefaults, keyAccount:
	case keySystem:
		return systemUnknownKey(k)
	case keyServe:
		return unknownServeKey(k)
	default:
		if len(k) == 1 && slices.Contains(accountKeys, k[0]) {
			return k[:1].String(), " (account settings belong in [defaults] or [account.NAME])", true
		}
		return k[:1].String(), suggest(k[0], []string{keyDefaultAccount, keyDefaults, keyAccount, keyServe, keySystem}), true
	}
	switch {
	case len(k) == 1:
		return "", "", false
	case k[0] == keyDefaults:
		if !slices.Contains(accountKeys, k[1]) {
			return k[:2].String(), suggest(k[1], accountKeys), true
		}
		if len(k) > 2 {
			return k[:3].String(), "", true
		}
	case k[0] == keyAccount:
		if len(k) == 2 {
			return "", "", false // an account name; checked separately
		}
		if !slices.Contains(accountKeys, k[2]) {
			return k[:3].String(), suggest(k[2], accountKeys), true
		}
		if len(k) > 3 {
			return k[:4].String(), "", true
		}
	case k[0] == keyDefaultAccount:
		return k.String(), "", true
	}
	return "", "", false
}

// resolve validates one merged account: fill copies the keys and the
// built-in defaults (accountSchema); here are the defaults that depend on
// other keys and the rules that span keys.
func resolve(path, name string, r *rawAccount) (*Account, error) {
	where := fmt.Sprintf("%s: account %q", path, name)
	a := &Account{Name: name, Source: path}
	accountSchema.fill(a, r)
	if a.Port == 0 {
		a.Port = a.TLS.DefaultPort()
	}
	if a.OAuthProvider == ProviderMicrosoft && a.OAuthTenant == "" {
		a.OAuthTenant = DefaultTenant
	}
	if a.Deadline < a.Timeout {
		return nil, configErr("%s: deadline (%v) is shorter than timeout (%v): raise deadline or lower timeout", where, a.Deadline, a.Timeout)
	}
	if err := accountSchema.expandPaths(a, filepath.Dir(path)); err != nil {
		return nil, configErr("%s: %v", where, err)
	}

	if a.Host == "" {
		return nil, configErr("%s: host is not set: add host = \"smtp.example.org\" to the account or to [defaults]", where)
	}
	method := a.AuthMethod()
	switch method {
	case AuthOAuth2, AuthXOAUTH2, AuthOAUTHBEARER:
		if a.OAuthProvider == "" {
			return nil, configErr("%s: auth %q needs oauth_provider: set it to \"google\", \"microsoft\" or \"generic\"", where, method)
		}
		if a.OAuthClientID == "" {
			return nil, configErr("%s: auth %q needs oauth_client_id: register an application with the provider and set its client ID", where, method)
		}
		if a.OAuthProvider == ProviderGeneric && a.OAuthTokenURL == "" {
			return nil, configErr("%s: oauth_provider \"generic\" needs oauth_token_url: set the provider's token endpoint", where)
		}
	case AuthPlain, AuthLogin:
		if !a.HasPasswordSource() {
			return nil, configErr("%s: auth %q needs a password: set password_command, password_file or password_keyring = true", where, method)
		}
	}
	if method != AuthNone && a.User == "" {
		return nil, configErr("%s: user is not set: add user = \"you@example.org\" (the login name at %s)", where, a.Host)
	}
	if method != AuthNone && a.TLS == smtp.None && !a.CleartextAuthAllowed() {
		return nil, configErr("%s: tls = \"none\" would send credentials unencrypted: use tls = \"starttls\" or \"tls\" (allow_cleartext_auth = true is honoured only for a loopback host)", where)
	}
	return a, nil
}

// expandPath expands a leading "~" to the home directory and makes a
// relative path relative to the configuration file's directory.
func expandPath(p, base string) (string, error) {
	if p == "" {
		return "", nil
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := homeDir()
		if err != nil || home == "" {
			return "", fmt.Errorf("cannot expand %q: the home directory is unknown ($HOME unset): write an absolute path", p)
		}
		return filepath.Join(home, p[1:]), nil
	}
	if strings.HasPrefix(p, "~") {
		return "", fmt.Errorf("%q: only ~/ (your own home) is expanded: write an absolute path", p)
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(base, p), nil
	}
	return filepath.Clean(p), nil
}
