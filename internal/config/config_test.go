package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// load parses a config given as text, as Load does after reading it.
func load(t *testing.T, text string) (*File, error) {
	t.Helper()
	f, _, err := parse("/home/u/.config/gsendmail/config.toml", []byte(text))
	if err != nil && sysexits.Code(err) != sysexits.Config {
		t.Errorf("error %q has exit code %d, want %d", err, sysexits.Code(err), sysexits.Config)
	}
	return f, err
}

func mustLoad(t *testing.T, text string) *File {
	t.Helper()
	f, err := load(t, text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

func TestDefaultsAreInheritedUnlessTheAccountSetsTheKey(t *testing.T) {
	f := mustLoad(t, `
[defaults]
host = "smtp.example.org"
tls = "tls"
timeout = "30s"
add_date_header = false
user = "shared@example.org"
password_command = "pass show mail"

[account.work]
user = "me@work.example"
add_date_header = true

[account.home]
host = "mail.home.example"
tls = "starttls"
password_file = "~/.secrets/home"
`)
	w, h := f.Accounts["work"], f.Accounts["home"]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"work host", w.Host, "smtp.example.org"},
		{"work tls", w.TLS, smtp.Implicit},
		{"work port follows tls", w.Port, 465},
		{"work timeout", w.Timeout, 30 * time.Second},
		{"work user overrides", w.User, "me@work.example"},
		{"work add_date_header true overrides false", w.AddDateHeader, true},
		{"work password_command inherited", w.PasswordCommand, "pass show mail"},
		{"home host overrides", h.Host, "mail.home.example"},
		{"home port follows its own tls", h.Port, 587},
		{"home add_date_header inherits false", h.AddDateHeader, false},
		{"home password_file expanded", h.PasswordFile, filepath.Join(mustHome(t), ".secrets/home")},
		{"home does not also inherit password_command", h.PasswordCommand, ""},
		{"home deadline default", h.Deadline, 10 * time.Minute},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if !slices.Equal(f.Order, []string{"work", "home"}) {
		t.Errorf("Order = %v, want file order [work home]", f.Order)
	}
}

func mustHome(t *testing.T) string {
	h, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	return h
}

func TestBuiltInDefaults(t *testing.T) {
	a := mustLoad(t, "[account.a]\nhost = \"smtp.example.org\"\n").Accounts["a"]
	want := Account{
		Name: "a", Source: "/home/u/.config/gsendmail/config.toml", Host: "smtp.example.org",
		Port: 587, TLS: smtp.StartTLS, TLSVerify: true, Auth: AuthAuto,
		AllowFromOverride: true, AddFromHeader: true, AddDateHeader: true, AddMessageIDHeader: true,
		Timeout: 60 * time.Second, Deadline: 10 * time.Minute, QueueMaxAge: 120 * time.Hour,
		TokenStore: TokenStoreAuto, OAuthScopes: a.OAuthScopes,
	}
	if !reflect.DeepEqual(*a, want) {
		t.Errorf("account = %#v\nwant       %#v", fmt.Sprintf("%+v", *a), fmt.Sprintf("%+v", want))
	}
	if a.AuthMethod() != AuthNone {
		t.Errorf("AuthMethod = %q, want %q", a.AuthMethod(), AuthNone)
	}
}

func TestPortDefaultsByTLSMode(t *testing.T) {
	for tls, port := range map[string]int{"starttls": 587, "tls": 465, "none": 25} {
		a := mustLoad(t, fmt.Sprintf("[account.a]\nhost = \"smtp.example.org\"\ntls = %q\n", tls)).Accounts["a"]
		if a.Port != port {
			t.Errorf("tls = %q: port %d, want %d", tls, a.Port, port)
		}
	}
}

func TestValuesAreNormalised(t *testing.T) {
	f := mustLoad(t, `
[account.a]
host = "smtp.example.org"
tls_fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
syslog = true
auth = "PLAIN"
user = "u"
password_keyring = true
oauth_provider = "Microsoft"
oauth_client_id = "id"
[account.b]
host = "smtp.example.org"
syslog = "local3"
[account.c]
host = "smtp.example.org"
syslog = false
`)
	a := f.Accounts["a"]
	if a.TLSFingerprint != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" {
		t.Errorf("fingerprint = %q", a.TLSFingerprint)
	}
	if a.Syslog != "LOG_MAIL" || f.Accounts["b"].Syslog != "LOG_LOCAL3" || f.Accounts["c"].Syslog != "" {
		t.Errorf("syslog = %q, %q, %q; want LOG_MAIL, LOG_LOCAL3, \"\"", a.Syslog, f.Accounts["b"].Syslog, f.Accounts["c"].Syslog)
	}
	if a.Auth != AuthPlain || a.OAuthProvider != ProviderMicrosoft || a.OAuthTenant != "common" {
		t.Errorf("auth %q provider %q tenant %q; want plain, microsoft, common", a.Auth, a.OAuthProvider, a.OAuthTenant)
	}
}

