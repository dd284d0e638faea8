// Package doctor owns gsendmail's diagnostics: "gsendmail doctor" (the
// whole path of one account checked step by step without sending),
// "gsendmail probe" (how any SMTP server behaves, with a timed transcript)
// and "--serverinfo" (the capabilities of an account's server). Each step
// becomes one line of a Report with ok, warning or error and, for every
// line that is not ok, the fix; the Report prints for a person (aligned,
// colour only on a terminal) or as JSON, and its exit code is the first
// error's sysexits code.
//
// It does not parse flags, find or load the configuration, build OAuth2
// token sources or print anywhere but the writers it is given: internal/app
// does that and hands in the pieces through Options. It never prints a
// password, token, client secret or AUTH payload.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Status is the verdict of one check.
type Status string

// Statuses, as printed and in JSON.
const (
	OK      Status = "ok"
	Warning Status = "warning"
	Error   Status = "error"
)

// Check is one line of a report.
type Check struct {
	Step    string        // short name of the step: "config", "tls", "auth"...
	Status  Status        // OK, Warning or Error
	Message string        // what was found, one line
	Fix     string        // what to do; set for every Warning and Error
	Code    int           // sysexits code of an Error, 0 otherwise
	Elapsed time.Duration // time the step took, when measured
}

// Line is one line of the protocol transcript with the time since the
// start of the run. Secrets are already redacted by internal/smtp.
type Line struct {
	Elapsed time.Duration
	Text    string
}

// Report is the outcome of doctor, probe or serverinfo.
type Report struct {
	Command    string // "doctor", "probe" or "serverinfo"
	Subject    string // the account name or host:port examined
	Checks     []Check
	Transcript []Line
}

func (r *Report) add(c Check) *Check {
	r.Checks = append(r.Checks, c)
	return &r.Checks[len(r.Checks)-1]
}

func (r *Report) ok(step, format string, a ...any) *Check {
	return r.add(Check{Step: step, Status: OK, Message: fmt.Sprintf(format, a...)})
}

func (r *Report) warn(step, msg, fix string) *Check {
	return r.add(Check{Step: step, Status: Warning, Message: msg, Fix: fix})
}

func (r *Report) fail(step string, code int, msg, fix string) *Check {
	if code == 0 || code == sysexits.OK {
		code = sysexits.Software
	}
	return r.add(Check{Step: step, Status: Error, Message: msg, Fix: fix, Code: code})
}

// Counts returns how many checks have each status.
func (r *Report) Counts() (ok, warnings, errors int) {
	for _, c := range r.Checks {
		switch c.Status {
		case OK:
			ok++
		case Warning:
			warnings++
		case Error:
			errors++
		}
	}
	return
}

// ExitCode is 0 when no check is an error, otherwise the first error's
// sysexits code.
func (r *Report) ExitCode() int {
	for _, c := range r.Checks {
		if c.Status == Error {
			return c.Code
		}
	}
	return sysexits.OK
}

// First returns the first check of step, or nil.
func (r *Report) First(step string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Step == step {
			return &r.Checks[i]
		}
	}
	return nil
}

// UseColor reports whether w is a terminal (a character device) and the
// user has not asked for no colour (https://no-color.org: NO_COLOR set to
// anything non-empty).
func UseColor(w io.Writer, getenv func(string) string) bool {
	if getenv != nil && getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiDim    = "\x1b[2m"
)

// WriteText prints the report for a person: one aligned line per check,
// the fix under every non-ok line, the transcript when withTranscript, and
// a summary line. color adds ANSI colours (see UseColor).
func (r *Report) WriteText(w io.Writer, color, withTranscript bool) error {
	var b strings.Builder
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	fmt.Fprintf(&b, "gsendmail %s: %s\n", r.Command, r.Subject)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Step))
	}
	for _, c := range r.Checks {
		st := fmt.Sprintf("%-7s", c.Status)
		switch c.Status {
		case OK:
			st = paint(ansiGreen, st)
		case Warning:
			st = paint(ansiYellow, st)
		case Error:
			st = paint(ansiRed, st)
		}
		msg := redact.OneLine(c.Message)
		if c.Elapsed > 0 {
			msg += paint(ansiDim, fmt.Sprintf(" (%s)", ms(c.Elapsed)))
		}
		fmt.Fprintf(&b, "%s  %-*s  %s\n", st, width, c.Step, msg)
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(&b, "%-7s  %-*s  fix: %s\n", "", width, "", redact.OneLine(c.Fix))
		}
	}
	if withTranscript && len(r.Transcript) > 0 {
		b.WriteString("\ntranscript (secrets hidden):\n")
		for _, l := range r.Transcript {
			fmt.Fprintf(&b, "%s %s\n", paint(ansiDim, fmt.Sprintf("%8s", "+"+ms(l.Elapsed))), redact.OneLine(l.Text))
		}
		b.WriteString("\n")
	}
	okN, warnN, errN := r.Counts()
	sum := fmt.Sprintf("summary: %d ok, %d %s, %d %s", okN, warnN, plural(warnN, "warning"), errN, plural(errN, "error"))
	if code := r.ExitCode(); code != 0 {
		sum += fmt.Sprintf(" (exit %d)", code)
		sum = paint(ansiRed, sum)
	} else if warnN > 0 {
		sum = paint(ansiYellow, sum)
	} else {
		sum = paint(ansiGreen, sum)
	}
	b.WriteString(sum + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// ms formats a duration in milliseconds with one decimal below 10ms.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 10 {
		return fmt.Sprintf("%.1fms", f)
	}
	return fmt.Sprintf("%.0fms", f)
}

// JSON shapes: field names are part of the interface (documented in the
// man page).
type jsonCheck struct {
	Step      string  `json:"step"`
	Status    Status  `json:"status"`
	Message   string  `json:"message"`
	Fix       string  `json:"fix,omitempty"`
	ExitCode  int     `json:"exit_code,omitempty"`
	ElapsedMS float64 `json:"elapsed_ms,omitempty"`
}

type jsonLine struct {
	ElapsedMS float64 `json:"elapsed_ms"`
	Line      string  `json:"line"`
}

type jsonReport struct {
	Command    string      `json:"command"`
	Subject    string      `json:"subject"`
	Checks     []jsonCheck `json:"checks"`
	Transcript []jsonLine  `json:"transcript,omitempty"`
	Summary    struct {
		OK       int `json:"ok"`
		Warnings int `json:"warnings"`
		Errors   int `json:"errors"`
	} `json:"summary"`
	ExitCode int `json:"exit_code"`
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Command: r.Command, Subject: r.Subject, Checks: []jsonCheck{}, ExitCode: r.ExitCode()}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, jsonCheck{c.Step, c.Status, c.Message, c.Fix, c.Code, millis(c.Elapsed)})
	}
	for _, l := range r.Transcript {
		out.Transcript = append(out.Transcript, jsonLine{millis(l.Elapsed), l.Text})
	}
	out.Summary.OK, out.Summary.Warnings, out.Summary.Errors = r.Counts()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
