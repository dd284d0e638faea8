package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/nss"
)

func loadPrefsFixture(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/thunderbird/prefs.js")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePrefs(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePrefsReadsStringsNumbersBooleansAndEscapes(t *testing.T) {
	p := loadPrefsFixture(t)
	if p["mail.identity.id2.fullName"] != `Joë "Work" Example` {
		t.Errorf("escaped string read as %q", p["mail.identity.id2.fullName"])
	}
	if p["mail.smtpserver.smtp1.port"] != 465 || p["mailnews.start_page.enabled"] != false {
		t.Errorf("number/boolean: %v %v", p["mail.smtpserver.smtp1.port"], p["mailnews.start_page.enabled"])
	}
	for _, bad := range []string{`user_pref("a", );`, `user_pref("a" 1);`, `user_pref("a", "x)`, `frob("a", 1);`, `user_pref("a", 1)`} {
		if _, err := ParsePrefs([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	p2, err := ParsePrefs([]byte("# hash\n/* block\n */ pref('b', -3); sticky_pref(\"c\", \"\\x41\\n\");"))
	if err != nil || p2["b"] != -3 || p2["c"] != "A\n" {
		t.Errorf("got %v, %v", p2, err)
	}
}

func TestThunderbirdOutgoingServersBecomeAccounts(t *testing.T) {
	ims, notes := ImportThunderbird("prefs.js", loadPrefsFixture(t), nil)
	if len(ims) != 3 {
		t.Fatalf("%d accounts, want 3", len(ims))
	}
	g, c, r := ims[0], ims[1], ims[2]
	if a := g.Account; a.Name != "gmail" || a.Host != "smtp.gmail.com" || a.Port != 465 || a.TLS.String() != "tls" || a.Auth != AuthOAuth2 ||
		a.OAuthProvider != "google" || a.User != "joe.example@gmail.com" || a.Address != "joe.example@gmail.com" || !g.NeedsOAuth || g.Token != "" {
		t.Errorf("Gmail server (authMethod 10) imported as %+v", g)
	}
	if a := c.Account; a.Host != "mail.corp.example" || a.Port != 587 || a.TLS.String() != "starttls" || a.Auth != AuthPassword ||
		a.User != "joe" || a.Address != "joe@corp.example" || !a.Default || !c.AskPassword {
		t.Errorf("password server imported as %+v", c)
	}
	if a := r.Account; a.Host != "relay.example" || a.Port != 25 || a.TLS.String() != "none" || a.Auth != AuthNone || a.Address != "" {
		t.Errorf("relay imported as %+v", r)
	}
	all := ""
	for _, n := range notes {
		all += n.String() + "\n"
	}
	for _, want := range []string{"smtp2.identities: 3 identities", "support@corp.example, joe@relay.example", "smtp2.port: not set", "--with-token"} {
		if !strings.Contains(all, want) {
			t.Errorf("report lacks %q:\n%s", want, all)
		}
	}
	for _, im := range ims {
		a := im.Account
		if a.Auth == AuthPassword {
			a.PasswordStore, a.PasswordFile = StoreFile, "/tmp/pw"
		}
		if a.Auth == AuthOAuth2 {
			a.OAuthClientID = "id"
		}
		if _, err := parseProbe(RenderFile(a)); err != nil {
			t.Errorf("account %s does not load: %v", a.Name, err)
		}
	}
}

func TestThunderbirdSavedLoginsFillPasswordAndToken(t *testing.T) {
	logins := []nss.Login{
		{Origin: "oauth://accounts.google.com", Realm: "https://mail.google.com/", Username: "joe.example@gmail.com", Password: "1//refresh"},
		{Origin: "oauth://login.microsoftonline.com", Username: "joe.example@gmail.com", Password: "wrong-issuer"},
		{Origin: "imap://mail.corp.example", Username: "joe", Password: "imap-pw"},
		{Origin: "smtp://mail.corp.example", Realm: "smtp://mail.corp.example", Username: "joe", Password: "smtp-pw"},
	}
	ims, _ := ImportThunderbird("prefs.js", loadPrefsFixture(t), logins)
	if ims[0].Token != "1//refresh" {
		t.Errorf("Gmail token %q", ims[0].Token)
	}
	if ims[1].Password != "smtp-pw" || ims[1].AskPassword {
		t.Errorf("SMTP password %q (ask %v)", ims[1].Password, ims[1].AskPassword)
	}
}

func TestDefaultProfileFromProfilesIni(t *testing.T) {
	root := "/home/joe/.thunderbird"
	for _, tc := range []struct{ ini, want, err string }{
		{"[Install4F96D1932A9F858E]\nDefault=abcd.default-release\nLocked=1\n\n[Profile1]\nName=default\nIsRelative=1\nPath=xyz.default\nDefault=1\n\n[Profile0]\nName=default-release\nIsRelative=1\nPath=abcd.default-release\n",
			root + "/abcd.default-release", ""},
		{"[General]\nStartWithLastProfile=1\n\n[Profile0]\nName=a\nIsRelative=1\nPath=a.x\n\n[Profile1]\nName=b\nIsRelative=0\nPath=/data/tb/b\nDefault=1\n", "/data/tb/b", ""},
		{"[Profile0]\nName=only\nIsRelative=1\nPath=only.p\n", root + "/only.p", ""},
		{"[Profile0]\nPath=a\n[Profile1]\nPath=b\n", "", "none is the default"},
		{"[General]\n", "", "no profile"},
	} {
		got, err := defaultProfile(strings.NewReader(tc.ini), root)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("got %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestFindThunderbirdProfileLooksInTheUsualPlaces(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".var", "app", "org.mozilla.Thunderbird", ".thunderbird")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "profiles.ini"), []byte("[Profile0]\nIsRelative=1\nPath=p.default\nDefault=1\n"), 0o600)
	got, err := FindThunderbirdProfile(home, "")
	if err != nil || got != filepath.Join(dir, "p.default") {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := FindThunderbirdProfile(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "--from-thunderbird=DIR") {
		t.Fatalf("no profile: %v", err)
	}
}

// FuzzParsePrefs: a prefs.js is untrusted input; the parser must return
// values or an error, and whatever servers it finds must map to accounts
// without panicking.
func FuzzParsePrefs(f *testing.F) {
	if b, err := os.ReadFile("testdata/thunderbird/prefs.js"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`user_pref("mail.smtpservers", "a,b"); user_pref("mail.smtpserver.a.hostname", "h\u0000");`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePrefs(b)
		if err != nil {
			return
		}
		ImportThunderbird("prefs.js", p, nil)
	})
}
