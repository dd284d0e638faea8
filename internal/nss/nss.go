// Package nss decrypts the logins a Mozilla program (Thunderbird,
// Firefox) keeps in a profile: logins.json, whose user names and
// passwords (for Thunderbird's OAuth2 accounts, the refresh token) are
// encrypted with NSS's "secret decoder ring" key, which key4.db holds
// encrypted under the primary password.
//
// The formats, as NSS writes them:
//
//   - key4.db is SQLite (read with internal/sqlite). Table metaData, row
//     id = "password": item1 is the global salt, item2 an encrypted
//     check value that decrypts to "password-check" with the right
//     primary password ("" when none is set). Table nssPrivate: one row
//     per private key, a11 (CKA_VALUE) the encrypted key, a102 (CKA_ID)
//     its id.
//   - Encrypted entries in key4.db are DER: AlgorithmIdentifier and
//     ciphertext. Newer NSS (3.38 on) uses PBES2 (RFC 8018) with
//     PBKDF2-HMAC-SHA256 and AES-256-CBC, where the PBKDF2 password is
//     SHA-1(global salt || primary password) and the 16-byte IV is stored
//     as 14 bytes that follow an implied 04 0E (NSS encodes the IV
//     OCTET STRING inside the parameter). Older profiles use
//     pbeWithSha1AndTripleDES-CBC (OID 1.2.840.113549.1.12.5.1.3) with
//     NSS's own key derivation (see deriveSHA1TripleDES), not PKCS#12's.
//   - logins.json's encryptedUsername/encryptedPassword are base64 DER of
//     SEQUENCE { keyID, AlgorithmIdentifier (3DES-CBC or AES-256-CBC with
//     its IV), ciphertext }: PK11SDR_Encrypt's output. keyID selects the
//     nssPrivate row.
//
// It does not read key3.db (Berkeley DB, Thunderbird before 58), never
// writes a profile, and never returns a secret in an error.
package nss

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/sqlite"
)

// ErrPrimaryPassword means key4.db is protected by a primary password and
// the one given (perhaps "") is not it.
var ErrPrimaryPassword = errors.New("the profile's primary password is needed (or the one given is wrong)")

var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidDESEDE3CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidPBESHA1TDESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 5, 1, 3}
)

type algorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type encrypted struct {
	Algorithm algorithm
	Data      []byte
}

type pbes2Params struct {
	KDF    algorithm
	Cipher algorithm
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int       `asn1:"optional"`
	PRF        algorithm `asn1:"optional"`
}

type sha1PBEParams struct {
	Salt       []byte
	Iterations int
}

type sdrBlob struct {
	KeyID     []byte
	Algorithm algorithm
	Data      []byte
}

// Keys are a profile's decrypted SDR keys, by key ID.
type Keys struct {
	byID map[string][]byte
}

// maxIterations bounds PBKDF2 work for an untrusted file (NSS uses 10000
// with a password, 1 without).
const maxIterations = 10_000_000

// Open reads dir/key4.db and decrypts its keys with the primary password
// ("" when none is set). A wrong password gives ErrPrimaryPassword.
func Open(dir, password string) (*Keys, error) {
	p := filepath.Join(dir, "key4.db")
	if _, err := os.Stat(p); err != nil {
		if _, err3 := os.Stat(filepath.Join(dir, "key3.db")); err3 == nil {
			return nil, fmt.Errorf("%s has only key3.db (a profile from before Thunderbird 58): open it once with a current Thunderbird to convert it", dir)
		}
		return nil, err
	}
	db, err := sqlite.Open(p)
	if err != nil {
		return nil, err
	}
	return openDB(db, p, password)
}

func openDB(db *sqlite.DB, name, password string) (*Keys, error) {
	meta, err := db.Table("metaData")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	id, i1, i2 := meta.Column("id"), meta.Column("item1"), meta.Column("item2")
	if id < 0 || i1 < 0 || i2 < 0 {
		return nil, fmt.Errorf("%s: metaData lacks id, item1 or item2", name)
	}
	var salt, check []byte
	for _, r := range meta.Rows {
		if s, _ := r[id].(string); s == "password" {
			salt, _ = r[i1].([]byte)
			check, _ = r[i2].([]byte)
		}
	}
	if salt == nil || check == nil {
		return nil, fmt.Errorf("%s: no password entry in metaData", name)
	}
	plain, err := decryptPBE(check, salt, password)
	if err != nil || !bytes.HasPrefix(plain, []byte("password-check")) {
		return nil, ErrPrimaryPassword
	}
	priv, err := db.Table("nssPrivate")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	value, kid := priv.Column("a11"), priv.Column("a102")
	if value < 0 || kid < 0 {
		return nil, fmt.Errorf("%s: nssPrivate lacks a11 or a102", name)
	}
	k := &Keys{byID: map[string][]byte{}}
	for _, r := range priv.Rows {
		enc, _ := r[value].([]byte)
		idb, _ := r[kid].([]byte)
		if enc == nil || idb == nil {
			continue
		}
		key, err := decryptPBE(enc, salt, password)
		if err != nil {
			return nil, fmt.Errorf("%s: decrypting key %x: %w", name, idb, err)
		}
		k.byID[string(idb)] = key
	}
	if len(k.byID) == 0 {
		return nil, fmt.Errorf("%s holds no key (no password was ever saved in this profile)", name)
	}
	return k, nil
}

