package config

import (
	"strings"
	"testing"
	"time"
)

const serveBase = "default_account = \"w\"\n[account.w]\nhost = \"smtp.example.org\"\nauth = \"none\"\n"

func TestServeTableResolves(t *testing.T) {
	f := mustLoad(t, serveBase+`[serve]
listen = ["127.0.0.1:2525", "/run/g.sock"]
require_auth = true
max_sessions = 5
max_recipients = 7
max_message_size = 1000
command_timeout = "30s"
data_timeout = "2m"
upstream_idle = "10s"
upstream_sessions = 3
shutdown_timeout = "5s"
[serve.user.app1]
account = "w"
password_file = "app1.pw"
`)
	s := f.Serve
	if len(s.Listen) != 2 || !s.RequireAuth || s.MaxSessions != 5 || s.MaxRecipients != 7 || s.MaxMessageSize != 1000 ||
		s.CommandTimeout != 30*time.Second || s.DataTimeout != 2*time.Minute || s.UpstreamIdle != 10*time.Second ||
		s.UpstreamSessions != 3 || s.ShutdownTimeout != 5*time.Second {
		t.Errorf("resolved %+v", s)
	}
	u := s.Users["app1"]
	if u == nil || u.Account != "w" || !strings.HasSuffix(u.PasswordFile, "/app1.pw") || !strings.HasPrefix(u.PasswordFile, "/") {
		t.Errorf("user %+v", u)
	}
	if src := u.PasswordSource(); src.Account != "serve.app1" || src.File != u.PasswordFile {
		t.Errorf("password source %+v", src)
	}
}

func TestServeTableRefusals(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[serve]\nlisten_on = [\"x\"]\n", `unknown key "serve.listen_on" (did you mean "listen"?)`},
		{"[serve.user.a]\naccount = \"w\"\npasword_file = \"p\"\n", `unknown key "serve.user.a.pasword_file" (did you mean "password_file"?)`},
		{"[serve]\nmax_sessions = 0\n", "at least 1"},
		{"[serve]\nmax_sessions = \"10\"\n", "whole number"},
		{"[serve]\ntls_cert_file = \"c.pem\"\n", "set both tls_cert_file and tls_key_file"},
		{"[serve]\nrequire_auth = true\n", "no [serve.user.NAME] is defined"},
		{"[serve.user.a]\naccount = \"nope\"\npassword_file = \"p\"\n", `account "nope" does not exist`},
		{"[serve.user.a]\naccount = \"w\"\n", "no password"},
		{"[serve.user.a]\naccount = \"w\"\npassword_file = \"p\"\npassword_command = \"c\"\n", "more than one password source"},
		{"[serve.user.a]\npassword_file = \"p\"\n", "account is not set"},
	} {
		_, err := load(t, serveBase+tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestServeMustBeATable(t *testing.T) {
	if _, err := load(t, "serve = 1\n"+serveBase); err == nil || !strings.Contains(err.Error(), "serve must be a table") {
		t.Errorf("serve = 1: %v", err)
	}
}

func TestServeInlineUserPasswordNeedsAPrivateFile(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, serveBase+"[serve.user.a]\naccount = \"w\"\npassword = \"x\"\n", 0o644)
	if _, err := Load(path, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("inline serve password in a 0644 file: %v", err)
	}
}
