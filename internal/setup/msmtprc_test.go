package setup

import (
	"bufio"
	"compress/gzip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

var testMsmtpEnv = MsmtpEnv{Home: "/home/joe", User: "joe", Hostname: "laptop.example.net", MailName: "mail.example.net"}

// needMsmtp returns msmtp's path, skipping (or failing under
// GSENDMAIL_REQUIRE_REAL_SERVERS=1) when it is not installed.
func needMsmtp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("msmtp")
	if err != nil {
		if os.Getenv(mailserver.RequireEnv) == "1" {
			t.Fatalf("msmtp not installed (%s=1): run internal/testkit/testenv/install-deps.sh", mailserver.RequireEnv)
		}
		t.Skip("msmtp not installed: run internal/testkit/testenv/install-deps.sh")
	}
	return p
}

// TestMsmtprcCommandsAreMsmtpManPageCommands reads the installed msmtp's
// own man page (msmtp(1), CONFIGURATION FILES) and checks the importer
// knows every command it documents, so a new msmtp command cannot be
// dropped silently.
func TestMsmtprcCommandsAreMsmtpManPageCommands(t *testing.T) {
	needMsmtp(t)
	fh, err := os.Open("/usr/share/man/man1/msmtp.1.gz")
	if err != nil {
		t.Fatalf("msmtp's man page: %v", err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	in := false
	item := regexp.MustCompile(`^\.IP "([a-z_]+)`)
	var documented []string
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, ".SH ") {
			in = strings.Contains(l, "CONFIGURATION FILES")
			continue
		}
		if m := item.FindStringSubmatch(l); in && m != nil {
			documented = append(documented, m[1])
		}
	}
	if len(documented) < 40 {
		t.Fatalf("found only %d commands in the man page: %v", len(documented), documented)
	}
	for _, c := range documented {
		if c == "defaults" || c == "account" || c == "eval" {
			continue // structure, handled by the parser itself
		}
		if !knownMsmtpCommand(c) {
			t.Errorf("msmtp documents %q but the importer does not know it", c)
		}
		if !slices.ContainsFunc(msmtpKeyCases, func(k msmtpKeyCase) bool { return strings.HasPrefix(k.line, c+" ") || k.line == c }) {
			t.Errorf("no test case for msmtp command %q", c)
		}
	}
}

const msmtpBase = `account t
host mail.example.org
port 587
tls on
auth on
user joe
from joe@example.org
domain client.example.org
passwordeval pass show mail
`

type msmtpKeyCase struct {
	line string
	// check inspects the imported account as internal/config loads it;
	// nil when the command must be reported instead.
	check func(a *config.Account) bool
	// note, when set, must appear in the report line for the command.
	note string
}

