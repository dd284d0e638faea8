package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/resolve.golden from the current code")

// resolveCases are representative files: every key, the inheritance rules,
// the built-in and derived defaults, and one file per error the parser
// reports. testdata/resolve.golden holds what each resolves to (every field
// of every account, [serve], [system], what makes the file sensitive) or the
// exact error; it was written by the code before the schema table, so the
// file format and its messages stay the same for users. The [system] cases
// were written by the code that still copied [system] by hand.
var resolveCases = []struct{ name, text string }{
	{"minimal", `[account.a]
host = "smtp.example.org"
`},
	{"every-account-key-in-an-account", `[account.full]
host = "smtp.example.org"
port = 2525
tls = "tls"
tls_trust_file = "certs/ca.pem"
tls_fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
tls_verify = false
ehlo_name = "client.example.org"
auth = "XOAUTH2"
user = "me@example.org"
password_keyring = false
allow_cleartext_auth = true
from = "*@example.org"
allow_from_override = false
add_from_header = false
add_date_header = false
add_message_id_header = false
msgid_domain = "mid.example.org"
timeout = "30s"
deadline = "5m"
logfile = "~/log/gsendmail.log"
syslog = "local3"
aliases = "/etc/aliases"
local_domain = "example.org"
queue = true
queue_dir = "queue"
queue_max_age = "48h"
failure_notice_to = "root"
oauth_provider = "Microsoft"
oauth_tenant = "contoso"
oauth_client_id = "cid"
oauth_client_secret_command = "pass show cs"
oauth_auth_url = "https://login.example.org/auth"
oauth_token_url = "https://login.example.org/token"
oauth_device_url = "https://login.example.org/device"
oauth_redirect_uri = "http://127.0.0.1:8765/"
oauth_scopes = ["openid", "offline_access"]
token_store = "FILE"
token_file = "/var/lib/gs/token"
`},
	{"every-account-key-in-defaults", `default_account = "b"
[defaults]
host = "smtp.example.org"
port = 2525
tls = "none"
tls_trust_file = "/etc/ssl/ca.pem"
tls_verify = true
ehlo_name = "client.example.org"
auth = "none"
user = "shared@example.org"
password = "inline-secret"
allow_cleartext_auth = false
from = "shared@example.org"
allow_from_override = true
add_from_header = true
add_date_header = false
add_message_id_header = true
msgid_domain = "mid.example.org"
timeout = "2m"
deadline = "20m"
logfile = "/var/log/gs.log"
syslog = true
aliases = "aliases"
local_domain = "example.org"
queue = false
queue_dir = "/var/spool/gs"
queue_max_age = "1h"
failure_notice_to = "admin@example.org"
oauth_provider = "google"
oauth_client_id = "gid"
oauth_client_secret = "gsecret"
oauth_scopes = ["https://mail.google.com/"]
token_store = "keyring"
token_file = "~/tok"
[account.a]
[account.b]
host = "other.example.org"
auth = "auto"
tls = "starttls"
syslog = false
`},
	{"password-sources-inherit-as-a-group", `[defaults]
host = "smtp.example.org"
user = "u@example.org"
password_command = "pass show mail"
oauth_client_secret_command = "pass show cs"
[account.cmd]
[account.file]
password_file = "~/.pw"
[account.keyring]
password_keyring = true
[account.secret]
oauth_provider = "google"
oauth_client_id = "x"
oauth_client_secret = "inline"
`},
	{"keyring-false-names-no-password-source", `[defaults]
host = "smtp.example.org"
user = "u@example.org"
password_command = "pass show mail"
oauth_client_secret = "s"
[account.a]
password_keyring = false
oauth_client_secret_command = "pass show cs"
[account.b]
password_keyring = false
password_file = "/pw"
`},
	{"ports-follow-tls", `[account.st]
host = "a.example"
tls = "starttls"
[account.im]
host = "b.example"
tls = "tls"
[account.no]
host = "localhost"
tls = "none"
[account.loop]
host = "127.0.0.1"
tls = "none"
user = "u"
password = "p"
allow_cleartext_auth = true
`},
	{"microsoft-tenant-default", `[account.m]
host = "smtp.office365.com"
user = "u@example.org"
oauth_provider = "microsoft"
oauth_client_id = "cid"
[account.g]
host = "smtp.gmail.com"
user = "u@example.org"
oauth_provider = "generic"
oauth_client_id = "cid"
oauth_token_url = "http://localhost:9/token"
`},
	{"embedded-literal-command", `[account.a]
host = "h.example"
user = "u"
password_command = "echo hunter2"
`},
	{"serve-and-system", `default_account = "a"
[account.a]
host = "h.example"
[serve]
listen = ["127.0.0.1:2525", "/run/gs.sock"]
require_auth = true
tls_cert_file = "cert.pem"
tls_key_file = "~/key.pem"
max_sessions = 8
max_recipients = 100
max_message_size = 1048576
command_timeout = "1m"
data_timeout = "5m"
upstream_idle = "30s"
upstream_sessions = 2
shutdown_timeout = "10s"
[serve.user.app]
account = "a"
password_file = "app.pw"
[serve.user.cron]
account = "a"
password = "x"
[system]
daemon_user = "mail"
submit_socket = "/run/x.sock"
account = "a"
allow_users = ["alice", "@staff"]
deny_users = ["bob"]
sender = "local"
sender_domain = "example.org"
from_override_users = ["root", "alice"]
max_messages_per_hour = 50
`},
	{"system-defaults", `[account.a]
host = "h.example"
[system]
`},
	{"system-defaults-only", `[account.a]
host = "h.example"
from = "me@example.org"
[system]
`},
	{"system-every-key-sender-account", `[account.a]
host = "h.example"
[account.b]
host = "h.example"
from = "machine@example.org"
local_domain = "host.example.org"
[system]
daemon_user = "mailer"
submit_socket = "/run/mailer/submit.sock"
account = "b"
allow_users = ["alice", "@staff"]
deny_users = ["mallory", "@guests"]
sender = "Account"
sender_domain = "example.org"
from_override_users = []
max_messages_per_hour = 0
`},
	{"system-sender-local-domain-from-account", `[account.a]
host = "h.example"
local_domain = "host.example.org"
[system]
sender = "LOCAL"
from_override_users = ["root", "@wheel"]
max_messages_per_hour = 1073741824
`},
	{"system-account-from-default-account", `default_account = "b"
[account.a]
host = "h.example"
[account.b]
host = "h.example"
from = "b@example.org"
[system]
`},
	{"system-explicit-account-over-default-account", `default_account = "a"
[account.a]
host = "h.example"
[account.b]
host = "h.example"
from = "b@example.org"
[system]
account = "b"
`},

	// Errors.
	{"err-syntax", "[account.a]\nhost = \"h.example\nport = 1\n"},
	{"err-duplicate-key", "[account.a]\nhost = \"a\"\nhost = \"b\"\n"},
	{"err-account-not-table", "account = 5\n"},
	{"err-account-entry-not-table", "[account]\nwork = 5\n"},
	{"err-top-level-account-key", "host = \"h.example\"\n"},
	{"err-top-level-typo", "[defualts]\nhost = \"h\"\n"},
	{"err-unknown-key-suggestion", "[account.a]\nhost = \"h.example\"\npasword = \"x\"\nfoo = 1\n"},
	{"err-unknown-key-in-defaults", "[defaults]\nclient_id = \"x\"\n"},
	{"err-nested-under-key", "[account.a.host]\nx = 1\n"},
	{"err-case-mismatch", "[account.a]\nHost = \"h.example\"\n"},
	{"err-host-empty", "[account.a]\nhost = \"\"\n"},
	{"err-host-url", "[account.a]\nhost = \"smtp://h.example\"\n"},
	{"err-host-port", "[account.a]\nhost = \"h.example:587\"\n"},
	{"err-host-char", "[account.a]\nhost = \"h example\"\n"},
	{"err-host-string-type", "[account.a]\nhost = 5\n"},
	{"err-host-newline", "[account.a]\nhost = \"h\\r\\nRCPT TO:<x>\"\n"},
	{"err-port-range", "[account.a]\nhost = \"h\"\nport = 70000\n"},
	{"err-port-type", "[account.a]\nhost = \"h\"\nport = \"587\"\n"},
	{"err-tls", "[account.a]\nhost = \"h\"\ntls = \"ssl\"\n"},
	{"err-tls-typo", "[account.a]\nhost = \"h\"\ntls = \"startls\"\n"},
	{"err-tls-case", "[account.a]\nhost = \"h\"\ntls = \"TLS\"\n"},
	{"err-fingerprint-short", "[account.a]\nhost = \"h\"\ntls_fingerprint = \"abcd\"\n"},
	{"err-fingerprint-hex", "[account.a]\nhost = \"h\"\ntls_fingerprint = \"" + strings.Repeat("g", 64) + "\"\n"},
	{"err-bool-type", "[account.a]\nhost = \"h\"\ntls_verify = \"yes\"\n"},
	{"err-ehlo", "[account.a]\nhost = \"h\"\nehlo_name = \"localhost\"\n"},
	{"err-auth", "[account.a]\nhost = \"h\"\nauth = \"cram-md5\"\n"},
	{"err-user-empty", "[account.a]\nhost = \"h\"\nuser = \"\"\n"},
	{"err-path-empty", "[account.a]\nhost = \"h\"\npassword_file = \"\"\n"},
	{"err-from-empty", "[account.a]\nhost = \"h\"\nfrom = \"\"\n"},
	{"err-from-name", "[account.a]\nhost = \"h\"\nfrom = \"Me <me@example.org>\"\n"},
	{"err-from-not-address", "[account.a]\nhost = \"h\"\nfrom = \"me\"\n"},
	{"err-msgid-literal", "[account.a]\nhost = \"h\"\nmsgid_domain = \"[127.0.0.1]\"\n"},
	{"err-local-domain", "[account.a]\nhost = \"h\"\nlocal_domain = \"local host\"\n"},
	{"err-duration", "[account.a]\nhost = \"h\"\ntimeout = \"soon\"\n"},
	{"err-duration-type", "[account.a]\nhost = \"h\"\ntimeout = 60\n"},
	{"err-duration-negative", "[account.a]\nhost = \"h\"\nqueue_max_age = \"-1h\"\n"},
	{"err-deadline-below-timeout", "[defaults]\ntimeout = \"5m\"\n[account.a]\nhost = \"h\"\ndeadline = \"1m\"\n"},
	{"err-syslog", "[account.a]\nhost = \"h\"\nsyslog = \"kern\"\n"},
	{"err-syslog-type", "[account.a]\nhost = \"h\"\nsyslog = 3\n"},
	{"err-failure-notice", "[account.a]\nhost = \"h\"\nfailure_notice_to = \"a@b@c\"\n"},
	{"err-provider", "[account.a]\nhost = \"h\"\noauth_provider = \"yahoo\"\n"},
	{"err-url-http", "[account.a]\nhost = \"h\"\noauth_token_url = \"http://login.example.org/token\"\n"},
	{"err-url", "[account.a]\nhost = \"h\"\noauth_auth_url = \"not a url\"\n"},
	{"err-redirect-port", "[account.a]\nhost = \"h\"\noauth_redirect_uri = \"http://127.0.0.1/\"\n"},
	{"err-redirect-remote", "[account.a]\nhost = \"h\"\noauth_redirect_uri = \"http://example.org:80/\"\n"},
	{"err-scopes-type", "[account.a]\nhost = \"h\"\noauth_scopes = \"openid\"\n"},
	{"err-scopes-entry", "[account.a]\nhost = \"h\"\noauth_scopes = [\"a b\"]\n"},
	{"err-scopes-element", "[account.a]\nhost = \"h\"\noauth_scopes = [1]\n"},
	{"err-token-store", "[account.a]\nhost = \"h\"\ntoken_store = \"disk\"\n"},
	{"err-account-name", "[account.\"bad name\"]\nhost = \"h\"\n"},
	{"err-account-name-dot", "[account.\".x\"]\nhost = \"h\"\n"},
	{"err-two-password-sources", "[account.a]\nhost = \"h\"\npassword = \"x\"\npassword_file = \"/p\"\n"},
	{"err-two-password-sources-defaults", "[defaults]\npassword_command = \"x\"\npassword_keyring = true\n[account.a]\nhost = \"h\"\n"},
	{"err-two-client-secrets", "[account.a]\nhost = \"h\"\noauth_client_secret = \"x\"\noauth_client_secret_command = \"y\"\n"},
	{"err-host-missing", "[account.a]\nuser = \"u\"\n"},
	{"err-oauth-no-provider", "[account.a]\nhost = \"h\"\nauth = \"oauth2\"\n"},
	{"err-oauth-no-client-id", "[account.a]\nhost = \"h\"\noauth_provider = \"google\"\n"},
	{"err-generic-no-token-url", "[account.a]\nhost = \"h\"\noauth_provider = \"generic\"\noauth_client_id = \"c\"\n"},
	{"err-plain-no-password", "[account.a]\nhost = \"h\"\nauth = \"plain\"\nuser = \"u\"\n"},
	{"err-no-user", "[account.a]\nhost = \"h\"\npassword_command = \"x\"\n"},
	{"err-cleartext", "[account.a]\nhost = \"h.example\"\ntls = \"none\"\nuser = \"u\"\npassword_command = \"x\"\nallow_cleartext_auth = true\n"},
	{"err-default-account", "default_account = \"nope\"\n[account.a]\nhost = \"h\"\n"},
	{"err-default-account-empty", "default_account = \"\"\n"},
	{"err-default-account-no-accounts", "default_account = \"x\"\n"},
	{"err-tilde-user", "[account.a]\nhost = \"h\"\nlogfile = \"~bob/log\"\n"},
	{"err-serve-unknown", "[account.a]\nhost = \"h\"\n[serve]\nlisten_addr = [\"x\"]\n"},
	{"err-serve-user-unknown", "[account.a]\nhost = \"h\"\n[serve.user.x]\nacount = \"a\"\n"},
	{"err-serve-count", "[account.a]\nhost = \"h\"\n[serve]\nmax_sessions = 0\n"},
	{"err-serve-half-tls", "[account.a]\nhost = \"h\"\n[serve]\ntls_cert_file = \"c.pem\"\n"},
	{"err-serve-no-password", "[account.a]\nhost = \"h\"\n[serve.user.x]\naccount = \"a\"\n"},
	{"err-serve-two-passwords", "[account.a]\nhost = \"h\"\n[serve.user.x]\naccount = \"a\"\npassword = \"p\"\npassword_keyring = true\n"},
	{"err-serve-no-account", "[account.a]\nhost = \"h\"\n[serve.user.x]\npassword = \"p\"\n"},
	{"err-serve-bad-account", "[account.a]\nhost = \"h\"\n[serve.user.x]\naccount = \"b\"\npassword = \"p\"\n"},
	{"err-serve-require-auth", "[account.a]\nhost = \"h\"\n[serve]\nrequire_auth = true\n"},
	{"err-serve-user-name", "[account.a]\nhost = \"h\"\n[serve.user.\"a b\"]\naccount = \"a\"\npassword = \"p\"\n"},
	{"err-serve-not-table", "serve = 1\n"},
	{"err-system-unknown", "[account.a]\nhost = \"h\"\n[system]\nhost = \"x\"\n"},
	{"err-system-sender", "[account.a]\nhost = \"h\"\n[system]\nsender = \"user\"\n"},
	{"err-system-no-account", "[account.a]\nhost = \"h\"\n[account.b]\nhost = \"h\"\n[system]\n"},
	{"err-system-typo", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsubmit_sokcet = \"/x\"\n"},
	{"err-system-unknown-no-hint", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsocket_path = \"/x\"\n"},
	{"err-system-unknown-two", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsocket = \"/x\"\nusers = []\n"},
	{"err-system-nested", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\n[system.daemon_user]\nx = 1\n"},
	{"err-system-dotted-key", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndaemon_user.name = \"x\"\n"},
	{"err-system-daemon-user-empty", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndaemon_user = \"\"\n"},
	{"err-system-daemon-user-type", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndaemon_user = 5\n"},
	{"err-system-daemon-user-newline", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndaemon_user = \"a\\nb\"\n"},
	{"err-system-submit-socket-empty", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsubmit_socket = \"\"\n"},
	{"err-system-submit-socket-relative", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsubmit_socket = \"run/s.sock\"\n"},
	{"err-system-submit-socket-tilde", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsubmit_socket = \"~/s.sock\"\n"},
	{"err-system-submit-socket-type", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsubmit_socket = [\"/s\"]\n"},
	{"err-system-account-empty", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\naccount = \"\"\n"},
	{"err-system-account-missing", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\naccount = \"nope\"\n"},
	{"err-system-sender-type", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsender = true\n"},
	{"err-system-sender-domain", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsender = \"local\"\nsender_domain = \"local host\"\n"},
	{"err-system-sender-domain-literal", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsender_domain = \"[127.0.0.1]\"\n"},
	{"err-system-sender-domain-localhost", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsender_domain = \"localhost\"\n"},
	{"err-system-local-no-domain", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nsender = \"local\"\n"},
	{"err-system-allow-users-type", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nallow_users = \"alice\"\n"},
	{"err-system-allow-users-element", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nallow_users = [1]\n"},
	{"err-system-allow-users-space", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nallow_users = [\"a b\"]\n"},
	{"err-system-allow-users-empty-entry", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nallow_users = [\"\"]\n"},
	{"err-system-allow-users-star", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nallow_users = [\"*\"]\n"},
	{"err-system-deny-users-at", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndeny_users = [\"@\"]\n"},
	{"err-system-deny-users-colon", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\ndeny_users = [\"a:b\"]\n"},
	{"err-system-from-override-comma", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nfrom_override_users = [\"root,alice\"]\n"},
	{"err-system-from-override-star", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nfrom_override_users = [\"*\"]\n"},
	{"err-system-max-negative", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nmax_messages_per_hour = -1\n"},
	{"err-system-max-too-big", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nmax_messages_per_hour = 1073741825\n"},
	{"err-system-max-quoted", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nmax_messages_per_hour = \"5\"\n"},
	{"err-system-max-decimal", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nmax_messages_per_hour = 1.5\n"},
	{"err-system-no-accounts", "[system]\n"},
	{"err-system-pattern-from", "[account.a]\nhost = \"h\"\nfrom = \"*@example.org\"\n[system]\n"},
	{"err-system-socket-checked-before-account", "[account.a]\nhost = \"h\"\n[account.b]\nhost = \"h\"\n[system]\nsubmit_socket = \"s.sock\"\n"},
	{"err-system-account-checked-before-users", "[account.a]\nhost = \"h\"\n[system]\naccount = \"x\"\nallow_users = [\"*\"]\n"},
	{"err-system-sender-checked-before-users", "[account.a]\nhost = \"h\"\n[system]\nallow_users = [\"*\"]\n"},
	{"err-system-users-checked-in-list-order", "[account.a]\nhost = \"h\"\nfrom = \"a@example.org\"\n[system]\nfrom_override_users = [\"*\"]\ndeny_users = [\"a,b\"]\n"},
	{"err-system-not-table", "system = 1\n[account.a]\nhost = \"h\"\n"},
	{"err-system-array-of-tables", "[account.a]\nhost = \"h\"\n[[system]]\n"},
}

// dump writes v's fields one per line, sorted by path; strings and
// Stringers are quoted, so the output does not depend on whether a field is
// a string or a named type with the same words.
func dump(b *strings.Builder, prefix string, v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", prefix)
			return
		}
		v = v.Elem()
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Struct {
		fmt.Fprintf(b, "%s = %q\n", prefix, s.String())
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			dump(b, prefix+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		slices.Sort(names)
		if len(names) == 0 {
			fmt.Fprintf(b, "%s = {}\n", prefix)
		}
		for _, n := range names {
			dump(b, prefix+"["+n+"]", v.MapIndex(reflect.ValueOf(n)))
		}
	case reflect.Slice:
		fmt.Fprintf(b, "%s = %q\n", prefix, v.Interface())
	case reflect.String:
		fmt.Fprintf(b, "%s = %q\n", prefix, v.String())
	default:
		fmt.Fprintf(b, "%s = %v\n", prefix, v.Interface())
	}
}

func TestRepresentativeFilesResolveAsTheGoldenFileSays(t *testing.T) {
	old := homeDir
	homeDir = func() (string, error) { return "/home/u", nil }
	t.Cleanup(func() { homeDir = old })
	var b strings.Builder
	for _, c := range resolveCases {
		fmt.Fprintf(&b, "== %s\n", c.name)
		f, sens, err := parse("/home/u/.config/gsendmail/config.toml", []byte(c.text))
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			continue
		}
		fmt.Fprintf(&b, "sensitivity: secret=%q command=%v\n", sens.secret, sens.command)
		dump(&b, "file", reflect.ValueOf(*f))
	}
	got := b.String()
	golden := filepath.Join("testdata", "resolve.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to write it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("resolve output differs from %s at line %d:\n got: %s\nwant: %s", golden, i+1, g, w)
			}
		}
	}
}