func TestRelativePathsAreTakenFromTheConfigDirectory(t *testing.T) {
	a := mustLoad(t, "[account.a]\nhost = \"h.example\"\nlogfile = \"gsendmail.log\"\nqueue_dir = \"/var/spool/../spool/gs\"\n").Accounts["a"]
	if a.Logfile != "/home/u/.config/gsendmail/gsendmail.log" || a.QueueDir != "/var/spool/gs" {
		t.Errorf("logfile %q queue_dir %q", a.Logfile, a.QueueDir)
	}
	if _, err := load(t, "[account.a]\nhost = \"h.example\"\nlogfile = \"~bob/x\"\n"); err == nil || !strings.Contains(err.Error(), "only ~/") {
		t.Errorf("~user path: err = %v, want a refusal", err)
	}
}

func TestUnknownKeysAreErrorsNamingFileKeyAndSuggestion(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[account.work]\nhost = \"h.example\"\nhots = \"x\"\n",
			`/home/u/.config/gsendmail/config.toml: unknown key "account.work.hots" (did you mean "host"?)`},
		{"[defaults]\npasword = \"x\"\n", `unknown key "defaults.pasword" (did you mean "password"?)`},
		{"[account.work]\nHost = \"h.example\"\n", `unknown key "account.work.Host" (did you mean "host"?)`},
		{"[account.work]\nhost = \"h.example\"\nclient_id = \"x\"\n", `unknown key "account.work.client_id" (did you mean "oauth_client_id"?)`},
		{"[acount.work]\nhost = \"h.example\"\n", `unknown key "acount" (did you mean "account"?)`},
		{"[default]\nhost = \"h.example\"\n", `unknown key "default" (did you mean "defaults"?)`},
		{"host = \"h.example\"\n", `unknown key "host" (account settings belong in [defaults] or [account.NAME])`},
		{"[account.work]\nhost = \"h.example\"\nzzzzzzzz = 1\n", `unknown key "account.work.zzzzzzzz"`},
		{"[account.work]\nhost = \"h.example\"\n[account.work.sub]\nx = 1\n", `unknown key "account.work.sub"`},
		{"[account.work]\nhost = \"h.example\"\nhots = 1\nprot = 2\n", `(and 1 more unknown keys)`},
	} {
		_, err := load(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s", tc.text, err, tc.want)
		}
	}
}