var msmtpKeyCases = []msmtpKeyCase{
	{line: "host smtp.other.example", check: func(a *config.Account) bool { return a.Host == "smtp.other.example" }},
	{line: "port 2525", check: func(a *config.Account) bool { return a.Port == 2525 }},
	{line: "source_ip 192.0.2.1", note: "not imported"},
	{line: "proxy_host 127.0.0.1", note: "not imported"},
	{line: "proxy_port 1080", note: "not imported"},
	{line: "socket /run/smtp.sock", note: "not imported"},
	{line: "timeout 30", check: func(a *config.Account) bool { return a.Timeout.Seconds() == 30 }},
	{line: "protocol lmtp", note: "skipped"},
	{line: "domain %H", check: func(a *config.Account) bool { return a.EHLOName == "laptop.example.net" }, note: "expanded"},
	{line: "auth plain", check: func(a *config.Account) bool { return a.Auth == "plain" }},
	{line: "auth scram-sha-256", check: func(a *config.Account) bool { return a.AuthMethod() == config.AuthPassword }, note: "not supported"},
	{line: "auth off", check: func(a *config.Account) bool { return a.AuthMethod() == config.AuthNone }},
	{line: "user jane", check: func(a *config.Account) bool { return a.User == "jane" }},
	{line: "password s3cret", check: func(a *config.Account) bool {
		return a.Password == "" && a.PasswordCommand == "" && a.PasswordFile != ""
	}, note: "never copied in clear"},
	{line: "passwordeval gpg -d ~/.pw.gpg", check: func(a *config.Account) bool { return a.PasswordCommand == "gpg -d ~/.pw.gpg" }},
	{line: "ntlmdomain CORP", note: "no NTLM"},
	{line: "tls off", check: func(a *config.Account) bool { return a.TLS.String() == "starttls" }, note: "never sends credentials unencrypted"},
	{line: "tls_starttls off", check: func(a *config.Account) bool { return a.TLS.String() == "tls" }},
	{line: "tls_trust_file ~/ca.pem", check: func(a *config.Account) bool { return a.TLSTrustFile == "/home/joe/ca.pem" }},
	{line: "tls_crl_file /etc/crl.pem", note: "not imported"},
	{line: "tls_fingerprint 53:F3:CA:1D:37:F2:1F:ED:2C:67:40:A2:A2:29:C2:C8:E8:AF:9E:60:7A:01:92:EC:F0:2A:11:E8:37:A5:88:F3",
		check: func(a *config.Account) bool {
			return a.TLSFingerprint == "53f3ca1d37f21fed2c6740a2a229c2c8e8af9e607a0192ecf02a11e837a588f3"
		}},
	{line: "tls_key_file ~/client.key", note: "no TLS client certificate"},
	{line: "tls_cert_file ~/client.crt", note: "no TLS client certificate"},
	{line: "tls_certcheck off", check: func(a *config.Account) bool { return !a.TLSVerify }, note: "WARNING"},
	{line: "tls_priorities NORMAL:-VERS-TLS1.0", note: "not imported"},
	{line: "tls_host_override mail.internal", note: "not imported"},
	{line: "tls_min_dh_prime_bits 2048", note: "not imported"},
	{line: "from *@example.org", check: func(a *config.Account) bool { return a.From == "*@example.org" }},
	{line: "from %U@%M", check: func(a *config.Account) bool { return a.From == "joe@mail.example.net" }, note: "expanded"},
	{line: "allow_from_override off", check: func(a *config.Account) bool { return !a.AllowFromOverride }},
	{line: "dsn_notify failure,delay", note: "-N failure,delay"},
	{line: "dsn_return headers", note: "-R headers"},
	{line: "set_from_header off", check: func(a *config.Account) bool { return !a.AddFromHeader }},
	{line: "set_from_header on", note: "never replaces"},
	{line: "set_date_header off", check: func(a *config.Account) bool { return !a.AddDateHeader }},
	{line: "set_msgid_header off", check: func(a *config.Account) bool { return !a.AddMessageIDHeader }},
	{line: "remove_bcc_headers off", note: "always removes Bcc"},
	{line: "undisclosed_recipients on", note: "not imported"},
	{line: "logfile ~/.msmtp.log", check: func(a *config.Account) bool { return a.Logfile == "/home/joe/.msmtp.log" }},
	{line: "logfile_time_format %Y", note: "not imported"},
	{line: "syslog on", check: func(a *config.Account) bool { return a.Syslog == "LOG_USER" }},
	{line: "syslog LOG_LOCAL3", check: func(a *config.Account) bool { return a.Syslog == "LOG_LOCAL3" }},
	{line: "aliases /etc/aliases", check: func(a *config.Account) bool { return a.Aliases == "/etc/aliases" }},
	{line: "auto_from on", check: func(a *config.Account) bool { return a.From == "joe@laptop.example.net" }, note: "auto_from"},
	{line: "maildomain example.com", note: "not imported"},
	{line: "add_missing_from_header off", check: func(a *config.Account) bool { return !a.AddFromHeader }},
	{line: "add_missing_date_header off", check: func(a *config.Account) bool { return !a.AddDateHeader }},
	{line: "tls_nocertcheck", check: func(a *config.Account) bool { return !a.TLSVerify }, note: "WARNING"},
	{line: "tls_force_sslv3 on", note: "not imported"},
	{line: "keepbcc on", note: "always removes Bcc"},
}

