package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// queueDir is where an account's queued messages live.
func queueDir(env *Env, file *config.File, a *config.Account) string {
	if a != nil && a.QueueDir != "" {
		return a.QueueDir
	}
	system := file != nil && file.System
	return queue.DefaultDir(system, env.Getenv)
}

// queueDirs lists the distinct queue directories of a configuration.
func queueDirs(env *Env, file *config.File) []string {
	seen := map[string]bool{}
	var dirs []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	add(queueDir(env, file, nil))
	if file != nil {
		for _, n := range file.Order {
			add(queueDir(env, file, file.Accounts[n]))
		}
	}
	return dirs
}

// enqueue stores the prepared message durably for a later flush.
func enqueue(p *prepared, env *Env, cause error) (id, dir string, err error) {
	dir = queueDir(env, p.file, p.acct)
	q, err := queue.Open(dir)
	if err != nil {
		return "", dir, err
	}
	r := messageReader(p.msg)
	defer r.Close()
	id, err = q.Enqueue(queue.Entry{
		Account:     p.acct.Name,
		ConfigPath:  p.file.Path,
		From:        p.env.From,
		To:          p.env.To,
		DSNNotify:   p.env.DSNNotify,
		DSNReturn:   p.env.DSNReturn,
		EnvID:       p.env.EnvID,
		EightBit:    p.env.EightBit,
		UTF8:        p.env.UTF8,
		WireSize:    p.env.Size,
		Attempts:    1,
		LastAttempt: time.Now(),
		LastError:   cause.Error(),
		Submitter:   p.submitter,
	}, r)
	return id, dir, err
}

func envelopeOf(e queue.Entry) submit.Envelope {
	return submit.Envelope{From: e.From, To: e.To, Size: e.WireSize, EightBit: e.EightBit, UTF8: e.UTF8,
		DSNNotify: e.DSNNotify, DSNReturn: e.DSNReturn, EnvID: e.EnvID}
}

// flushSender lets the queue open one authenticated session per account.
type flushSender struct {
	file *config.File
	d    submit.Deps
}

type flushConn struct{ s *submit.Session }

func (f flushSender) Open(ctx context.Context, account string) (queue.Conn, error) {
	a, ok := f.file.Accounts[account]
	if !ok {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("account %q is no longer in %s", account, f.file.Path))
	}
	s, err := submit.Connect(ctx, a, f.d)
	if err != nil {
		return nil, err
	}
	return flushConn{s}, nil
}

func (c flushConn) Send(ctx context.Context, e queue.Entry, msg io.Reader) error {
	return sendOn(ctx, c.s, envelopeOf(e), msg)
}
func (c flushConn) Reset(ctx context.Context) error { return c.s.Reset(ctx) }
func (c flushConn) Close() error                    { return c.s.Close() }

// notifier sends a failure notice for a message that will never be
// delivered, through the same account, from the null sender.
func notifier(ctx context.Context, file *config.File, d submit.Deps, q *queue.Queue) func(queue.Entry, string, io.Reader) error {
	return func(e queue.Entry, reason string, orig io.Reader) error {
		a, ok := file.Accounts[e.Account]
		if !ok {
			return fmt.Errorf("account %q is gone; the message stays in %s/failed", e.Account, q.Dir)
		}
		to := a.FailureNoticeTo
		if to == "" {
			to = e.From
		}
		if to == "" {
			return fmt.Errorf("message %s had the null sender and failure_notice_to is not set; it stays in %s/failed", e.ID, q.Dir)
		}
		if orig == nil {
			orig = bytes.NewReader(nil)
		}
		domain := "localhost"
		if addr, ok := a.FromAddress(); ok && strings.Contains(addr, "@") {
			domain = addr[strings.LastIndex(addr, "@")+1:]
		}
		notice := queue.FailureNotice(e, reason, "MAILER-DAEMON@"+domain, time.Now(), orig)
		if notice == nil {
			return fmt.Errorf("no failure notice for message %s (null sender); it stays in %s/failed", e.ID, q.Dir)
		}
		size, err := smtp.WireSize(bytes.NewReader(notice))
		if err != nil {
			return err
		}
		env2 := submit.Envelope{From: "", To: []string{to}, Size: size}
		_, err = submit.Submit(ctx, a, d, env2, bytes.NewReader(notice))
		return err
	}
}

