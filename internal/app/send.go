package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/aliases"
	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/logging"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// prepared is a message ready to go: account chosen, envelope decided,
// headers fixed.
type prepared struct {
	file   *config.File
	acct   *config.Account
	reason string // why this account
	msg    *message.Message
	env    submit.Envelope
	added  []string
	// submitter is the local user the daemon queues the message for
	// (peer credentials, a maildrop file's owner); nil otherwise.
	submitter *queue.Submitter
}

func sendMessage(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if inv.ServerInfo {
		return serverInfo(ctx, env, inv)
	}
	if !inv.ReadRecipients && len(inv.Recipients) == 0 {
		return cli.ErrNoRecipients
	}
	file, err := loadConfig(env, inv.ConfigFile)
	if h, ok := systemHandoff(env, inv, file, err); ok {
		return handOff(ctx, env, inv, h)
	}
	if err != nil {
		return err
	}
	m, err := message.Read(env.Stdin, message.ReadOptions{IgnoreDots: inv.IgnoreDots})
	if err != nil {
		return err
	}
	defer m.Close()
	p, err := prepare(file, inv, m)
	if err != nil {
		return err
	}
	if inv.Pretend {
		return pretend(ctx, env, p)
	}
	return deliver(ctx, env, inv, p)
}

// prepare applies the account's policy to one message: account selection,
// envelope sender, recipients (argv, -t, aliases), Bcc removal and the
// headers a message needs (only those that are missing).
func prepare(file *config.File, inv *cli.Invocation, m *message.Message) (*prepared, error) {
	headerFrom, _ := m.FromAddress()
	envFrom := ""
	if inv.FromSet {
		envFrom = inv.From
	}
	acct, reason, err := file.Select(inv.Account, envFrom, headerFrom)
	if err != nil {
		return nil, err
	}
	p := &prepared{file: file, acct: acct, reason: reason, msg: m}

	from, err := envelopeSender(acct, inv, headerFrom)
	if err != nil {
		return nil, err
	}

	rcpts := append([]string(nil), inv.Recipients...)
	if inv.ReadRecipients {
		hdr, err := m.Recipients()
		if err != nil {
			return nil, err
		}
		rcpts = append(rcpts, hdr...)
	}
	rcpts, err = expandRecipients(acct, rcpts)
	if err != nil {
		return nil, err
	}
	if len(rcpts) == 0 {
		return nil, sysexits.New(sysexits.DataErr, errors.New("no recipients: give them as arguments or use -t to read To/Cc/Bcc"))
	}

	m.RemoveBcc()
	headerAddr := ""
	if acct.AddFromHeader {
		if a, ok := acct.FromAddress(); ok {
			headerAddr = a
		} else if from != "" {
			headerAddr = from
		}
	}
	msgidDomain := acct.MsgIDDomain
	if msgidDomain == "" {
		addr := headerFrom
		if addr == "" {
			addr = headerAddr
		}
		if addr == "" {
			addr = from
		}
		if i := strings.LastIndex(addr, "@"); i >= 0 {
			msgidDomain = addr[i+1:]
		}
	}
	added, err := m.AddMissing(message.AddOptions{
		From:        headerAddr,
		FullName:    inv.FullName,
		Date:        acct.AddDateHeader,
		MessageID:   acct.AddMessageIDHeader,
		MsgIDDomain: msgidDomain,
	})
	if err != nil {
		return nil, err
	}
	p.added = added
	// RFC 5322 2.1.1: no line over 998 octets goes out raw.
	if _, err := m.Conform(false); err != nil {
		return nil, err
	}
	p.env = messageEnvelope(inv, m, from, rcpts)
	return p, nil
}

// messageEnvelope is the SMTP envelope of a prepared message, for a send and
// for a hand-off to the daemon alike.
func messageEnvelope(inv *cli.Invocation, m *message.Message, from string, rcpts []string) smtp.Envelope {
	return smtp.Envelope{
		From:      from,
		To:        rcpts,
		Size:      m.WireSize(),
		EightBit:  m.EightBit(),
		UTF8:      smtp.NeedsUTF8(from, rcpts),
		DSNNotify: inv.DSNNotify,
		DSNReturn: inv.DSNReturn,
		EnvID:     inv.EnvID,
	}
}