// importOne imports the base account plus extra lines and loads the
// result the way gsendmail will.
func importOne(t *testing.T, extra string) ([]Imported, []Note, *config.Account) {
	t.Helper()
	m, err := ParseMsmtprc(strings.NewReader(msmtpBase+extra+"\n"), "/home/joe/.msmtprc")
	if err != nil {
		t.Fatal(err)
	}
	ims, notes := m.Import(testMsmtpEnv)
	if len(ims) == 0 {
		return nil, notes, nil
	}
	a := ims[0].Account
	if a.Auth == AuthPassword && a.PasswordStore == "" {
		a.PasswordStore, a.PasswordFile = StoreFile, "/home/joe/.config/gsendmail/t.password"
	}
	text := RenderFile(a)
	cf, err := parseProbe(text)
	if err != nil {
		t.Fatalf("imported account does not load: %v\n%s", err, text)
	}
	return ims, notes, cf.Accounts[a.Name]
}

func TestMsmtprcEveryCommandIsMappedOrReported(t *testing.T) {
	for _, tc := range msmtpKeyCases {
		t.Run(tc.line, func(t *testing.T) {
			cmd := strings.Fields(tc.line)[0]
			ims, notes, a := importOne(t, tc.line)
			var reported []string
			for _, n := range notes {
				if strings.HasSuffix(n.Key, ": "+cmd) || strings.HasSuffix(n.Key, " "+cmd) {
					reported = append(reported, n.String())
				}
			}
			if tc.check == nil && tc.note == "" {
				t.Fatal("test case checks nothing")
			}
			if tc.check != nil {
				if a == nil {
					t.Fatalf("account not imported; notes: %v", notes)
				}
				if !tc.check(a) {
					t.Errorf("imported account does not carry %q: %s", tc.line, RenderAccount(ims[0].Account))
				}
			}
			if tc.note != "" {
				found := false
				for _, r := range reported {
					found = found || strings.Contains(r, tc.note)
				}
				if !found {
					t.Errorf("no report line for %s saying %q; report: %q", cmd, tc.note, reported)
				}
			}
		})
	}
}

func TestMsmtprcPasswordGoesToTheStoreNotTheConfig(t *testing.T) {
	ims, notes, a := importOne(t, "password \"  s3cret with \"quotes\" \"")
	if ims[0].Password != `  s3cret with "quotes" ` {
		t.Fatalf("password read as %q", ims[0].Password)
	}
	if text := RenderAccount(ims[0].Account); strings.Contains(text, "s3cret") {
		t.Fatalf("password in the rendered config:\n%s", text)
	}
	for _, n := range notes {
		if strings.Contains(n.String(), "s3cret") {
			t.Fatalf("password in a report line: %s", n)
		}
	}
	if a.PasswordCommand != "" || a.Password != "" {
		t.Fatalf("password source %+v", a)
	}
}

func TestMsmtprcWithoutDomainWarnsAboutEHLOLocalhost(t *testing.T) {
	m, err := ParseMsmtprc(strings.NewReader("account a\nhost h.example.org\nfrom a@example.org\n"), "rc")
	if err != nil {
		t.Fatal(err)
	}
	ims, notes := m.Import(testMsmtpEnv)
	if len(ims) != 1 || ims[0].Account.TLS.String() != "none" || ims[0].Account.Port != 25 || ims[0].Account.Auth != AuthNone {
		t.Fatalf("msmtp's defaults (no TLS, port 25, no auth) not kept: %+v", ims)
	}
	for _, n := range notes {
		if strings.Contains(n.String(), "EHLO localhost") && strings.Contains(n.String(), "gsendmail will not") {
			return
		}
	}
	t.Fatalf("no warning about msmtp's EHLO localhost: %v", notes)
}

