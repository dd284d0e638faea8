package setup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// fakeDNS answers SRV and MX queries from maps; a missing name is NXDOMAIN.
type fakeDNS struct {
	srv     map[string][]*net.SRV // "_submission._tcp.example.org"
	mx      map[string][]*net.MX
	queries []string
}

func (d *fakeDNS) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	q := "_" + service + "._" + proto + "." + name
	d.queries = append(d.queries, "SRV "+q)
	if r, ok := d.srv[q]; ok {
		return q, r, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
}

func (d *fakeDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	d.queries = append(d.queries, "MX "+name)
	if r, ok := d.mx[name]; ok {
		return r, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestRecogniseProviderFromAddressDomain(t *testing.T) {
	for _, tc := range []struct {
		addr, preset, host string
		port               int
		tls                string
	}{
		{"me@gmail.com", "gmail", "smtp.gmail.com", 465, "tls"},
		{"Me@GoogleMail.COM", "gmail", "smtp.gmail.com", 465, "tls"},
		{"me@hotmail.com", "outlook", "smtp-mail.outlook.com", 587, "starttls"},
		{"me@outlook.com", "outlook", "smtp-mail.outlook.com", 587, "starttls"},
		{"me@fastmail.com", "fastmail", "smtp.fastmail.com", 465, "tls"},
		{"me@icloud.com", "icloud", "smtp.mail.me.com", 587, "starttls"},
		{"me@me.com", "icloud", "smtp.mail.me.com", 587, "starttls"},
		{"me@yahoo.com", "yahoo", "smtp.mail.yahoo.com", 465, "tls"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			dns := &fakeDNS{}
			s, err := Recognise(context.Background(), dns, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if s.Preset.Name != tc.preset || s.Host != tc.host || s.Port != tc.port || s.TLS.String() != tc.tls {
				t.Errorf("got %s %s:%d %s, want %s %s:%d %s", s.Preset.Name, s.Host, s.Port, s.TLS, tc.preset, tc.host, tc.port, tc.tls)
			}
			if len(dns.queries) != 0 {
				t.Errorf("a known domain needs no DNS, asked %v", dns.queries)
			}
		})
	}
}

func TestRecogniseFromDNS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dns       fakeDNS
		host      string
		port      int
		tls       string
		preset    string
		unknown   bool
		noService bool
		howSubstr string
	}{
		{
			name: "submissions SRV wins over submission (RFC 8314 5.1)",
			dns: fakeDNS{srv: map[string][]*net.SRV{
				"_submissions._tcp.example.org": {{Target: "mail.example.org.", Port: 465, Priority: 0, Weight: 1}},
				"_submission._tcp.example.org":  {{Target: "smtp.example.org.", Port: 587}},
			}},
			host: "mail.example.org", port: 465, tls: "tls", howSubstr: "_submissions._tcp.example.org",
		},
		{
			name: "submission SRV gives STARTTLS (RFC 6186 3.1)",
			dns: fakeDNS{srv: map[string][]*net.SRV{
				"_submission._tcp.example.org": {
					{Target: "backup.example.org.", Port: 587, Priority: 20},
					{Target: "smtp.example.org.", Port: 2587, Priority: 10, Weight: 5},
					{Target: "other.example.org.", Port: 587, Priority: 10, Weight: 1},
				},
			}},
			host: "smtp.example.org", port: 2587, tls: "starttls", howSubstr: "_submission._tcp",
		},
		{
			name: "dot target means not offered (RFC 6186 3.4): the MX is not consulted",
			dns: fakeDNS{
				srv: map[string][]*net.SRV{"_submissions._tcp.example.org": {{Target: ".", Port: 0}}},
				mx:  map[string][]*net.MX{"example.org": {{Host: "example-org.mail.protection.outlook.com.", Pref: 0}}},
			},
			noService: true,
		},
		{
			name: "dot target for one service, a server for the other",
			dns: fakeDNS{srv: map[string][]*net.SRV{
				"_submissions._tcp.example.org": {{Target: ".", Port: 0}},
				"_submission._tcp.example.org":  {{Target: "smtp.example.org.", Port: 587}},
			}},
			host: "smtp.example.org", port: 587, tls: "starttls", howSubstr: "_submission._tcp",
		},
		{
			name: "MX at Google Workspace",
			dns: fakeDNS{mx: map[string][]*net.MX{"example.org": {
				{Host: "alt1.aspmx.l.google.com.", Pref: 5},
				{Host: "aspmx.l.google.com.", Pref: 1},
			}}},
			host: "smtp.gmail.com", port: 465, tls: "tls", preset: "gmail",
		},
		{
			name: "MX at Fastmail",
			dns: fakeDNS{mx: map[string][]*net.MX{"example.org": {
				{Host: "in1-smtp.messagingengine.com.", Pref: 10},
			}}},
			host: "smtp.fastmail.com", preset: "fastmail", port: 465, tls: "tls",
		},
		{
			name: "least preferred MX is checked too when the first is unknown",
			dns: fakeDNS{mx: map[string][]*net.MX{"example.org": {
				{Host: "mx.example.org.", Pref: 10},
				{Host: "mx01.mail.icloud.com.", Pref: 20},
			}}},
			host: "smtp.mail.me.com", preset: "icloud", port: 587, tls: "starttls",
		},
		{
			name: "SRV target at a known provider carries its notes",
			dns: fakeDNS{srv: map[string][]*net.SRV{
				"_submission._tcp.example.org": {{Target: "smtp.gmail.com.", Port: 587}},
			}},
			host: "smtp.gmail.com", port: 587, tls: "starttls", preset: "gmail",
		},
		{
			name:    "own MX and no SRV is unknown",
			dns:     fakeDNS{mx: map[string][]*net.MX{"example.org": {{Host: "mx.example.org.", Pref: 10}}}},
			unknown: true,
		},
		{
			name: "a look-alike suffix is not the provider",
			dns: fakeDNS{mx: map[string][]*net.MX{"example.org": {
				{Host: "mx.evilgoogle.com.", Pref: 10},
			}}},
			unknown: true,
		},
		{name: "nothing in DNS", unknown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Recognise(context.Background(), &tc.dns, "someone@example.org")
			if tc.noService {
				if !errors.Is(err, ErrNoService) {
					t.Fatalf("got %+v, %v; want ErrNoService", s, err)
				}
				return
			}
			if tc.unknown {
				if !errors.Is(err, ErrUnknown) {
					t.Fatalf("got %+v, %v; want ErrUnknown", s, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Host != tc.host || s.Port != tc.port || s.TLS.String() != tc.tls || s.Preset.Name != tc.preset {
				t.Errorf("got %s:%d %s preset %q, want %s:%d %s preset %q", s.Host, s.Port, s.TLS, s.Preset.Name, tc.host, tc.port, tc.tls, tc.preset)
			}
			if !strings.Contains(s.How, tc.howSubstr) {
				t.Errorf("How = %q, want it to mention %q", s.How, tc.howSubstr)
			}
		})
	}
}

func TestRecogniseRejectsNonAddresses(t *testing.T) {
	for _, a := range []string{"", "me", "@example.org", "me@", "me@localhost", "me@exa mple.org", "me@-bad.org"} {
		if _, err := Recognise(context.Background(), nil, a); err == nil || errors.Is(err, ErrUnknown) {
			t.Errorf("Recognise(%q) = %v, want an address error", a, err)
		}
	}
}

func TestPresetsAreCompleteAndConsistent(t *testing.T) {
	seen := map[string]string{}
	for _, p := range Presets {
		if p.Name == "" || p.Title == "" || p.Host == "" || p.Notes == "" || len(p.Auth) == 0 {
			t.Errorf("preset %+v lacks a field", p)
		}
		if (p.TLS.String() == "tls") != (p.Port == 465) || (p.TLS.String() == "starttls") != (p.Port == 587) {
			t.Errorf("preset %s: port %d with tls %q", p.Name, p.Port, p.TLS)
		}
		if p.SupportsAuth(AuthOAuth2) != (p.OAuthProvider != "") {
			t.Errorf("preset %s: oauth2 support and oauth_provider %q disagree", p.Name, p.OAuthProvider)
		}
		for _, d := range p.Domains {
			if other, dup := seen[d]; dup {
				t.Errorf("domain %s in presets %s and %s", d, other, p.Name)
			}
			seen[d] = p.Name
		}
	}
}

func TestTOMLStringRoundTripsThroughConfig(t *testing.T) {
	for _, s := range []string{`pass show "mail/x"`, `C:\path\file`, "tab\there", "ünïcödé", "ctl\x01\x7f"} {
		text := "[account.a]\nhost = \"h.example\"\nauth = \"none\"\nlocal_domain = \"example.org\"\npassword_command = " + tomlString(s) + "\n"
		f, err := parseProbe(text)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := f.Accounts["a"].PasswordCommand; got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

// script runs the wizard with answers on stdin and returns what it wrote.
type script struct {
	dir     string
	args    []string
	answers string
	hooks   Hooks
	dns     Resolver
}

func (s script) run(t *testing.T) (stderr, stdout string, err error) {
	t.Helper()
	var out, so bytes.Buffer
	err = Run(context.Background(), s.args, Options{
		In: strings.NewReader(s.answers), Out: &out, Stdout: &so,
		ConfigPath: filepath.Join(s.dir, "gsendmail", "config.toml"),
		Resolver:   s.dns, DefaultStore: StoreFile, DefaultLogin: "paste", Hooks: s.hooks,
	})
	return out.String(), so.String(), err
}

func loadAt(t *testing.T, p string) *config.File {
	t.Helper()
	f, err := config.Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWizardWritesPrivateConfigAndPasswordFileFromAnswers(t *testing.T) {
	dir := t.TempDir()
	var doctored string
	_, _, err := script{
		dir: dir,
		// address, use server?, tls, port, auth, user, name, store, file, password
		answers: "me@fastmail.com\n\n\n\n\n\nfm\n\n\nhunter2-long\n",
		hooks: Hooks{Doctor: func(ctx context.Context, path, account string) error {
			doctored = account
			return nil
		}},
	}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "gsendmail", "config.toml")
	for path, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700, filepath.Join(dir, "gsendmail", "fm.password"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
	f := loadAt(t, p)
	a := f.Accounts["fm"]
	if a == nil || a.Host != "smtp.fastmail.com" || a.Port != 465 || a.TLS.String() != "tls" || a.User != "me@fastmail.com" || a.From != "me@fastmail.com" {
		t.Fatalf("account = %v", a)
	}
	if f.DefaultAccount != "fm" {
		t.Errorf("default_account = %q, want fm", f.DefaultAccount)
	}
	pw, _ := os.ReadFile(a.PasswordFile)
	if string(pw) != "hunter2-long\n" {
		t.Errorf("password file holds %q", pw)
	}
	text, _ := os.ReadFile(p)
	if strings.Contains(string(text), "hunter2") {
		t.Error("the password is in the configuration file")
	}
	if doctored != "fm" {
		t.Errorf("doctor ran for %q, want fm", doctored)
	}
}

func TestWizardStoresPasswordInKeyringWhenAsked(t *testing.T) {
	dir := t.TempDir()
	got := map[string]string{}
	_, _, err := script{
		dir:     dir,
		args:    []string{"--yes", "--password-store", "keyring", "--account", "work", "--no-doctor", "me@icloud.com"},
		answers: "app-specific-pw\n",
		hooks:   Hooks{SetKeyring: func(acct, pw string) error { got[acct] = pw; return nil }},
	}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if got["work"] != "app-specific-pw" {
		t.Errorf("keyring got %v", got)
	}
	a := loadAt(t, filepath.Join(dir, "gsendmail", "config.toml")).Accounts["work"]
	if !a.PasswordKeyring || a.PasswordFile != "" || a.Host != "smtp.mail.me.com" {
		t.Errorf("account = %v keyring=%v", a, a.PasswordKeyring)
	}
}

func TestWizardAddsAccountToExistingConfigWithoutTouchingOthers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gsendmail", "config.toml")
	os.MkdirAll(filepath.Dir(p), 0o700)
	old := "# my own comment\ndefault_account = \"old\"\n[account.old]\nhost = \"relay.example.org\"\nauth = \"none\"\n"
	os.WriteFile(p, []byte(old), 0o600)
	_, _, err := script{
		dir:  dir,
		args: []string{"--yes", "--password-store", "command", "--password-command", "pass show mail", "--no-doctor", "me@yahoo.com"},
	}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(text), old) {
		t.Errorf("existing content changed:\n%s", text)
	}
	f := loadAt(t, p)
	if f.DefaultAccount != "old" || f.Accounts["yahoo"] == nil || f.Accounts["yahoo"].PasswordCommand != "pass show mail" {
		t.Errorf("default %q accounts %v", f.DefaultAccount, f.Order)
	}
}

func TestWizardRefusesToReplaceAnExistingAccount(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gsendmail", "config.toml")
	os.MkdirAll(filepath.Dir(p), 0o700)
	old := "[account.gmail]\nhost = \"relay.example.org\"\nauth = \"none\"\n"
	os.WriteFile(p, []byte(old), 0o600)
	_, _, err := script{dir: dir, args: []string{"--yes", "--account", "gmail", "--auth", "none", "me@gmail.com"}}.run(t)
	if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "already has an account") {
		t.Fatalf("err = %v", err)
	}
	if text, _ := os.ReadFile(p); string(text) != old {
		t.Errorf("file changed:\n%s", text)
	}
}

func TestWizardOffersAFreeNameWhenThePresetNameIsTaken(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gsendmail", "config.toml")
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, []byte("[account.gmail]\nhost = \"relay.example.org\"\nauth = \"none\"\n"), 0o600)
	_, _, err := script{dir: dir, args: []string{"--yes", "--auth", "none", "--no-doctor", "me@gmail.com"}}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if loadAt(t, p).Accounts["gmail-2"] == nil {
		t.Error("no account gmail-2")
	}
}

func TestWizardDryRunPrintsConfigAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	_, stdout, err := script{dir: dir, args: []string{"--dry-run", "--yes", "--auth", "password", "me@gmail.com"},
		hooks: Hooks{SetKeyring: func(string, string) error { t.Error("keyring used in a dry run"); return nil }}}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "[account.gmail]") || !strings.Contains(stdout, `host = "smtp.gmail.com"`) {
		t.Errorf("dry run printed:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "gsendmail")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run created files: %v", err)
	}
}

