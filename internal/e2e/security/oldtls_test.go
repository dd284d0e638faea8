package security

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server that speaks only TLS 1.0/1.1 is a permanent protocol mismatch:
// exit 76 with one line saying what to do, and the message is not queued
// even with queue = true (a 75 would retry it for days).
func TestTLS10And11OnlyServerIsPermanentAndNeverQueued(t *testing.T) {
	f := newFake(t) // only for its certificate
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{f.cert},
		MinVersion:   tls.VersionTLS10,
		MaxVersion:   tls.VersionTLS11,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	queueDir := filepath.Join(t.TempDir(), "queue")
	cfg := fmt.Sprintf(`default_account = "t"
[account.t]
host = "127.0.0.1"
port = %s
tls = "tls"
tls_trust_file = %q
user = %q
password = %q
from = %q
timeout = "5s"
queue = true
queue_dir = %q
`, port(ln.Addr().String()), f.ca, sentUser, sentPass, sentUser, queueDir)
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600)}, "someone@example.org")
	if r.Code != 76 {
		t.Fatalf("want exit 76:\n%s", r)
	}
	oneLine(t, r)
	if !strings.Contains(r.Stderr, "TLS 1.0/1.1") || !strings.Contains(r.Stderr, "TLS 1.2") {
		t.Errorf("the line should name the old TLS versions and what is needed: %q", r.Stderr)
	}
	var queued []string
	filepath.WalkDir(queueDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".msg") || strings.HasSuffix(p, ".env")) {
			queued = append(queued, p)
		}
		return nil
	})
	if len(queued) > 0 || strings.Contains(r.Stderr, "queued") {
		t.Errorf("message was queued: %v %q", queued, r.Stderr)
	}
}