func TestMsmtprcOAuthHelperAccountIsRecognised(t *testing.T) {
	m, err := ParseMsmtprc(strings.NewReader(`account default
host smtp.gmail.com
port 587
tls on
tls_starttls on
auth xoauth2
user mail.username
passwordeval /usr/local/bin/oauth2-helper.pl
from mail.username@gmail.com
`), "rc")
	if err != nil {
		t.Fatal(err)
	}
	ims, _ := m.Import(testMsmtpEnv)
	if len(ims) != 1 {
		t.Fatalf("%d accounts", len(ims))
	}
	im := ims[0]
	if !im.NeedsOAuth || im.Account.Auth != AuthOAuth2 || im.Account.OAuthProvider != "google" || im.Helper != "/usr/local/bin/oauth2-helper.pl" || !im.Account.Default {
		t.Fatalf("OAuth2 helper account imported as %+v", im)
	}
	if im.Account.PasswordCommand != "" {
		t.Fatal("the access-token helper became a password_command")
	}
}

// TestMsmtprcDefaultsAndInheritanceAgreeWithMsmtp asks msmtp itself
// (--pretend prints the settings it would use) what each account of a
// file with defaults, inheritance and "account default" means, and checks
// the importer read the same.
func TestMsmtprcDefaultsAndInheritanceAgreeWithMsmtp(t *testing.T) {
	msmtp := needMsmtp(t)
	rc := `defaults
tls on
port 587
auth on
logfile ~/.msmtp.log

account base
host base.example.org
user base-user
from base@example.org
passwordeval echo x

defaults
tls_starttls off
port 465

account child : base
host child.example.org

account late
host late.example.org
from late@example.org
user late-user
passwordeval echo y
tls_starttls on
port 587

account default : child
`
	path := t.TempDir() + "/msmtprc"
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := ParseMsmtprc(strings.NewReader(rc), path)
	if err != nil {
		t.Fatal(err)
	}
	ims, _ := m.Import(testMsmtpEnv)
	got := map[string]Account{}
	for _, im := range ims {
		got[im.Account.Name] = im.Account
	}
	for _, name := range []string{"base", "child", "late", "default"} {
		out, err := exec.Command(msmtp, "-C", path, "-a", name, "--pretend").CombinedOutput()
		if err != nil {
			t.Fatalf("msmtp --pretend -a %s: %v: %s", name, err, out)
		}
		want := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, " = "); ok {
				want[k] = v
			}
		}
		acct := name
		if name == "default" {
			acct = m.Default
		}
		a, ok := got[acct]
		if !ok {
			t.Fatalf("account %s (%s) not imported", name, acct)
		}
		tls := "none"
		if want["tls"] == "on" {
			tls = map[string]string{"on": "starttls", "off": "tls"}[want["tls_starttls"]]
		}
		if a.Host != want["host"] || portString(a.Port) != want["port"] || a.TLS.String() != tls || a.User != want["user"] ||
			a.Address != want["from"] || a.PasswordCommand != want["passwordeval"] {
			t.Errorf("account %s: imported host=%s port=%d tls=%s user=%s from=%s pwcmd=%s; msmtp says host=%s port=%s tls=%s/%s user=%s from=%s passwordeval=%s",
				name, a.Host, a.Port, a.TLS, a.User, a.Address, a.PasswordCommand,
				want["host"], want["port"], want["tls"], want["tls_starttls"], want["user"], want["from"], want["passwordeval"])
		}
	}
	if m.Default != "child" || !got["child"].Default {
		t.Errorf("default account %q, want child", m.Default)
	}
}

func TestMsmtprcSyntaxErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ rc, want string }{
		{"account a\nfrobnicate on\n", "rc:2: unknown msmtp command \"frobnicate\""},
		{"host h\n", "rc:1: host before any account"},
		{"account a : b\n", "rc:1: account \"a\" inherits from \"b\""},
		{"defaults\nhost h\n", "defines no account"},
	} {
		_, err := ParseMsmtprc(strings.NewReader(tc.rc), "rc")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.rc, err, tc.want)
		}
	}
}

// FuzzParseMsmtprc: an msmtprc is the user's file but may come from
// anywhere; the parser and mapping must not panic, and whatever they
// import must render to a configuration that loads or is refused by
// validation, never one that means something else.
func FuzzParseMsmtprc(f *testing.F) {
	f.Add(msmtpBase + "password \"a\"b\"\n")
	f.Add("defaults\ntls on\naccount a\nhost h\naccount b : a\nfrom *@x\naccount default : b\n")
	f.Fuzz(func(t *testing.T, rc string) {
		m, err := ParseMsmtprc(strings.NewReader(rc), "rc")
		if err != nil {
			return
		}
		ims, _ := m.Import(testMsmtpEnv)
		for _, im := range ims {
			a := im.Account
			if a.Auth == AuthPassword && a.PasswordStore == "" {
				a.PasswordStore, a.PasswordFile = StoreFile, "/tmp/pw"
			}
			cf, err := parseProbe(RenderFile(a))
			if err != nil {
				continue
			}
			if len(cf.Order) != 1 || cf.Accounts[a.Name] == nil || cf.Accounts[a.Name].Host != a.Host {
				t.Fatalf("rendered account changed meaning: %v", cf.Order)
			}
		}
	})
}

func TestMsmtprcDefaultThatOverridesIsAnAccountOfItsOwn(t *testing.T) {
	m, err := ParseMsmtprc(strings.NewReader("account work\nhost h.example.org\nfrom a@example.org\naccount default : work\nport 2525\n"), "rc")
	if err != nil {
		t.Fatal(err)
	}
	ims, _ := m.Import(testMsmtpEnv)
	if len(ims) != 2 || ims[1].Account.Name != "default" || ims[1].Account.Port != 2525 || !ims[1].Account.Default || ims[0].Account.Default {
		t.Fatalf("imported %+v", ims)
	}
}

// TestMsmtprcArgumentsAreReadLikeMsmtp checks quoting against msmtp
// itself (--pretend prints the user it would log in as).
func TestMsmtprcArgumentsAreReadLikeMsmtp(t *testing.T) {
	msmtp := needMsmtp(t)
	for _, v := range []string{`plain`, `"  spaced  "`, `"unclosed`, `"a"b"`, `mid"dle`, `back\\slash\"`, `"x" `, "\t\"tab\"\t"} {
		rc := "account a\nhost h.example.org\nuser " + v + "\n"
		path := t.TempDir() + "/rc"
		if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(msmtp, "-C", path, "-a", "a", "--pretend").CombinedOutput()
		if err != nil {
			t.Fatalf("msmtp --pretend: %v: %s", err, out)
		}
		var want string
		for _, l := range strings.Split(string(out), "\n") {
			if u, ok := strings.CutPrefix(l, "user = "); ok {
				want = u
			}
		}
		m, err := ParseMsmtprc(strings.NewReader(rc), "rc")
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Accounts[0].Settings["user"].Value; got != want {
			t.Errorf("user %q: read as %q, msmtp reads %q", v, got, want)
		}
	}
}

func TestMsmtprcRelativePathsAreResolvedAndReported(t *testing.T) {
	_, notes, a := importOne(t, "aliases aliases.txt")
	if a.Aliases != "/home/joe/aliases.txt" {
		t.Fatalf("aliases %q", a.Aliases)
	}
	for _, n := range notes {
		if strings.Contains(n.String(), `relative path "aliases.txt" taken as /home/joe/aliases.txt`) {
			return
		}
	}
	t.Fatalf("not reported: %v", notes)
}