func TestWizardWithYesNamesTheMissingFlag(t *testing.T) {
	_, _, err := script{dir: t.TempDir(), args: []string{"--yes", "me@example.org"}}.run(t)
	if sysexits.Code(err) != sysexits.Usage || !strings.Contains(err.Error(), "--host") {
		t.Fatalf("err = %v", err)
	}
}

func TestWizardRejectsUnknownFlagsAndProviders(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--provider", "aol", "me@example.org"}, {"--yes", "--tls", "ssl", "--host", "h.example", "me@example.org"}, {"a@b.example", "c@d.example"}} {
		_, _, err := script{dir: t.TempDir(), args: args}.run(t)
		if sysexits.Code(err) != sysexits.Usage {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

func TestWizardAsksForHostWhenNothingIsFound(t *testing.T) {
	dir := t.TempDir()
	stderr, _, err := script{
		dir: dir, dns: &fakeDNS{},
		// host, tls, port, auth, user, name
		answers: "smtp.example.org\nstarttls\n\nnone\n\n",
		args:    []string{"--no-doctor", "me@example.org"},
	}.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	a := loadAt(t, filepath.Join(dir, "gsendmail", "config.toml")).Accounts["example"]
	if a == nil || a.Host != "smtp.example.org" || a.Port != 587 || a.TLS.String() != "starttls" || a.AuthMethod() != config.AuthNone {
		t.Fatalf("account = %v", a)
	}
}

func TestWizardOAuthAccountRunsLoginAfterWritingConfig(t *testing.T) {
	dir := t.TempDir()
	var login string
	_, _, err := script{
		dir: dir,
		args: []string{"--auth", "oauth2", "--oauth-provider", "generic", "--host", "mail.example.org", "--tls", "tls",
			"--oauth-client-id", "cid", "--oauth-auth-url", "https://id.example.org/auth", "--oauth-token-url", "https://id.example.org/token",
			"--oauth-scopes", "mail,offline", "--login", "paste", "--account", "corp", "--no-doctor", "me@example.org"},
		// port, user, client secret
		answers: "\n\ns3cr3t\n",
		hooks: Hooks{Login: func(ctx context.Context, path, account, method string, in io.Reader, w io.Writer) error {
			a := loadAt(t, path).Accounts[account]
			login = method + " " + a.OAuthTokenURL
			return nil
		}},
	}.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if login != "paste https://id.example.org/token" {
		t.Errorf("login hook saw %q", login)
	}
	a := loadAt(t, filepath.Join(dir, "gsendmail", "config.toml")).Accounts["corp"]
	if a.OAuthClientSecret != "s3cr3t" || strings.Join(a.OAuthScopes, " ") != "mail offline" || a.Port != 465 {
		t.Errorf("account = %v scopes %v", a, a.OAuthScopes)
	}
}

func TestFlagNamesIncludeEveryQuestion(t *testing.T) {
	names := strings.Join(FlagNames(), " ")
	for _, want := range []string{"address", "account", "provider", "host", "port", "tls", "tls-trust-file", "auth", "user", "password-store", "password-file", "password-command", "oauth-provider", "oauth-client-id", "login", "dry-run", "yes"} {
		if !strings.Contains(" "+names+" ", " "+want+" ") {
			t.Errorf("flag --%s missing from %s", want, names)
		}
	}
}
