package serve_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and returns the
// file paths and a pool that trusts it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "serve.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeSTARTTLSThenAuthForRequireTLSClients is nodemailer's
// requireTLS + auth: STARTTLS is offered with a certificate, AUTH works
// after it, and the message goes through the user's account.
func TestServeSTARTTLSThenAuthForRequireTLSClients(t *testing.T) {
	u := startUpstream(t)
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret"), 0o600)
	cfg := account(u, "") + fmt.Sprintf("[serve]\nrequire_auth = true\ntls_cert_file = %q\ntls_key_file = %q\n[serve.user.node]\naccount = \"up\"\npassword_file = %q\n", certFile, keyFile, pw)
	d := startDaemon(t, cfg)
	c := dial(t, d.addr)
	c.send("EHLO pod-10-1-2-3")
	ext := readEHLO(t, c)
	if !strings.Contains(ext, "STARTTLS") {
		t.Fatalf("no STARTTLS offered: %s", ext)
	}
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c.c, c.br = tc, bufio.NewReader(tc)
	c.send("EHLO pod-10-1-2-3")
	if ext := readEHLO(t, c); !strings.Contains(ext, "AUTH PLAIN LOGIN") || strings.Contains(ext, "STARTTLS") {
		t.Errorf("after STARTTLS: %s", ext)
	}
	c.cmd("AUTH PLAIN "+b64("\x00node\x00s3cret"), "235")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Errorf("end of data: %q", got)
	}
	if ms := u.messages(); len(ms) != 1 || ms[0].From != "app@example.org" {
		t.Errorf("upstream got %+v", ms)
	}
}

func readEHLO(t *testing.T, c *client) string {
	t.Helper()
	var lines []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
		if len(l) > 3 && l[3] == ' ' {
			return strings.Join(lines, "\n")
		}
	}
}

// TestServeReloadsOnSIGHUPAndKeepsTheOldConfigWhenTheNewOneIsBroken.
func TestServeReloadsOnSIGHUPAndKeepsTheOldConfigWhenTheNewOneIsBroken(t *testing.T) {
	u := startUpstream(t)
	d := startDaemon(t, account(u, ""))
	path := filepath.Join(d.dir, "gsendmail.toml")
	os.WriteFile(path, []byte("this is = not [ toml"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, d, "reload failed, keeping the old configuration")
	c := dial(t, d.addr)
	c.cmd("EHLO app", "250")
	if got := c.mail("app@example.org", []string{"bob@example.net"}, plainBody); !strings.HasPrefix(got, "250 ") {
		t.Errorf("after a failed reload: %q", got)
	}
	// A good new configuration: local_domain now qualifies bare names.
	os.WriteFile(path, []byte(account(u, "local_domain = \"example.net\"\n")), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, d, "configuration reloaded")
	c.cmd("MAIL FROM:<app@example.org>", "250")
	c.cmd("RCPT TO:<root>", "250")
	c.cmd("RSET", "250")
	if n := strings.Count(d.stderr.String(), "reload failed"); n != 1 {
		t.Errorf("%d reload-failure lines, want one", n)
	}
}

func waitLog(t *testing.T, d *daemon, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", s, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