// envelopeSender decides MAIL FROM: -f/-r when allowed (including the null
// sender <>), else the account's from address, else the From: header when
// it matches the account's from pattern.
func envelopeSender(a *config.Account, inv *cli.Invocation, headerFrom string) (string, error) {
	if inv.FromSet && a.AllowFromOverride {
		if inv.From == "" || strings.Contains(inv.From, "@") {
			return inv.From, nil
		}
		// A bare local name (cronie's "-f root"): servers refuse
		// unqualified senders, so qualify it with local_domain, or fall
		// back to the account's own address.
		if a.LocalDomain != "" {
			return inv.From + "@" + a.LocalDomain, nil
		}
		if addr, ok := a.FromAddress(); ok {
			return addr, nil
		}
		return "", sysexits.New(sysexits.DataErr, fmt.Errorf("envelope sender %q has no domain: set local_domain or from in account %q, or pass -f with a full address", inv.From, a.Name))
	}
	if addr, ok := a.FromAddress(); ok {
		return addr, nil
	}
	if headerFrom != "" && (a.From == "" || matchPattern(a.From, headerFrom)) {
		return headerFrom, nil
	}
	if a.From != "" {
		return "", sysexits.New(sysexits.DataErr, fmt.Errorf("account %q: cannot choose an envelope sender: the From: header %q does not match from = %q; pass -f ADDRESS or fix the From: header", a.Name, headerFrom, a.From))
	}
	return "", sysexits.New(sysexits.Config, fmt.Errorf("account %q has no from address and the message has no From: header: set from = \"you@example.org\" in the account or pass -f", a.Name))
}

func matchPattern(pattern, addr string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(addr))
	return err == nil && ok
}

// expandRecipients applies the aliases file and local_domain so bare local
// names such as "root" (cron's MAILTO) become real addresses.
func expandRecipients(a *config.Account, rcpts []string) ([]string, error) {
	t := &aliases.Table{}
	if a.Aliases != "" {
		var err error
		if t, err = aliases.Load(a.Aliases); err != nil {
			return nil, err
		}
	}
	return t.Expand(rcpts, a.LocalDomain)
}

// messageReader streams the prepared message straight from its fields and
// spool (no goroutine or copy buffer: peak RSS); the spool can be read
// again (queueing after a failed attempt), each reader from the start.
// Close does nothing: the message may be closed or read again afterwards.
func messageReader(m *message.Message) io.ReadCloser {
	return io.NopCloser(m.Reader())
}

func deliver(ctx context.Context, env *Env, inv *cli.Invocation, p *prepared) error {
	d := deps(env, inv, p.file)
	oneShot := func(ctx context.Context, a *config.Account, e submit.Envelope, r io.Reader) (*submit.Session, error) {
		var converted io.Closer
		d.SevenBit = func() (io.Reader, int64, bool, error) {
			// Nothing was read from r yet: the server spoke first.
			c, env, err := sevenBit(r, e)
			if err != nil {
				return nil, 0, false, err
			}
			converted = c
			return c, env.Size, env.EightBit, nil
		}
		sess, err := submit.Submit(ctx, a, d, e, r)
		if converted != nil {
			converted.Close()
		}
		return sess, err
	}
	out, err := deliverWith(ctx, env, p, oneShot, delivery{announceQueue: true})
	if err == nil && out.Queued == "" && p.acct.Queue {
		// The server is reachable: send what was waiting for this account.
		flushAfterSuccess(ctx, env, inv, p.file, p.acct)
	}
	return err
}

// transport submits one prepared message: submit.Submit for a sendmail
// invocation, the warm session pool for "gsendmail serve".
type transport func(ctx context.Context, a *config.Account, e submit.Envelope, r io.Reader) (*submit.Session, error)

// delivery is what differs between callers of deliverWith.
type delivery struct {
	announceQueue bool      // print "queued as" on stderr (sendmail; not the daemon)
	id, client    string    // for the log line ("gsendmail serve")
	logFallback   io.Writer // log line here when the account has no logfile/syslog
}

