// Package nsstest makes Mozilla profiles for tests with NSS itself:
// certutil (Debian's libnss3-tools) creates key4.db, and NSS's own
// PK11SDR_Encrypt, called from a small Python ctypes script on
// libnss3.so, encrypts the logins that go into logins.json, exactly as
// Thunderbird stores them. Nothing here encrypts with our own code, so a
// test that decrypts these files checks internal/nss against NSS.
package nsstest

import (
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed sdr_encrypt.py
var script []byte

// RequireEnv makes a missing tool a failure instead of a skip (the same
// switch as internal/testkit/testenv/mailserver's).
const RequireEnv = "GSENDMAIL_REQUIRE_REAL_SERVERS"

// Login is one entry for logins.json.
type Login struct {
	Origin   string // "smtp://host", "oauth://accounts.google.com"
	Realm    string // httpRealm
	Username string
	Password string
}

func need(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := names[0] + " not installed: run internal/testkit/testenv/install-deps.sh (libnss3-tools, python3)"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1)", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// Profile writes key4.db (primary password primary, "" for none) and
// logins.json holding logins into dir, which must exist.
func Profile(t testing.TB, dir, primary string, logins []Login) {
	t.Helper()
	certutil := need(t, "certutil")
	python := need(t, "/usr/bin/python3", "python3")
	args := []string{"-N", "-d", "sql:" + dir}
	if primary == "" {
		args = append(args, "--empty-password")
	} else {
		pwf := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pwf, []byte(primary+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", pwf)
	}
	if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
		t.Fatalf("certutil %v: %v: %s", args, err, out)
	}
	sp := filepath.Join(t.TempDir(), "sdr_encrypt.py")
	if err := os.WriteFile(sp, script, 0o600); err != nil {
		t.Fatal(err)
	}
	in := primary + "\n"
	for _, l := range logins {
		in += l.Username + "\n" + l.Password + "\n"
	}
	cmd := exec.Command(python, sp, dir)
	cmd.Stdin = strings.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("NSS PK11SDR_Encrypt script: %v: %s", err, stderr.String())
	}
	enc := strings.Fields(string(out))
	if len(enc) != 2*len(logins) {
		t.Fatalf("script printed %d values for %d logins", len(enc), len(logins))
	}
	type entry struct {
		ID                  int     `json:"id"`
		Hostname            string  `json:"hostname"`
		HTTPRealm           *string `json:"httpRealm"`
		FormSubmitURL       *string `json:"formSubmitURL"`
		UsernameField       string  `json:"usernameField"`
		PasswordField       string  `json:"passwordField"`
		EncryptedUsername   string  `json:"encryptedUsername"`
		EncryptedPassword   string  `json:"encryptedPassword"`
		GUID                string  `json:"guid"`
		EncType             int     `json:"encType"`
		TimesUsed           int     `json:"timesUsed"`
		TimeCreated         int64   `json:"timeCreated"`
		TimeLastUsed        int64   `json:"timeLastUsed"`
		TimePasswordChanged int64   `json:"timePasswordChanged"`
	}
	var doc struct {
		NextID                           int      `json:"nextId"`
		Logins                           []entry  `json:"logins"`
		PotentiallyVulnerablePasswords   []string `json:"potentiallyVulnerablePasswords"`
		DismissedBreachAlertsByLoginGUID struct{} `json:"dismissedBreachAlertsByLoginGUID"`
		Version                          int      `json:"version"`
	}
	for i, l := range logins {
		realm := l.Realm
		doc.Logins = append(doc.Logins, entry{ID: i + 1, Hostname: l.Origin, HTTPRealm: &realm,
			EncryptedUsername: enc[2*i], EncryptedPassword: enc[2*i+1], EncType: 1,
			GUID: "{00000000-0000-4000-8000-00000000000" + string(rune('0'+i%10)) + "}", TimesUsed: 1})
	}
	doc.NextID, doc.Version = len(logins)+1, 3
	doc.PotentiallyVulnerablePasswords = []string{}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logins.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
