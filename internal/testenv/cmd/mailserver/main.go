// Command mailserver starts a private Postfix + Dovecot pair (package
// internal/testenv/mailserver) for demos and benchmarks, prints where it
// listens as shell-sourceable lines, and stops it when stdin reaches EOF or
// on SIGINT/SIGTERM.
//
//	eval "$(go run ./internal/testenv/cmd/mailserver -user alice@example.test -password secret <&- &)"
//
// It does not run tests or send mail; it only keeps the servers up.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/testenv/mailserver"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		o        mailserver.Options
		user     = flag.String("user", "", "SASL user name for PLAIN/LOGIN (with -password)")
		password = flag.String("password", "", "password of -user")
		keepIn   = flag.Bool("no-stdin", false, "do not stop at EOF on stdin; only on SIGINT/SIGTERM")
	)
	flag.BoolVar(&o.Plain, "plain", false, "also listen without TLS (AUTH allowed in clear)")
	flag.StringVar(&o.OAuthTokenInfoURL, "oauth-tokeninfo", "", "tokeninfo URL prefix for XOAUTH2/OAUTHBEARER (token is appended)")
	flag.StringVar(&o.OAuthIntrospectionURL, "oauth-introspection", "", "RFC 7662 introspection URL for XOAUTH2/OAUTHBEARER")
	flag.StringVar(&o.CertKind, "cert", mailserver.CertGood, "server certificate: good, expired, wrongname or selfsigned")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "mailserver: unexpected arguments %q; see -h\n", flag.Args())
		return 64
	}
	if (*user == "") != (*password == "") {
		fmt.Fprintln(os.Stderr, "mailserver: -user and -password go together; give both or neither")
		return 64
	}
	if *user != "" {
		o.Users = map[string]string{*user: *password}
	}

	// Signals first, so a SIGTERM during start still stops what started.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	s, err := mailserver.StartProcess(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mailserver: %v\n", err)
		return 69
	}
	fmt.Printf("SUBMISSION_ADDR=%s\n", s.SubmissionAddr)
	fmt.Printf("SMTPS_ADDR=%s\n", s.SMTPSAddr)
	if s.PlainAddr != "" {
		fmt.Printf("PLAIN_ADDR=%s\n", s.PlainAddr)
	}
	fmt.Printf("CA_FILE=%s\n", s.CAFile)
	fmt.Printf("FINGERPRINT=%s\n", s.Fingerprint)
	fmt.Printf("CAPTURE_DIR=%s\n", s.CaptureDir)
	fmt.Printf("HOSTNAME=%s\n", s.Hostname)
	fmt.Printf("MAILSERVER_DIR=%s\n", s.Dir)
	fmt.Printf("MAILSERVER_PID=%d\n", os.Getpid())

	eof := make(chan struct{})
	if !*keepIn {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
	}
	select {
	case <-sig:
	case <-eof:
	}
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "mailserver: stop: %v\n", err)
		return 70
	}
	return 0
}
