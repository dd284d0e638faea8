// Command mailserver starts a private Postfix + Dovecot pair (package
// internal/testkit/testenv/mailserver) for demos and benchmarks, prints where it
// listens as shell-sourceable lines, and stops it when its stdin reaches EOF
// or on SIGINT/SIGTERM. It must run as root.
//
// It does not send mail or run tests; it only keeps the servers up. Typical
// use from bash, stopping the server by closing the pipe:
//
//	exec 3> >(mailserver -user u@example.test -password pw >server.env)
//	until grep -q ^HOSTNAME= server.env; do sleep 0.1; done
//	. ./server.env          # SUBMISSION_ADDR, SMTPS_ADDR, CA_FILE, ...
//	...                     # submit to $SUBMISSION_ADDR, read $CAPTURE_DIR
//	exec 3>&-               # EOF on its stdin: stops and cleans up
//
// With -no-stdin it ignores stdin and stops on SIGTERM/SIGINT only
// (kill $MAILSERVER_PID).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/sysexits"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

func main() {
	sig := make(chan os.Signal, 1)
	// SIGPIPE too: if whoever reads our stdout goes away, the writes fail
	// with EPIPE and we still stop the servers instead of dying.
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, sig))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	fs := flag.NewFlagSet("mailserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        mailserver.Options
		user     = fs.String("user", "", "SASL user name for PLAIN/LOGIN (with -password)")
		password = fs.String("password", "", "password of -user")
		noStdin  = fs.Bool("no-stdin", false, "ignore stdin; stop only on SIGINT/SIGTERM")
	)
	fs.BoolVar(&o.Plain, "plain", false, "also listen without TLS, AUTH allowed in clear (PLAIN_ADDR)")
	fs.StringVar(&o.OAuthTokenInfoURL, "oauth-tokeninfo", "", "tokeninfo URL prefix for XOAUTH2/OAUTHBEARER; the token is appended")
	fs.StringVar(&o.OAuthIntrospectionURL, "oauth-introspection", "", "RFC 7662 introspection URL for XOAUTH2/OAUTHBEARER")
	fs.StringVar(&o.CertKind, "cert", mailserver.CertGood, "server certificate: good, expired, wrongname or selfsigned")
	fs.Int64Var(&o.MessageSizeLimit, "size-limit", 0, "message_size_limit in bytes (0: 200 MB)")
	if err := fs.Parse(args); err != nil {
		return sysexits.Usage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "mailserver: unexpected arguments %q; flags only, see -h\n", fs.Args())
		return sysexits.Usage
	}
	if (*user == "") != (*password == "") {
		fmt.Fprintln(stderr, "mailserver: -user and -password go together; give both or neither")
		return sysexits.Usage
	}
	if *user != "" {
		o.Users = map[string]string{*user: *password}
	}

	s, err := mailserver.StartProcess(o)
	if err != nil {
		fmt.Fprintf(stderr, "mailserver: %v\n", err)
		return sysexits.Unavailable
	}
	code := 0
	_, err = fmt.Fprintf(stdout, "SUBMISSION_ADDR=%s\nSMTPS_ADDR=%s\nPLAIN_ADDR=%s\nCA_FILE=%s\nFINGERPRINT=%s\nCAPTURE_DIR=%s\nMAILSERVER_DIR=%s\nMAILSERVER_PID=%d\nHOSTNAME=%s\n",
		s.SubmissionAddr, s.SMTPSAddr, s.PlainAddr, s.CAFile, s.Fingerprint, s.CaptureDir, s.Dir, os.Getpid(), s.Hostname)
	if err != nil {
		fmt.Fprintf(stderr, "mailserver: write the addresses: %v; stopping\n", err)
		code = sysexits.IOErr
	} else {
		eof := make(chan struct{})
		if !*noStdin {
			go func() {
				_, _ = io.Copy(io.Discard, stdin)
				close(eof)
			}()
		}
		select {
		case <-sig:
		case <-eof:
		}
	}
	if err := s.Stop(); err != nil {
		fmt.Fprintf(stderr, "mailserver: stop: %v\n", err)
		return sysexits.Software
	}
	return code
}