func TestSyntaxAndTypeErrorsShowLineAndColumn(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[account.work]\nhost = \"h.example\nport = 587\n", "config.toml:2:"},
		{"[account.work]\nhost = \"h.example\"\nport = \"587\"\n", "config.toml:3:8: account.work.port: must be a port number without quotes"},
		{"[account.work]\nhost = \"h.example\"\nport = 587\nport = 588\n", "config.toml:4:"},
		{"[account.work]\nhost = \"h.example\"\ntls_verify = \"yes\"\n", "config.toml:3:14: account.work.tls_verify: must be true or false"},
		{"[account.work]\nhost = 5\n", "config.toml:2:8: account.work.host: must be a string in quotes, not a number"},
		{"account.work = 5\n", "config.toml:1: account.work must be a table"},
		{"account = 5\n", "account must be a table"},
		{"[[account]]\nhost = \"h\"\n", "account must be a table"},
		{"defaults = \"x\"\n", "defaults must be a table"},
		{"[account.work]\nhost = \"h.example\"\ntimeout = 60\n", "config.toml:3:11: account.work.timeout: must be a duration in quotes"},
	} {
		_, err := load(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s", tc.text, err, tc.want)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	const base = "[account.work]\nhost = \"smtp.example.org\"\n"
	for _, tc := range []struct {
		test, text, want string
	}{
		{"bad tls", base + `tls = "startls"`, `account.work.tls: "startls" is not valid: use "starttls", "tls" or "none" (did you mean "starttls"?)`},
		{"port zero", base + `port = 0`, "account.work.port: 0 is out of range"},
		{"port too big", base + `port = 65536`, "account.work.port: 65536 is out of range"},
		{"bad duration", base + `deadline = "10 minutes"`, `account.work.deadline: "10 minutes" is not a duration`},
		{"negative duration", base + `queue_max_age = "-1h"`, `account.work.queue_max_age: "-1h" must be positive`},
		{"deadline below timeout", base + "timeout = \"5m\"\ndeadline = \"1m\"", `account "work": deadline (1m0s) is shorter than timeout (5m0s)`},
		{"short fingerprint", base + `tls_fingerprint = "abcd"`, "account.work.tls_fingerprint: must be the SHA-256 fingerprint: 64 hex digits"},
		{"non-hex fingerprint", base + `tls_fingerprint = "` + strings.Repeat("g", 64) + `"`, "non-hex"},
		{"bare ehlo name", base + `ehlo_name = "yoga"`, `account.work.ehlo_name: is not a valid EHLO name: "yoga" is not fully qualified`},
		{"localhost ehlo name", base + `ehlo_name = "localhost"`, "account.work.ehlo_name: is not a valid EHLO name"},
		{"host missing", "[account.work]\nport = 587", `config.toml: account "work": host is not set`},
		{"host with port", `[account.work]` + "\n" + `host = "smtp.example.org:587"`, `write host = "smtp.example.org" and port = 587`},
		{"host as URL", `[account.work]` + "\n" + `host = "smtps://smtp.example.org"`, "is a URL"},
		{"oauth without client id", base + "auth = \"oauth2\"\nuser = \"u\"\noauth_provider = \"google\"", `account "work": auth "oauth2" needs oauth_client_id`},
		{"oauth without provider", base + "auth = \"xoauth2\"\nuser = \"u\"\noauth_client_id = \"id\"", `account "work": auth "xoauth2" needs oauth_provider`},
		{"auto oauth without provider", base + "user = \"u\"\noauth_client_id = \"id\"", `auth "oauth2" needs oauth_provider`},
		{"generic without token url", base + "user = \"u\"\noauth_provider = \"generic\"\noauth_client_id = \"id\"", `oauth_provider "generic" needs oauth_token_url`},
		{"token url over http", base + `oauth_token_url = "http://auth.example.org/token"`, "use https"},
		{"unknown provider", base + `oauth_provider = "yahoo"`, `account.work.oauth_provider: "yahoo" is not valid`},
		{"unknown token store", base + `token_store = "keychain"`, `account.work.token_store: "keychain" is not valid`},
		{"unknown auth", base + `auth = "cram-md5"`, `account.work.auth: "cram-md5" is not valid`},
		{"two password sources", base + "user = \"u\"\npassword_command = \"a\"\npassword_file = \"/b\"", `account "work": more than one password source (password_command, password_file): keep one`},
		{"two password sources in defaults", "[defaults]\npassword_keyring = true\npassword = \"x\"\n" + base, `[defaults]: more than one password source (password, password_keyring)`},
		{"two client secret sources", base + "oauth_client_secret = \"a\"\noauth_client_secret_command = \"b\"", "both oauth_client_secret and oauth_client_secret_command"},
		{"plain without password", base + "auth = \"plain\"\nuser = \"u\"", `auth "plain" needs a password`},
		{"password without user", base + `password_command = "pass x"`, `account "work": user is not set`},
		{"cleartext credentials", base + "tls = \"none\"\nuser = \"u\"\npassword_command = \"x\"", `tls = "none" would send credentials unencrypted`},
		{"cleartext allowed only for loopback", base + "tls = \"none\"\nallow_cleartext_auth = true\nuser = \"u\"\npassword_command = \"x\"", `tls = "none" would send credentials unencrypted`},
		{"default_account missing", "default_account = \"wrok\"\n" + base, `default_account "wrok" is not an account: the accounts are "work"`},
		{"bad syslog", base + `syslog = "LOG_KERN"`, `account.work.syslog: "LOG_KERN" is not a syslog facility`},
		{"from without domain", base + `from = "me"`, `account.work.from: "me" is not an address`},
		{"from with display name", base + `from = "Me <me@example.org>"`, "must be a bare address or pattern"},
		{"bad msgid_domain", base + `msgid_domain = "localhost"`, "account.work.msgid_domain: is not a valid domain"},
		{"bad account name", "[account.\"my/work\"]\nhost = \"h.example\"", `account name "my/work" contains "/"`},
		{"scope with space", base + `oauth_scopes = ["a b"]`, "account.work.oauth_scopes"},
		{"empty user", base + `user = ""`, "account.work.user: is empty"},
		{"bad failure_notice_to", base + `failure_notice_to = "a@"`, "account.work.failure_notice_to"},
	} {
		_, err := load(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got  %v\n want %s", tc.test, err, tc.want)
		}
	}
}

func TestLineBreaksAndNULInValuesAreRefusedWithoutQuotingThem(t *testing.T) {
	for _, value := range []string{`"a\r\nRCPT TO:<x@evil>"`, `"a\nb"`, `"a\u0000b"`, "'''a\nb'''", `"a\rb"`} {
		for _, key := range []string{"host", "user", "password", "from", "ehlo_name", "oauth_client_secret", "default_account"} {
			section := "[account.work]\n"
			if key == "default_account" {
				section = ""
			}
			text := section + key + " = " + value + "\n"
			_, err := load(t, text)
			if err == nil {
				t.Errorf("%s = %s accepted", key, value)
				continue
			}
			if !strings.Contains(err.Error(), "line break or NUL") {
				t.Errorf("%s = %s: err = %v, want the injection refusal", key, value, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00") || strings.Contains(err.Error(), "evil") {
				t.Errorf("%s = %s: error quotes the value or is not one line: %q", key, value, err)
			}
		}
	}
}

func TestErrorsNeverQuotePasswords(t *testing.T) {
	for _, text := range []string{
		"[account.work]\npassword = \"hunter2\"\n",                      // host missing
		"[account.work]\nhost = \"h.example\"\npasword = \"hunter2\"\n", // typo in key
		"[account.work]\nhost = \"h.example\"\npassword = \"hunter2\"\npassword_file = \"/x\"\n",
		"[account.work]\nhost = \"h.example\"\noauth_client_secret = \"hunter2\"\n[account.work]\n",
	} {
		_, err := load(t, text)
		if err == nil {
			t.Errorf("%q accepted", text)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes the secret: %q", err)
		}
	}
}

func TestKeysListsTheSchema(t *testing.T) {
	keys := Keys()
	for _, want := range []string{"default_account", "host", "port", "tls", "password_command", "syslog", "oauth_scopes", "token_file", "queue_max_age"} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("Keys() lists %q twice", k)
		}
		seen[k] = true
		if k == "default_account" {
			continue
		}
		if slices.Contains(systemKeys, k) {
			if _, _, bad := unknownKey(toml.Key{"system", k}); bad {
				t.Errorf("key %q from Keys() is refused under [system]", k)
			}
			continue
		}
		// Every listed key is accepted in both kinds of section.
		for _, prefix := range [][]string{{"defaults"}, {"account", "a"}} {
			if _, _, bad := unknownKey(append(slices.Clone(prefix), k)); bad {
				t.Errorf("key %q from Keys() is refused under %v", k, prefix)
			}
		}
	}
}

