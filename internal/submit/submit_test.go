package submit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func selfSignedCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mail.example.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSConfigVerifiesByDefaultWithTLS12Minimum(t *testing.T) {
	c, err := TLSConfig(&config.Account{Name: "a", Host: "smtp.example.org", TLSVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.InsecureSkipVerify || c.ServerName != "smtp.example.org" || c.MinVersion != tls.VersionTLS12 || c.RootCAs != nil {
		t.Fatalf("default TLS config %+v", c)
	}
}

func TestTLSConfigTrustFileReplacesSystemRoots(t *testing.T) {
	cert := selfSignedCert(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	c, err := TLSConfig(&config.Account{Name: "a", Host: "h", TLSVerify: true, TLSTrustFile: good})
	if err != nil || c.RootCAs == nil || c.InsecureSkipVerify {
		t.Fatalf("trust file: %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "empty.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o644)
	for _, f := range []string{bad, filepath.Join(dir, "missing.pem")} {
		_, err := TLSConfig(&config.Account{Name: "a", Host: "h", TLSVerify: true, TLSTrustFile: f})
		if sysexits.Code(err) != sysexits.Config || !strings.Contains(err.Error(), "tls_trust_file") {
			t.Errorf("%s: want a config error naming tls_trust_file, got %v", f, err)
		}
	}
}

func TestTLSFingerprintPinsTheLeafCertificate(t *testing.T) {
	cert := selfSignedCert(t)
	pin := Fingerprint(cert) // colon form, as users paste it
	c, err := TLSConfig(&config.Account{Name: "a", Host: "h", TLSVerify: true, TLSFingerprint: strings.ToLower(pin)})
	if err != nil {
		t.Fatal(err)
	}
	if !c.InsecureSkipVerify || c.VerifyConnection == nil {
		t.Fatal("a pin must replace chain verification with the fingerprint check")
	}
	if err := c.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}); err != nil {
		t.Fatalf("matching pin refused: %v", err)
	}
	other := selfSignedCert(t)
	err = c.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{other}})
	if err == nil || !strings.Contains(err.Error(), "fingerprint mismatch") || !strings.Contains(err.Error(), Fingerprint(other)) {
		t.Fatalf("mismatch: %v", err)
	}
	if err := c.VerifyConnection(tls.ConnectionState{}); err == nil {
		t.Fatal("no certificate accepted under a pin")
	}
}

func TestTLSVerifyFalseDisablesChecksOnlyWhenAsked(t *testing.T) {
	c, _ := TLSConfig(&config.Account{Name: "a", Host: "h", TLSVerify: false})
	if !c.InsecureSkipVerify {
		t.Fatal("tls_verify = false did not disable verification")
	}
}

func TestTLSModeFollowsTheAccount(t *testing.T) {
	for word, want := range map[string]smtp.TLSMode{"tls": smtp.Implicit, "starttls": smtp.StartTLS, "none": smtp.None} {
		p := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(p, []byte("[account.a]\nhost = \"h.example\"\ntls = \""+word+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := TLSMode(f.Accounts["a"]); got != want {
			t.Errorf("tls = %q: mode %v, want %v", word, got, want)
		}
	}
}

func TestWithAccountKeepsTheExitCodeAndNamesTheServer(t *testing.T) {
	a := &config.Account{Name: "work", Host: "smtp.example.org", Port: 587}
	err := withAccount(a, sysexits.New(sysexits.NoPerm, os.ErrPermission))
	if sysexits.Code(err) != sysexits.NoPerm || !strings.Contains(err.Error(), `account "work" (smtp.example.org:587)`) {
		t.Fatalf("got %v (code %d)", err, sysexits.Code(err))
	}
	if withAccount(a, nil) != nil {
		t.Fatal("nil error wrapped")
	}
}