// decryptPBE decrypts a key4.db entry encrypted under the primary
// password.
func decryptPBE(der, globalSalt []byte, password string) ([]byte, error) {
	var e encrypted
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) > 0 {
		return nil, errors.New("not a DER encrypted entry")
	}
	hp := sha1.Sum(append(append([]byte(nil), globalSalt...), password...))
	switch {
	case e.Algorithm.Algorithm.Equal(oidPBES2):
		var p pbes2Params
		if _, err := asn1.Unmarshal(e.Algorithm.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("PBES2 parameters: %v", err)
		}
		if !p.KDF.Algorithm.Equal(oidPBKDF2) {
			return nil, fmt.Errorf("PBES2 with key derivation %v is not supported", p.KDF.Algorithm)
		}
		var kp pbkdf2Params
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
			return nil, fmt.Errorf("PBKDF2 parameters: %v", err)
		}
		if kp.Iterations < 1 || kp.Iterations > maxIterations {
			return nil, fmt.Errorf("PBKDF2 iteration count %d", kp.Iterations)
		}
		var prf func() hash.Hash
		switch a := kp.PRF.Algorithm; {
		case len(a) == 0 || a.Equal(oidHMACSHA1):
			prf = sha1.New
		case a.Equal(oidHMACSHA256):
			prf = sha256.New
		case a.Equal(oidHMACSHA384):
			prf = sha512.New384
		case a.Equal(oidHMACSHA512):
			prf = sha512.New
		default:
			return nil, fmt.Errorf("PBKDF2 with PRF %v is not supported", a)
		}
		block, iv, err := cipherFor(p.Cipher, func(n int) ([]byte, error) {
			if kp.KeyLength != 0 && kp.KeyLength != n {
				return nil, fmt.Errorf("key length %d for a %d-byte cipher", kp.KeyLength, n)
			}
			return pbkdf2.Key(prf, string(hp[:]), kp.Salt, kp.Iterations, n)
		})
		if err != nil {
			return nil, err
		}
		return cbcDecrypt(block, iv, e.Data)
	case e.Algorithm.Algorithm.Equal(oidPBESHA1TDESCBC):
		var p sha1PBEParams
		if _, err := asn1.Unmarshal(e.Algorithm.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("PBE-SHA1-3DES parameters: %v", err)
		}
		key, iv := deriveSHA1TripleDES(hp[:], p.Salt)
		block, err := des.NewTripleDESCipher(key)
		if err != nil {
			return nil, err
		}
		return cbcDecrypt(block, iv, e.Data)
	}
	return nil, fmt.Errorf("encryption %v is not supported", e.Algorithm.Algorithm)
}

