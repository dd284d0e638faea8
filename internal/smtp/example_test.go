package smtp_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// A whole submission: connect with STARTTLS, authenticate, send, quit.
// The client's errors are facts; internal/outcome gives each its sendmail
// exit code and the line that says what to do.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	msg := "From: me@example.com\nTo: you@example.net\nSubject: hi\n\nhello\n"
	size, _ := smtp.WireSize(strings.NewReader(msg))

	c, err := smtp.Dial(ctx, smtp.Options{
		Addr:      "smtp.example.com:587",
		TLS:       smtp.StartTLS,
		TLSConfig: &tls.Config{ServerName: "smtp.example.com"},
		HelloName: func(net.Addr) (string, error) { return "laptop.example.com", nil },
	})
	if err != nil {
		fail(err)
	}
	defer c.Close()

	if err := c.Auth(ctx, sasl.Plain("me@example.com", "app-password"), smtp.AuthOptions{}); err != nil {
		fail(err)
	}
	env := smtp.Envelope{From: "me@example.com", To: []string{"you@example.net"}, Size: size}
	if err := c.Send(ctx, env, strings.NewReader(msg)); err != nil {
		fail(err)
	}
	c.Quit()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gsendmail:", outcome.Explain(err))
	os.Exit(outcome.Code(err))
}
