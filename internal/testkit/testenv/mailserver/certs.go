package mailserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Certificate kinds for Options.CertKind.
const (
	CertGood       = "good"       // signed by the CA in CAFile, right names, valid now
	CertExpired    = "expired"    // signed by the CA, right names, expired a day ago
	CertWrongName  = "wrongname"  // signed by the CA, valid, but only for wrong.gsendmail.test
	CertSelfSigned = "selfsigned" // right names, valid, but not signed by the CA in CAFile
)

// serverNames are the DNS names a "good" server certificate carries. The IP
// 127.0.0.1 is added as well so clients that dial the literal verify too.
var serverNames = []string{"localhost", Hostname}

// tlsMaterial is what Start writes to disk: PEM blocks and the leaf's
// fingerprint.
type tlsMaterial struct {
	caPEM       []byte
	certPEM     []byte // leaf only
	keyPEM      []byte
	fingerprint string // hex SHA-256 of the leaf's DER
}

// newTLSMaterial creates a fresh CA and a server certificate of the given
// kind. Keys are ECDSA P-256: fast to generate, accepted by OpenSSL and Go.
func newTLSMaterial(kind string, now time.Time) (*tlsMaterial, error) {
	switch kind {
	case "", CertGood, CertExpired, CertWrongName, CertSelfSigned:
	default:
		return nil, fmt.Errorf("unknown CertKind %q: use good, expired, wrongname or selfsigned", kind)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gsendmail test CA", Organization: []string{"gsendmail tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: Hostname},
		DNSNames:     serverNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := caCert, caKey
	switch kind {
	case CertExpired:
		leaf.NotBefore = now.Add(-48 * time.Hour)
		leaf.NotAfter = now.Add(-24 * time.Hour)
	case CertWrongName:
		leaf.Subject.CommonName = "wrong.gsendmail.test"
		leaf.DNSNames = []string{"wrong.gsendmail.test"}
		leaf.IPAddresses = nil
	case CertSelfSigned:
		// Its own issuer; the CA written to CAFile is unrelated to it.
		leaf.BasicConstraintsValid = true
		leaf.KeyUsage |= x509.KeyUsageCertSign
		parent, signer = leaf, key
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(leafDER)
	return &tlsMaterial{
		caPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		keyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		fingerprint: hex.EncodeToString(sum[:]),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}