// deriveSHA1TripleDES is NSS's own key derivation for
// pbeWithSha1AndTripleDES-CBC entries of key3.db and older key4.db (it is
// not PKCS#12's): with hp = SHA-1(global salt || password) and the entry
// salt es,
//
//	chp = SHA-1(hp || es)
//	pes = es zero-padded to 20 bytes
//	k1  = HMAC-SHA1(chp, pes || es)
//	tk  = HMAC-SHA1(chp, pes)
//	k2  = HMAC-SHA1(chp, tk || es)
//
// and k1 || k2 gives the 24-byte key (first bytes) and the IV (last 8).
func deriveSHA1TripleDES(hp, es []byte) (key, iv []byte) {
	chpSum := sha1.Sum(append(append([]byte(nil), hp...), es...))
	chp := chpSum[:]
	pes := make([]byte, max(20, len(es)))
	copy(pes, es)
	mac := func(parts ...[]byte) []byte {
		h := hmac.New(sha1.New, chp)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	k1 := mac(pes, es)
	tk := mac(pes)
	k2 := mac(tk, es)
	k := append(k1, k2...)
	return k[:24], k[len(k)-8:]
}

// cipherFor builds the block cipher an AlgorithmIdentifier names; key
// returns the key of the length the cipher needs.
func cipherFor(a algorithm, key func(n int) ([]byte, error)) (cipher.Block, []byte, error) {
	var iv []byte
	if _, err := asn1.Unmarshal(a.Parameters.FullBytes, &iv); err != nil {
		return nil, nil, fmt.Errorf("cipher IV: %v", err)
	}
	switch {
	case a.Algorithm.Equal(oidAES256CBC), a.Algorithm.Equal(oidAES128CBC):
		n := 32
		if a.Algorithm.Equal(oidAES128CBC) {
			n = 16
		}
		if len(iv) == 14 {
			iv = append([]byte{0x04, 0x0e}, iv...)
		}
		if len(iv) != aes.BlockSize {
			return nil, nil, fmt.Errorf("AES IV of %d bytes", len(iv))
		}
		k, err := key(n)
		if err != nil {
			return nil, nil, err
		}
		b, err := aes.NewCipher(k)
		return b, iv, err
	case a.Algorithm.Equal(oidDESEDE3CBC):
		if len(iv) != des.BlockSize {
			return nil, nil, fmt.Errorf("3DES IV of %d bytes", len(iv))
		}
		k, err := key(24)
		if err != nil {
			return nil, nil, err
		}
		b, err := des.NewTripleDESCipher(k)
		return b, iv, err
	}
	return nil, nil, fmt.Errorf("cipher %v is not supported", a.Algorithm)
}

func cbcDecrypt(b cipher.Block, iv, data []byte) ([]byte, error) {
	bs := b.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errors.New("ciphertext is not whole blocks")
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	return unpad(out, bs)
}

// unpad removes PKCS#7 padding; a mismatch means the wrong key.
func unpad(b []byte, bs int) ([]byte, error) {
	n := int(b[len(b)-1])
	if n == 0 || n > bs || n > len(b) {
		return nil, errors.New("bad padding (wrong key or password)")
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errors.New("bad padding (wrong key or password)")
		}
	}
	return b[:len(b)-n], nil
}

// Decrypt decrypts one logins.json value (base64 of PK11SDR_Encrypt's
// output).
func (k *Keys) Decrypt(b64 string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", errors.New("encrypted value is not base64")
	}
	var s sdrBlob
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) > 0 {
		return "", errors.New("encrypted value is not an NSS SDR blob")
	}
	key, ok := k.byID[string(s.KeyID)]
	if !ok {
		return "", fmt.Errorf("no key %s in key4.db (logins.json and key4.db are from different profiles?)", hex.EncodeToString(s.KeyID))
	}
	block, iv, err := cipherFor(s.Algorithm, func(n int) ([]byte, error) {
		if len(key) < n {
			return nil, fmt.Errorf("key of %d bytes for a %d-byte cipher", len(key), n)
		}
		return key[:n], nil
	})
	if err != nil {
		return "", err
	}
	plain, err := cbcDecrypt(block, iv, s.Data)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// Login is one saved login. For Thunderbird, an SMTP password has Origin
// "smtp://HOST"; an OAuth2 refresh token has Origin "oauth://ISSUER"
// (accounts.google.com, login.microsoftonline.com) and the scopes as
// Realm.
type Login struct {
	Origin   string
	Realm    string
	Username string
	Password string
}

// String leaves the password out, so printing a Login leaks nothing.
func (l Login) String() string {
	return fmt.Sprintf("login %s %q for %s", l.Origin, l.Realm, l.Username)
}

// GoString is String, for %#v.
func (l Login) GoString() string { return l.String() }

// MaxLoginsSize bounds logins.json.
const MaxLoginsSize = 16 << 20

// ReadLogins decrypts dir/logins.json with keys.
func ReadLogins(dir string, keys *Keys) ([]Login, error) {
	p := filepath.Join(dir, "logins.json")
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxLoginsSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, MaxLoginsSize)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return decodeLogins(b, p, keys)
}

func decodeLogins(b []byte, name string, keys *Keys) ([]Login, error) {
	var doc struct {
		Logins []struct {
			Hostname          string  `json:"hostname"`
			HTTPRealm         *string `json:"httpRealm"`
			EncryptedUsername string  `json:"encryptedUsername"`
			EncryptedPassword string  `json:"encryptedPassword"`
		} `json:"logins"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var out []Login
	for i, e := range doc.Logins {
		u, err := keys.Decrypt(e.EncryptedUsername)
		if err != nil {
			return nil, fmt.Errorf("%s: login %d (%s): user name: %w", name, i+1, e.Hostname, err)
		}
		pw, err := keys.Decrypt(e.EncryptedPassword)
		if err != nil {
			return nil, fmt.Errorf("%s: login %d (%s): password: %w", name, i+1, e.Hostname, err)
		}
		l := Login{Origin: e.Hostname, Username: u, Password: pw}
		if e.HTTPRealm != nil {
			l.Realm = *e.HTTPRealm
		}
		out = append(out, l)
	}
	return out, nil
}