func flushOptions(ctx context.Context, env *Env, file *config.File, d submit.Deps, q *queue.Queue, account string, force bool) queue.FlushOptions {
	maxAge := 120 * time.Hour
	if a, ok := file.Accounts[account]; ok && a.QueueMaxAge > 0 {
		maxAge = a.QueueMaxAge
	}
	return queue.FlushOptions{
		Account: account,
		Force:   force,
		MaxAge:  maxAge,
		// "gsendmail -q" flushes every account: each entry is held to
		// its own account's queue_max_age.
		MaxAgeFor: func(name string) time.Duration {
			if a, ok := file.Accounts[name]; ok {
				return a.QueueMaxAge
			}
			return 0
		},
		Notify:      notifier(ctx, file, d, q),
		IsTemporary: outcome.Temporary,
	}
}

// flushAfterSuccess sends what waits for an account after one of its
// messages went through; failures here never change the exit code.
func flushAfterSuccess(ctx context.Context, env *Env, inv *cli.Invocation, file *config.File, a *config.Account) {
	q, err := queue.Open(queueDir(env, file, a))
	if err != nil {
		return
	}
	entries, err := q.List()
	if err != nil || len(entries) == 0 {
		return
	}
	d := deps(env, inv, file)
	d.Transcript = nil
	_, _ = q.Flush(ctx, flushSender{file, d}, flushOptions(ctx, env, file, d, q, a.Name, true))
}

// flushQueue is "sendmail -q": messages whose retry time has come (what a
// timer runs); -qf retries every message now.
func flushQueue(ctx context.Context, env *Env, inv *cli.Invocation) error {
	return flush(ctx, env, inv, "", inv.QueueForce)
}

func flush(ctx context.Context, env *Env, inv *cli.Invocation, account string, force bool) error {
	file, err := loadConfig(env, inv.ConfigFile)
	if err != nil {
		return err
	}
	d := deps(env, inv, file)
	var errs []error
	for _, dir := range queueDirs(env, file) {
		q, err := queue.Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep, err := q.Flush(ctx, flushSender{file, d}, flushOptions(ctx, env, file, d, q, account, force))
		if err != nil {
			errs = append(errs, err)
		}
		if inv.Verbose || rep.Failed > 0 {
			fmt.Fprintf(env.Stderr, "gsendmail: queue %s: %d sent, %d deferred, %d failed (moved to %s/failed)\n", dir, rep.Sent, rep.Deferred, rep.Failed, dir)
		}
	}
	return errors.Join(errs...)
}

func listQueue(ctx context.Context, env *Env, inv *cli.Invocation) error {
	file, loadErr := loadConfig(env, inv.ConfigFile)
	if loadErr != nil {
		// mailq without a configuration still shows the per-user queue.
		file = nil
	}
	if ok, err := asDaemonUser(ctx, env, inv, file, []string{"queue", "list"}); ok {
		return err
	}
	if h, ok := systemHandoff(env, inv, file, loadErr); ok {
		return userListQueue(ctx, env, h) // mailq.go
	}
	var all []queue.Entry
	for _, dir := range queueDirs(env, file) {
		q, err := queue.Open(dir)
		if err != nil {
			return err
		}
		entries, err := q.List()
		if err != nil {
			return err
		}
		all = append(all, entries...)
	}
	formatQueue(env.Stdout, all, daemonMaildrop(env, file), time.Now(), userName) // mailq.go
	return nil
}
