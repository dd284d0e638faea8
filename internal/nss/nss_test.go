package nss

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/nss/nsstest"
)

// nssProfile makes a profile with NSS itself (see internal/nss/nsstest).
func nssProfile(t *testing.T, primary string, logins []Login) string {
	t.Helper()
	dir := t.TempDir()
	var ls []nsstest.Login
	for _, l := range logins {
		ls = append(ls, nsstest.Login{Origin: l.Origin, Realm: l.Realm, Username: l.Username, Password: l.Password})
	}
	nsstest.Profile(t, dir, primary, ls)
	return dir
}

var thunderbirdLogins = []Login{
	{Origin: "oauth://accounts.google.com", Realm: "https://mail.google.com/", Username: "me@gmail.com",
		Password: "1//0gFAKE-refresh-token-made-up-for-tests_" + strings.Repeat("x", 60)},
	{Origin: "smtp://mail.example.org", Realm: "smtp://mail.example.org", Username: "joe", Password: "pässword with spaces & \"quotes\""},
}

func checkLogins(t *testing.T, got []Login) {
	t.Helper()
	if len(got) != len(thunderbirdLogins) {
		t.Fatalf("%d logins, want %d", len(got), len(thunderbirdLogins))
	}
	for i, w := range thunderbirdLogins {
		if got[i] != w {
			t.Errorf("login %d: got %v (password %d bytes), want %v", i, got[i], len(got[i].Password), w)
		}
	}
}

func TestDecryptsLoginsNSSEncryptedWithoutPrimaryPassword(t *testing.T) {
	dir := nssProfile(t, "", thunderbirdLogins)
	keys, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadLogins(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	checkLogins(t, got)
}

func TestDecryptsLoginsNSSEncryptedUnderPrimaryPassword(t *testing.T) {
	const primary = "Pr1mary-pw ü"
	dir := nssProfile(t, primary, thunderbirdLogins)
	if _, err := Open(dir, ""); !errors.Is(err, ErrPrimaryPassword) {
		t.Fatalf("Open without the primary password = %v, want ErrPrimaryPassword", err)
	}
	if _, err := Open(dir, "wrong"); !errors.Is(err, ErrPrimaryPassword) {
		t.Fatalf("Open with a wrong primary password = %v, want ErrPrimaryPassword", err)
	}
	keys, err := Open(dir, primary)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadLogins(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	checkLogins(t, got)
}

func TestErrorsNeverHoldTheSecret(t *testing.T) {
	dir := nssProfile(t, "", thunderbirdLogins[:1])
	keys, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	// A logins.json from another profile: its key ID is unknown here.
	other := nssProfile(t, "", thunderbirdLogins[:1])
	b, _ := os.ReadFile(filepath.Join(other, "logins.json"))
	if err := os.WriteFile(filepath.Join(dir, "logins.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Same default key ID in every new database, so the key is found but
	// the padding check fails: a wrong-key error, not garbage.
	_, err = ReadLogins(dir, keys)
	if err == nil {
		t.Fatal("logins of another profile decrypted")
	}
	if strings.Contains(err.Error(), thunderbirdLogins[0].Password) {
		t.Fatalf("error holds the secret: %v", err)
	}
	if s := (thunderbirdLogins[0]).String(); strings.Contains(s, thunderbirdLogins[0].Password) {
		t.Fatalf("Login.String prints the password: %s", s)
	}
}

// The legacy pbeWithSha1AndTripleDES-CBC form cannot be produced with a
// current NSS (3.38 and newer write PBES2), so this test builds an entry
// with the derivation written out step by step from the formula in
// deriveSHA1TripleDES's comment and checks decryptPBE reads it.
func TestDecryptsLegacyTripleDESEntry(t *testing.T) {
	globalSalt, entrySalt := make([]byte, 20), make([]byte, 20)
	rand.Read(globalSalt)
	rand.Read(entrySalt)
	key, iv := deriveSHA1TripleDES(sha1Sum(append(append([]byte(nil), globalSalt...), "pw"...)), entrySalt)
	plain := []byte("password-check\x02\x02")
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	params, _ := asn1.Marshal(sha1PBEParams{Salt: entrySalt, Iterations: 1})
	der, err := asn1.Marshal(encrypted{Algorithm: algorithm{Algorithm: oidPBESHA1TDESCBC, Parameters: asn1.RawValue{FullBytes: params}}, Data: ct})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decryptPBE(der, globalSalt, "pw")
	if err != nil || string(got) != "password-check" {
		t.Fatalf("decryptPBE = %q, %v", got, err)
	}
	// A wrong password gives other bytes. CBC has no integrity check, so
	// about one try in 256 still ends in valid padding and returns no
	// error; the check value is what the caller compares (nss.go), and
	// that a wrong password can never produce.
	if got, err := decryptPBE(der, globalSalt, "other"); err == nil && bytes.HasPrefix(got, []byte("password-check")) {
		t.Fatal("a wrong password decrypted the legacy entry")
	}
}

// FuzzDecrypt feeds arbitrary logins.json values and key4.db entries
// (a profile is untrusted input): errors, never a panic.
func FuzzDecrypt(f *testing.F) {
	f.Add("MDoEEPgAAAAAAAAAAAAAAAAAAAEwFAYIKoZIhvcNAwcECFAdduVtkpw1BBBz4Ri8fhle/bvRaIUAXhhk", []byte{0x30, 0x00})
	f.Add("", []byte("0\x81\x81"))
	f.Fuzz(func(t *testing.T, b64 string, der []byte) {
		k := &Keys{byID: map[string][]byte{"\xf8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01": make([]byte, 24)}}
		k.Decrypt(b64)
		k.Decrypt(base64.StdEncoding.EncodeToString(der))
		decryptPBE(der, []byte("salt"), "")
	})
}

func sha1Sum(b []byte) []byte {
	h := sha1.New()
	h.Write(b)
	return h.Sum(nil)
}
