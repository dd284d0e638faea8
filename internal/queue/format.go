package queue

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/redact"
)

// FormatList writes entries for mailq: per entry a line with ID, age, size
// and sender, then its state (attempts, when the next try is due, the last
// error) and one line per recipient; a summary line at the end. Addresses
// and errors are printed so that control characters in them cannot drive
// the terminal. With no entries it writes "Mail queue is empty".
func FormatList(w io.Writer, entries []Entry, now time.Time) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return
	}
	var total int64
	for _, e := range entries {
		total += e.Size
		sender := e.From
		if sender == "" {
			sender = "<>"
		}
		fmt.Fprintf(w, "%s  %6s  %8d  %s\n", e.ID, Age(now.Sub(e.Created)), e.Size, printable(sender))
		var state []string
		if e.Account != "" {
			state = append(state, "account "+printable(e.Account))
		}
		if s := e.Submitter; s != nil {
			who := s.Name
			if who == "" {
				who = "uid " + strconv.Itoa(s.UID)
			}
			state = append(state, "user "+printable(who))
		}
		state = append(state, fmt.Sprintf("attempts %d", e.Attempts))
		switch {
		case !e.Failed.IsZero():
			state = append(state, "failed "+Age(now.Sub(e.Failed))+" ago")
		case e.NextAttempt.After(now):
			state = append(state, "next try in "+Age(e.NextAttempt.Sub(now)))
		default:
			state = append(state, "due now")
		}
		fmt.Fprintf(w, "    (%s)\n", strings.Join(state, ", "))
		if e.LastError != "" {
			fmt.Fprintf(w, "    last error: %s\n", printable(e.LastError))
		}
		for _, r := range e.To {
			fmt.Fprintf(w, "    -> %s\n", printable(r))
		}
	}
	noun := "messages"
	if len(entries) == 1 {
		noun = "message"
	}
	fmt.Fprintf(w, "-- %d %s, %s\n", len(entries), noun, sizeString(total))
}

// Age formats a duration the way mailq users read it: 42s, 5m, 3h12m, 2d4h.
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func sizeString(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// printable returns s unchanged unless it holds control or format
// characters (ESC, CR, bidi overrides) or invalid UTF-8
// (redact.IsPrintable), in which case it is Go-quoted so mailq shows
// every byte.
func printable(s string) string {
	if redact.IsPrintable(s) {
		return s
	}
	return strconv.Quote(s)
}
