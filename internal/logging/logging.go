// Package logging writes gsendmail's one-line-per-message record to a log
// file and/or syslog, with the fields msmtp logs (time, host, tls, auth,
// user, from, recipients, size, SMTP status, exit code). It never receives
// secrets: callers pass only envelope and outcome data. It does not decide
// what to log or when; the send path does.
package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// Record describes one submission attempt.
type Record struct {
	Time       time.Time
	ID         string // transaction id ("gsendmail serve"); "" for a sendmail invocation
	Client     string // the SMTP client's address ("gsendmail serve", -bs)
	Account    string
	Host       string
	TLS        string // "tls", "starttls", "none"
	Auth       string // mechanism used, or "none"
	User       string
	From       string
	Recipients []string
	Size       int64
	SMTPStatus string // last server reply line for the message, e.g. "250 2.0.0 Ok: queued as 4Xyz"
	ExitCode   int
	Queued     string // queue id when the message was queued instead
	Error      string // one-line error, empty on success
}

// Line renders r as key=value pairs; values with spaces or quotes are
// quoted, and control characters are escaped so one record is one line.
func (r Record) Line() string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quote(v))
	}
	add("id", r.ID)
	add("client", r.Client)
	add("account", r.Account)
	add("host", r.Host)
	add("tls", r.TLS)
	add("auth", r.Auth)
	add("user", r.User)
	from := r.From
	if from == "" {
		from = "<>"
	}
	add("from", from)
	add("recipients", strings.Join(r.Recipients, ","))
	add("mailsize", fmt.Sprint(r.Size))
	add("smtpstatus", r.SMTPStatus)
	add("queued", r.Queued)
	add("error", r.Error)
	add("exitcode", fmt.Sprint(r.ExitCode))
	return b.String()
}

func quote(v string) string {
	// Server replies and error text end up here; no secret may (promise 4).
	v = redact.Default.Secrets([]string{v})[0]
	if !strings.ContainsAny(v, " \t\"'\\=") && redact.IsPrintable(v) {
		return v
	}
	return fmt.Sprintf("%q", v)
}

// Logger sends records to the configured destinations. The zero value logs
// nowhere.
type Logger struct {
	File   string // path; "" for none
	Syslog string // facility name; "" for none
}

// Log writes r. Failures to log are returned but must not change the
// outcome of the submission; the caller reports them as a warning.
func (l Logger) Log(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	var errs []string
	if l.File != "" {
		if err := appendLine(l.File, r.Time.Format(time.RFC3339)+" "+r.Line()+"\n"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if l.Syslog != "" {
		if err := writeSyslog(l.Syslog, r.ExitCode, r.Line()); err != nil {
			errs = append(errs, "syslog: "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot write log: %s", strings.Join(errs, "; "))
	}
	return nil
}

func appendLine(path, line string) error {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// One write call per record: O_APPEND keeps concurrent records whole.
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
