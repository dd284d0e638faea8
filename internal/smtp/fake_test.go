package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A scripted fake server. Script entries:
//
//	"S: text"   write text+CRLF (embed \r\n for several lines in one write)
//	"C: line"   read one client line; it must equal line
//	"RAW: b"    read len(b) bytes; they must equal b
//	"TLS"       run a TLS server handshake on the connection
//	"EOF"       the client must close without sending more
//	"DRAIN"     read until the client closes; drained() returns it
//
// The server handles one connection; errors are reported by wait.
type fakeServer struct {
	addr string
	done chan error
	seen []string // client lines read, in order
	mu   sync.Mutex
	rest []byte // what DRAIN read
}

// drained returns what the DRAIN entry read; call it after wait.
func (f *fakeServer) drained() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rest
}

func startFake(t *testing.T, script []string, tlsCert *tls.Certificate) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: ln.Addr().String(), done: make(chan error, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			f.done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		f.done <- f.run(conn, script, tlsCert)
	}()
	return f
}

func (f *fakeServer) run(conn net.Conn, script []string, cert *tls.Certificate) error {
	br := bufio.NewReader(conn)
	for i, s := range script {
		switch {
		case strings.HasPrefix(s, "S: "):
			if _, err := io.WriteString(conn, s[3:]+"\r\n"); err != nil {
				return fmt.Errorf("step %d %q: %v", i, s, err)
			}
		case strings.HasPrefix(s, "C: "):
			line, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("step %d: want client line %q, got error %v (after %q)", i, s[3:], err, line)
			}
			line = strings.TrimSuffix(line, "\r\n")
			f.mu.Lock()
			f.seen = append(f.seen, line)
			f.mu.Unlock()
			if line != s[3:] {
				return fmt.Errorf("step %d: client sent %q, want %q", i, line, s[3:])
			}
		case strings.HasPrefix(s, "RAW: "):
			want := s[5:]
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil {
				return fmt.Errorf("step %d: reading %d raw bytes: %v", i, len(want), err)
			}
			if string(got) != want {
				return fmt.Errorf("step %d: client sent %q, want %q", i, got, want)
			}
		case s == "TLS":
			if br.Buffered() > 0 {
				return fmt.Errorf("step %d: client sent data before the TLS handshake", i)
			}
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*cert}})
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("step %d: TLS handshake: %v", i, err)
			}
			conn, br = tc, bufio.NewReader(tc)
		case s == "DRAIN":
			b, err := io.ReadAll(br)
			f.mu.Lock()
			f.rest = b
			f.mu.Unlock()
			if err != nil {
				return fmt.Errorf("step %d: draining: %v", i, err)
			}
		case s == "EOF":
			b, err := br.ReadByte()
			if err == nil {
				rest, _ := br.Peek(br.Buffered())
				return fmt.Errorf("step %d: want EOF, client sent %q", i, append([]byte{b}, rest...))
			}
		default:
			return fmt.Errorf("bad script entry %q", s)
		}
	}
	return nil
}

func (f *fakeServer) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-f.done:
		if err != nil {
			t.Error("fake server: ", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("fake server did not finish")
	}
}

// recConn records every Write, to check what goes out in one write.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (r *recConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(b))
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recConn) Writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

// options for a fake server at addr, recording writes into *rec.
func fakeOptions(addr string, rec **recConn) Options {
	return Options{
		Addr:           addr,
		TLS:            None,
		HelloName:      func(net.Addr) (string, error) { return "client.example.org", nil },
		CommandTimeout: 5 * time.Second,
		Dialer: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			r := &recConn{Conn: c}
			if rec != nil {
				*rec = r
			}
			return r, nil
		},
	}
}

// selfSigned makes a certificate for 127.0.0.1 / localhost and a pool
// trusting it.
func selfSigned(t testing.TB, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gsendmail test"},
		NotBefore:             time.Now().Add(-2 * time.Hour),
		NotAfter:              notAfter,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// lines joins script lines for readability.
func ehloScript(caps ...string) []string {
	s := []string{"S: 220 fake.example ESMTP", "C: EHLO client.example.org"}
	if len(caps) == 0 {
		return append(s, "S: 250 fake.example")
	}
	reply := "250-fake.example at your service, [127.0.0.1]"
	for i, c := range caps {
		if i == len(caps)-1 {
			reply += "\r\n250 " + c
		} else {
			reply += "\r\n250-" + c
		}
	}
	return append(s, "S: "+reply)
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var _ = bytes.Equal

func farFuture() time.Time { return time.Now().Add(24 * time.Hour) }
