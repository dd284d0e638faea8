// Command authserver runs the fake OAuth2 authorization server of
// internal/testkit/oauthtest on loopback for make demo: a token endpoint that
// gsendmail refreshes from and a tokeninfo endpoint that Dovecot's oauth2
// passdb validates access tokens against. It prints where it listens and a
// refresh token it accepts as shell-sourceable KEY=VALUE lines, and stops
// when its stdin reaches EOF or on SIGINT/SIGTERM.
//
// It does not start the mail server (see internal/testkit/testenv/cmd/mailserver)
// and talks to no real provider. Typical use from bash:
//
//	exec 4> >(authserver -user demo@gsendmail.test >auth.env)
//	until grep -q ^REFRESH_TOKEN= auth.env; do sleep 0.1; done
//	. ./auth.env   # TOKEN_URL, AUTH_URL, TOKENINFO_URL, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
//	exec 4>&-      # EOF on its stdin: stops it
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/sysexits"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, sig))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	fs := flag.NewFlagSet("authserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "demo@gsendmail.test", "mailbox the refresh token and its access tokens belong to (tokeninfo \"email\")")
	noStdin := fs.Bool("no-stdin", false, "ignore stdin; stop only on SIGTERM/SIGINT")
	if err := fs.Parse(args); err != nil {
		return sysexits.Usage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "authserver: unexpected arguments %q; flags only, see -h\n", fs.Args())
		return sysexits.Usage
	}
	if *user == "" || strings.ContainsAny(*user, " \t\r\n\"'$`\\") {
		fmt.Fprintf(stderr, "authserver: -user %q must be a plain mailbox address\n", *user)
		return sysexits.Usage
	}
	s, err := oauthtest.Start()
	if err != nil {
		fmt.Fprintf(stderr, "authserver: %v\n", err)
		return sysexits.Unavailable
	}
	defer s.Close()
	s.SetUser(*user)
	rt := "demo-refresh-" + rand.Text()
	s.AddRefreshToken(rt, *user)
	id, secret := s.Client()
	_, err = fmt.Fprintf(stdout, "TOKEN_URL=%s\nAUTH_URL=%s\nTOKENINFO_URL=%s\nCLIENT_ID=%s\nCLIENT_SECRET=%s\nREFRESH_TOKEN=%s\nAUTHSERVER_PID=%d\n",
		s.TokenURL(), s.AuthURL(), s.TokenInfoURL(), id, secret, rt, os.Getpid())
	if err != nil {
		fmt.Fprintf(stderr, "authserver: write the addresses: %v; stopping\n", err)
		return sysexits.IOErr
	}
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
	return 0
}
