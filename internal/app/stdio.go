package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/smtpd"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// serveStdio is "sendmail -bs": an SMTP dialogue on standard input and
// output (internal/smtpd). Each message goes through the same prepare and
// deliver as a piped message, with the envelope from MAIL FROM and RCPT TO
// instead of -f and the arguments. Failures are SMTP replies, not exit
// codes: the session ends with exit 0 after QUIT.
func serveStdio(ctx context.Context, env *Env, inv *cli.Invocation) error {
	// A broken config does not stop the dialogue: the caller gets the
	// error as a 451 4.3.5 reply to RCPT, which it can show, instead of
	// a closed pipe before the greeting.
	file, cfgErr := loadConfig(env, inv.ConfigFile)

	// Standard output carries the SMTP replies; anything else we would
	// print there (--pretend) goes to standard error.
	side := *env
	side.Stdout = env.Stderr

	srv := &smtpd.Server{
		Hostname: stdioHostname(),
		Recipient: func(ctx context.Context, from, to string) error {
			if cfgErr != nil {
				return cfgErr
			}
			return checkRecipient(file, inv.Account, to)
		},
		Deliver: func(ctx context.Context, from string, to []string, data io.Reader) error {
			if cfgErr != nil {
				return cfgErr
			}
			return deliverStdio(ctx, &side, inv, file, from, to, data)
		},
	}
	err := srv.Serve(ctx, env.Stdin, env.Stdout)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, smtpd.ErrDataTruncated):
		return sysexits.New(sysexits.TempFail, fmt.Errorf("-bs: %w", err))
	case errors.Is(err, context.Canceled):
		return sysexits.New(sysexits.TempFail, errors.New("-bs: interrupted; a message not yet acknowledged with 250 was not sent"))
	}
	return sysexits.New(sysexits.IOErr, fmt.Errorf("-bs: %w; a message not yet acknowledged with 250 was not sent", err))
}

// deliverStdio sends one message received with DATA. data is already
// dot-unstuffed, so a "." line inside it is content (IgnoreDots).
func deliverStdio(ctx context.Context, env *Env, inv *cli.Invocation, file *config.File, from string, to []string, data io.Reader) error {
	m, err := message.Read(data, message.ReadOptions{IgnoreDots: true})
	if err != nil {
		return err
	}
	defer m.Close()
	one := *inv
	one.Mode = cli.Send
	one.Recipients = to
	one.ReadRecipients = false
	one.From, one.FromSet = from, true
	p, err := prepare(file, &one, m)
	if err != nil {
		return err
	}
	if one.Pretend {
		return pretend(ctx, env, p)
	}
	return deliver(ctx, env, &one, p)
}

// checkRecipient refuses at RCPT time a recipient that no account could
// deliver to (a bare local name without alias or local_domain), so the
// caller learns which recipient is wrong. The account is only known for
// sure after DATA (the From: header can choose it), so with several
// accounts a recipient is refused only when every candidate refuses it.
func checkRecipient(file *config.File, account, to string) error {
	names := file.Order
	if account != "" {
		names = []string{account}
	}
	if len(names) == 0 {
		_, _, err := file.Select(account, "", "")
		return err
	}
	var first error
	for _, n := range names {
		a := file.Accounts[n]
		if a == nil {
			// -a names no account: say so now.
			_, _, err := file.Select(account, "", "")
			return err
		}
		_, err := expandRecipients(a, []string{to})
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// stdioHostname names us in the greeting; it is informational only.
func stdioHostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
