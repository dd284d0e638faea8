package doctor

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// tlsWatch wraps a TLS policy so the handshake can be reported whatever
// its outcome: the certificate is recorded before it is judged, and the
// judgement is made by the same rules the policy would apply (the chain
// against RootCAs and the server name unless InsecureSkipVerify, then the
// policy's own VerifyConnection, e.g. a tls_fingerprint pin).
type tlsWatch struct {
	mu        sync.Mutex
	state     *tls.ConnectionState
	chainErr  error // the standard verification, whatever the policy
	verifyErr error // what the policy decided
	skip      bool  // the policy does not verify the chain
	pinned    bool  // the policy has its own VerifyConnection
	now       func() time.Time
	onDone    func(tls.ConnectionState)
}

func (w *tlsWatch) config(policy *tls.Config) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if policy != nil {
		c = policy.Clone()
	}
	orig := c.VerifyConnection
	w.skip = c.InsecureSkipVerify
	w.pinned = orig != nil
	roots := c.RootCAs
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		chainErr := verifyChain(cs, roots, w.now())
		err := chainErr
		if w.skip {
			err = nil
		}
		if err == nil && orig != nil {
			err = orig(cs)
		}
		w.mu.Lock()
		w.state, w.chainErr, w.verifyErr = &cs, chainErr, err
		w.mu.Unlock()
		if w.onDone != nil {
			w.onDone(cs)
		}
		return err
	}
	return c
}

func (w *tlsWatch) result() (*tls.ConnectionState, error, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state, w.chainErr, w.verifyErr
}

// verifyChain does what crypto/tls does for a client without
// InsecureSkipVerify: the leaf must chain to roots (nil: the system's)
// through the intermediates the server sent, and be valid for the name
// the client asked for.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       cs.ServerName,
		CurrentTime:   now,
	})
	return err
}

// Fingerprint is the SHA-256 of a certificate's DER in the form
// tls_fingerprint takes (colon-separated upper-case hex).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// reportTLS adds the tls, certificate, verify and fingerprint lines.
// trust says what the policy trusts ("the system's CA roots",
// "tls_trust_file /x.pem"); fixTrust is how to change it.
func (r *Report) reportTLS(cs *tls.ConnectionState, chainErr, verifyErr error, skip, pinned bool, trust string, now time.Time, elapsed time.Duration) {
	c := r.ok("tls", "%s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	c.Elapsed = elapsed
	if len(cs.PeerCertificates) == 0 {
		r.fail("certificate", sysexits.Protocol, "the server sent no certificate", "fix the server's TLS configuration")
		return
	}
	leaf := cs.PeerCertificates[0]
	fp := Fingerprint(leaf)
	names := leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	desc := fmt.Sprintf("subject %s, issuer %s, names %s, valid %s to %s",
		leaf.Subject.String(), leaf.Issuer.String(), strings.Join(names, " "),
		leaf.NotBefore.UTC().Format("2006-01-02"), leaf.NotAfter.UTC().Format("2006-01-02"))
	left := leaf.NotAfter.Sub(now)
	// Renewal is due once two thirds of the lifetime have passed (what
	// ACME clients do), so short-lived certificates do not warn all the
	// time; never later than 14 days before expiry.
	soon := min(leaf.NotAfter.Sub(leaf.NotBefore)/3, 14*24*time.Hour)
	switch {
	case left < 0:
		r.add(Check{Step: "certificate", Status: Error, Code: sysexits.Protocol,
			Message: desc + fmt.Sprintf("; EXPIRED %d days ago", int(-left.Hours()/24)),
			Fix:     "the server's administrator must renew the certificate; check this machine's clock too (date -u)"})
	case left < soon:
		r.warn("certificate", desc+fmt.Sprintf("; expires in %s, renewal is overdue", left.Round(time.Hour)),
			"the server's administrator should renew it soon; a tls_fingerprint pin breaks on renewal")
	default:
		r.ok("certificate", "%s", desc)
	}

	pinFix := fmt.Sprintf("tls_fingerprint = %q", fp)
	switch {
	case verifyErr != nil && pinned && skip:
		r.fail("verify", sysexits.Protocol, "certificate refused: "+verifyErr.Error(),
			"if the certificate was renewed, compare it out of band and update the pin: "+pinFix)
	case verifyErr != nil:
		r.fail("verify", sysexits.Protocol, "certificate does not verify against "+trust+": "+chainReason(verifyErr),
			chainFix(verifyErr, cs.ServerName, names, pinFix))
	case pinned:
		r.ok("verify", "certificate matches the pinned tls_fingerprint")
	case skip && chainErr != nil:
		r.warn("verify", "certificate NOT verified (tls_verify = false); it would fail: "+chainReason(chainErr),
			"anyone on the path can read the password and mail; set tls_trust_file to the server's CA, or "+pinFix)
	case skip:
		r.warn("verify", "certificate NOT verified (tls_verify = false), although it would verify against "+trust,
			"remove tls_verify = false")
	default:
		r.ok("verify", "certificate chain and name %s verified against %s", cs.ServerName, trust)
	}
	r.ok("fingerprint", "%s (to pin this certificate)", pinFix)
}

func chainReason(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return "signed by an unknown authority (self-signed or a private CA)"
	case errors.As(err, &hostname):
		return "not valid for the host name " + hostname.Host
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "expired or not yet valid"
	}
	return err.Error()
}

func chainFix(err error, host string, names []string, pinFix string) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return "set tls_trust_file to the PEM file of the CA that signed it, or, after checking it out of band, pin it: " + pinFix
	case errors.As(err, &hostname):
		return fmt.Sprintf("set host to a name the certificate is valid for (%s) instead of %s", strings.Join(names, ", "), host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server's administrator must renew the certificate; check this machine's clock (date -u)"
	}
	return "check the server's certificate; set tls_trust_file if it uses a private CA"
}
