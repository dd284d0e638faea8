package submit

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// TLSConfig builds the client TLS configuration for an account.
//
//   - default: the system roots verify the server's name and chain;
//   - tls_trust_file: only the certificates in that PEM file are trusted;
//   - tls_fingerprint: the leaf certificate's SHA-256 must match; the pin
//     replaces chain verification (as in msmtp), so self-signed servers work;
//   - tls_verify = false: nothing is checked (the caller warns loudly).
//
// TLS 1.2 is the minimum in every case.
func TLSConfig(a *config.Account) (*tls.Config, error) {
	c := &tls.Config{ServerName: a.Host, MinVersion: tls.VersionTLS12}
	if a.TLSTrustFile != "" {
		pem, err := os.ReadFile(a.TLSTrustFile)
		if err != nil {
			return nil, sysexits.New(sysexits.Config, fmt.Errorf("cannot read tls_trust_file: %v", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sysexits.New(sysexits.Config, fmt.Errorf("tls_trust_file %s holds no PEM certificate", a.TLSTrustFile))
		}
		c.RootCAs = pool
	}
	if fp := normalizeFingerprint(a.TLSFingerprint); fp != "" {
		c.InsecureSkipVerify = true // replaced by the pin check below
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			got := hex.EncodeToString(sum[:])
			if got != fp {
				return fmt.Errorf("certificate fingerprint mismatch: server presented sha256 %s, tls_fingerprint expects %s (if the server's certificate was renewed, check it and update tls_fingerprint)", colonHex(got), colonHex(fp))
			}
			return nil
		}
	} else if !a.TLSVerify {
		c.InsecureSkipVerify = true
	}
	return c, nil
}

func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

func colonHex(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i:min(i+2, len(h))]))
	}
	return b.String()
}

// Fingerprint returns the SHA-256 fingerprint of a certificate in the
// colon-separated form tls_fingerprint accepts.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return colonHex(hex.EncodeToString(sum[:]))
}