// deliverWith is the one delivery rule of every path (pipe, -bs, serve):
// send; on a temporary failure with queue = true, fsync the message into
// the queue and report success; log one record. A permanent failure is
// never queued. It returns the queue id when the message was queued, else
// the server's final reply.
func deliverWith(ctx context.Context, env *Env, p *prepared, send transport, o delivery) (delivered, error) {
	rec := logging.Record{Time: time.Now(), ID: o.id, Client: o.client, Account: p.acct.Name, Host: p.acct.Host, TLS: p.acct.TLS.String(), User: p.acct.User,
		From: p.env.From, Recipients: p.env.To, Size: p.env.Size}
	r := messageReader(p.msg)
	sess, err := send(ctx, p.acct, p.env, r)
	r.Close()
	if sess != nil {
		rec.Auth = sess.Mechanism
		if sess.Client != nil {
			rec.SMTPStatus = sess.Client.LastReply()
		}
	}
	if err != nil && outcome.Temporary(err) && p.acct.Queue {
		id, dir, qerr := enqueue(p, env, err)
		if qerr == nil {
			rec.Queued, rec.ExitCode, rec.Error = id, 0, redact.OneLine(err.Error())
			logRecord(env, p.acct, rec, o.logFallback)
			if o.announceQueue {
				fmt.Fprintf(env.Stderr, "gsendmail: queued as %s in %s (%s); it will be retried by \"gsendmail -q\"\n", id, dir, redact.OneLine(err.Error()))
			}
			return delivered{Queued: id}, nil
		}
		err = sysexits.New(sysexits.TempFail, fmt.Errorf("%v; and it could not be queued: %v", err, qerr))
	}
	rec.ExitCode = outcome.Code(err)
	if err != nil {
		rec.Error = redact.OneLine(err.Error())
	}
	logRecord(env, p.acct, rec, o.logFallback)
	return delivered{Reply: rec.SMTPStatus}, err
}

// delivered is what deliverWith reports besides its error.
type delivered struct {
	Queued string // queue id when the message was queued
	Reply  string // the server's final reply ("2.0.0 Ok: queued as 4Xyz")
}

func logRecord(env *Env, a *config.Account, rec logging.Record, fallback io.Writer) {
	if a.Logfile == "" && a.Syslog == "" && fallback != nil {
		fmt.Fprintf(fallback, "gsendmail: %s\n", rec.Line())
		return
	}
	l := logging.Logger{File: a.Logfile, Syslog: a.Syslog}
	if err := l.Log(rec); err != nil {
		fmt.Fprintf(env.Stderr, "gsendmail: warning: %v\n", err)
	}
}

// sendOn sends one message on an open session, converting it first for a
// server that does not offer 8BITMIME (RFC 6152 3), as a direct send does.
// The queue flush and the daemon's warm sessions use it.
func sendOn(ctx context.Context, s *submit.Session, env submit.Envelope, msg io.Reader) error {
	if _, ok := s.Client.Extension("8BITMIME"); env.EightBit && !ok {
		c, env, err := sevenBit(msg, env)
		if err != nil {
			return err
		}
		defer c.Close()
		return s.Send(ctx, env, c)
	}
	return s.Send(ctx, env, msg)
}

// sevenBit reads the wire form of a message from msg and re-encodes its
// 8-bit parts for a 7-bit server (message.Conform), returning the new
// form and the envelope with its size and BODY parameter updated.
func sevenBit(msg io.Reader, env submit.Envelope) (io.ReadCloser, submit.Envelope, error) {
	m, err := message.Read(msg, message.ReadOptions{IgnoreDots: true})
	if err != nil {
		return nil, env, err
	}
	if _, err := m.Conform(true); err != nil {
		m.Close()
		return nil, env, err
	}
	env.Size, env.EightBit = m.WireSize(), m.EightBit()
	r := messageReader(m)
	return closeBoth{r, m}, env, nil
}

// closeBoth closes the reader, then the message.
type closeBoth struct {
	io.ReadCloser
	m *message.Message
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.m.Close()
	return err
}