func TestAuthMethodResolvesAuto(t *testing.T) {
	for _, tc := range []struct {
		a    Account
		want string
	}{
		{Account{Auth: AuthAuto}, AuthNone},
		{Account{Auth: AuthAuto, PasswordCommand: "x"}, AuthPassword},
		{Account{Auth: AuthAuto, PasswordKeyring: true}, AuthPassword},
		{Account{Auth: AuthAuto, OAuthProvider: "google", PasswordFile: "/x"}, AuthOAuth2},
		{Account{Auth: "", OAuthClientID: "id"}, AuthOAuth2},
		{Account{Auth: AuthLogin, OAuthClientID: "id"}, AuthLogin},
		{Account{Auth: AuthNone, Password: "x"}, AuthNone},
	} {
		if got := tc.a.AuthMethod(); got != tc.want {
			t.Errorf("%+v: AuthMethod = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestAccountHelpers(t *testing.T) {
	for _, tc := range []struct {
		host     string
		loopback bool
	}{
		{"localhost", true}, {"LOCALHOST.", true}, {"127.0.0.1", true}, {"127.8.9.10", true},
		{"::1", true}, {"smtp.example.org", false}, {"128.0.0.1", false}, {"::2", false}, {"localhost.example.org", false},
	} {
		a := &Account{Host: tc.host}
		if a.IsLoopbackHost() != tc.loopback {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.host, !tc.loopback, tc.loopback)
		}
		a.TLS, a.AllowCleartextAuth = smtp.None, true
		if a.CleartextAuthAllowed() != tc.loopback {
			t.Errorf("CleartextAuthAllowed for %q = %v, want %v", tc.host, !tc.loopback, tc.loopback)
		}
		a.TLS = smtp.StartTLS
		if a.CleartextAuthAllowed() {
			t.Errorf("CleartextAuthAllowed with STARTTLS for %q", tc.host)
		}
	}
	for from, want := range map[string]bool{"me@example.org": true, "*@example.org": false, "m?@example.org": false, "": false} {
		got, ok := (&Account{From: from}).FromAddress()
		if ok != want || (ok && got != from) {
			t.Errorf("FromAddress(%q) = %q, %v; want literal=%v", from, got, ok, want)
		}
	}
}

func TestAccountPrintingHidesSecrets(t *testing.T) {
	a := &Account{Name: "w", Host: "h.example", Password: "hunter2", OAuthClientSecret: "s3cret"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
			t.Errorf("printing an account reveals a secret: %s", s)
		}
	}
	ps := a.PasswordSource()
	if ps.Account != "w" || ps.Inline != "hunter2" {
		t.Errorf("PasswordSource = %+v", ps)
	}
}

// Files on disk: Find and Load.

func writeConfig(t *testing.T, dir, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFindSearchOrder(t *testing.T) {
	root := t.TempDir()
	oldSystem := SystemPath
	t.Cleanup(func() { SystemPath = oldSystem })
	SystemPath = filepath.Join(root, "etc", "gsendmail.toml")

	explicit := filepath.Join(root, "explicit.toml")
	fromEnv := filepath.Join(root, "env.toml")
	xdg := filepath.Join(root, "xdg")
	home := filepath.Join(root, "home")
	for _, p := range []string{explicit, fromEnv, filepath.Join(xdg, "gsendmail", "config.toml"), filepath.Join(home, ".config", "gsendmail", "config.toml"), SystemPath} {
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, nil, 0o600)
	}
	for _, tc := range []struct {
		test       string
		explicit   string
		env        map[string]string
		want       string
		wantSystem bool
	}{
		{"-C wins", explicit, map[string]string{"GSENDMAIL_CONFIG": fromEnv, "XDG_CONFIG_HOME": xdg, "HOME": home}, explicit, false},
		{"$GSENDMAIL_CONFIG next", "", map[string]string{"GSENDMAIL_CONFIG": fromEnv, "XDG_CONFIG_HOME": xdg, "HOME": home}, fromEnv, false},
		{"$XDG_CONFIG_HOME next", "", map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": home}, filepath.Join(xdg, "gsendmail", "config.toml"), false},
		{"~/.config without XDG_CONFIG_HOME", "", map[string]string{"HOME": home}, filepath.Join(home, ".config", "gsendmail", "config.toml"), false},
		{"relative XDG_CONFIG_HOME is ignored", "", map[string]string{"XDG_CONFIG_HOME": "xdg", "HOME": home}, filepath.Join(home, ".config", "gsendmail", "config.toml"), false},
		{"system file last", "", map[string]string{"HOME": filepath.Join(root, "nohome")}, SystemPath, true},
		{"-C naming the system file", SystemPath, nil, SystemPath, true},
	} {
		got, system, err := Find(tc.explicit, env(tc.env))
		if err != nil || got != tc.want || system != tc.wantSystem {
			t.Errorf("%s: Find = %q, %v, %v; want %q, %v", tc.test, got, system, err, tc.want, tc.wantSystem)
		}
	}
}

func TestFindErrors(t *testing.T) {
	root := t.TempDir()
	oldSystem := SystemPath
	t.Cleanup(func() { SystemPath = oldSystem })
	SystemPath = filepath.Join(root, "none.toml")
	missing := filepath.Join(root, "missing.toml")
	for _, tc := range []struct {
		explicit string
		env      map[string]string
		want     string
	}{
		{missing, nil, "configuration file " + missing + " (from -C) does not exist"},
		{"", map[string]string{"GSENDMAIL_CONFIG": missing}, missing + " (from $GSENDMAIL_CONFIG) does not exist"},
		{"", map[string]string{"HOME": root}, `no configuration file: create ~/.config/gsendmail/config.toml (see gsendmail.toml(5)) or run "gsendmail setup"`},
	} {
		_, _, err := Find(tc.explicit, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || sysexits.Code(err) != sysexits.Config {
			t.Errorf("Find(%q, %v) = %v, want code 78 and %q", tc.explicit, tc.env, err, tc.want)
		}
	}
}

const withPassword = "[account.a]\nhost = \"h.example\"\nuser = \"u\"\npassword = \"hunter2\"\n"
const withClientSecret = "[account.a]\nhost = \"h.example\"\nuser = \"u\"\noauth_provider = \"google\"\noauth_client_id = \"id\"\noauth_client_secret = \"s3cret\"\n"
const withCommand = "[account.a]\nhost = \"h.example\"\nuser = \"u\"\npassword_command = \"pass mail\"\n"
const plain = "[account.a]\nhost = \"h.example\"\n"

func TestLoadPermissions(t *testing.T) {
	for _, tc := range []struct {
		test string
		text string
		mode os.FileMode
		want string // "" for success
	}{
		{"password in a private file", withPassword, 0o600, ""},
		{"password readable by others", withPassword, 0o644, "holds a password and is readable by others: run chmod 600 "},
		{"password readable by group", withPassword, 0o640, "holds a password and is readable by others"},
		{"client secret readable by others", withClientSecret, 0o644, "holds a client secret and is readable by others"},
		{"no secret, readable", plain, 0o644, ""},
		{"command, readable", withCommand, 0o644, ""},
		{"command printing a literal, readable", strings.Replace(withCommand, "pass mail", "echo hunter2", 1), 0o644, "holds a password (password_command prints a literal) and is readable by others: run chmod 600 "},
		{"command printing a literal, private", strings.Replace(withCommand, "pass mail", "echo hunter2", 1), 0o600, ""},
		{"client secret command printing a literal, readable", strings.Replace(withClientSecret, `oauth_client_secret = "s3cret"`, `oauth_client_secret_command = "printf %s s3cret"`, 1), 0o644, "holds a client secret (oauth_client_secret_command prints a literal)"},
		{"command reading a variable, readable", strings.Replace(withCommand, "pass mail", "echo $PW", 1), 0o644, ""},
		{"writable by group", plain, 0o664, "is writable by others (mode 0664): run chmod go-w "},
		{"writable by others", withCommand, 0o646, "is writable by others"},
	} {
		path := writeConfig(t, t.TempDir(), tc.text, tc.mode)
		f, err := Load(path, false)
		if tc.want == "" {
			if err != nil || f.Accounts["a"] == nil {
				t.Errorf("%s: Load = %v", tc.test, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), path+" "+tc.want) {
			t.Errorf("%s: Load = %v, want %q", tc.test, err, tc.want)
			continue
		}
		if sysexits.Code(err) != sysexits.Config {
			t.Errorf("%s: exit code %d", tc.test, sysexits.Code(err))
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error reveals the secret: %q", tc.test, err)
		}
	}
}

// ownedBy reports a chosen owner for a real file.
type ownedBy struct {
	os.FileInfo
	uid uint32
}

func (o ownedBy) Sys() any { return &syscall.Stat_t{Uid: o.uid} }

func TestLoadAsRootRefusesSecretOrCommandFilesNotOwnedByRoot(t *testing.T) {
	oldEUID, oldStat := geteuid, statFile
	t.Cleanup(func() { geteuid, statFile = oldEUID, oldStat })
	for _, tc := range []struct {
		test        string
		text        string
		euid, owner int
		want        string
	}{
		{"root, own file with password", withPassword, 0, 0, ""},
		{"root, user's file with password", withPassword, 0, 1000, "holds a password but is owned by uid 1000, not root, and gsendmail runs as root: run chown root "},
		{"root, user's file with password_command", withCommand, 0, 1000, "holds a command but is owned by uid 1000"},
		{"root, user's file without secrets", plain, 0, 1000, ""},
		{"user, own file with password", withPassword, 1000, 1000, ""},
	} {
		geteuid = func() int { return tc.euid }
		statFile = func(f *os.File) (os.FileInfo, error) {
			fi, err := f.Stat()
			return ownedBy{fi, uint32(tc.owner)}, err
		}
		path := writeConfig(t, t.TempDir(), tc.text, 0o600)
		_, err := Load(path, false)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: Load = %v", tc.test, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || sysexits.Code(err) != sysexits.Config {
			t.Errorf("%s: Load = %v, want code 78 and %q", tc.test, err, tc.want)
		}
	}
}

func TestLoadMissingOrDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing.toml"), dir} {
		_, err := Load(path, false)
		if err == nil || sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%q) = %v, want a config error naming it", path, err)
		}
	}
}

func TestLoadSetsPathAndSystem(t *testing.T) {
	path := writeConfig(t, t.TempDir(), plain, 0o644)
	f, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || !f.System || f.Accounts["a"].Source != path {
		t.Errorf("Path %q System %v Source %q", f.Path, f.System, f.Accounts["a"].Source)
	}
}

func TestAllErrorsAreConfigErrors(t *testing.T) {
	_, err := load(t, "[[[")
	var c sysexits.Coder
	if !errors.As(err, &c) || c.ExitCode() != sysexits.Config {
		t.Errorf("err = %v, want ExitCode 78", err)
	}
}
