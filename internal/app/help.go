package app

// This file answers "gsendmail VERB --help" (or -h) for every verb, before
// the verb's own argument parsing runs: a verb that registers no text here
// still gets its lines of the top-level usage, so a new verb has help from
// the start.

import (
	"fmt"
	"strings"

	"github.com/gsendmail/gsendmail/internal/setup"
)

// verbUsage returns the help text of a verb; the functions run only when
// asked, so texts built from other packages (setup's flags) stay current.
var verbUsage = map[string]func() string{
	"auth": func() string {
		return `usage: gsendmail auth login [--no-browser | --device] [ACCOUNT]
       gsendmail auth import [ACCOUNT] < refresh-token
       gsendmail auth status [ACCOUNT]
       gsendmail auth logout [ACCOUNT]

Obtains, imports, shows or removes an account's OAuth2 tokens.
--no-browser: paste the redirect URL instead of a local listener;
--device: the device-code flow (Microsoft). See gsendmail(1), AUTH.
`
	},
	"queue": func() string {
		return `usage: gsendmail queue list
       gsendmail queue flush [ACCOUNT]
       gsendmail queue drop ID...

Lists, retries or removes messages queued after a temporary failure.
On the system MTA a user lists and drops only their own messages (root:
all of them). See gsendmail(1), QUEUE.
`
	},
	"doctor": func() string {
		return `usage: gsendmail doctor [ACCOUNT] [--rcpt ADDR] [--from ADDR] [--json] [-v]

Checks an account step by step (configuration, DNS, TLS, EHLO name,
credentials, optionally a recipient) and says what to fix.
See gsendmail(1), DOCTOR.
`
	},
	"probe": func() string {
		return `usage: gsendmail probe HOST[:PORT] [--starttls | --tls] [--from ADDR --to ADDR]
                       [--ehlo NAME] [--tls-trust-file FILE] [--json]

Shows what a server offers, without an account or credentials.
See gsendmail(1), DOCTOR.
`
	},
	"setup": setup.Usage,
	"accounts": func() string {
		return "usage: gsendmail accounts [-C FILE]\n\nPrints the configured account names, one per line.\n"
	},
	"password": func() string {
		return "usage: gsendmail password set|delete ACCOUNT\n\nStores (read from standard input) or removes an account's password in the OS keyring.\n"
	},
	"version": func() string { return "usage: gsendmail version\n\nPrints the version.\n" },
	"help":    func() string { return usage },
}

// wantsHelp reports whether args ask for help: "-h" or "--help" before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

// verbHelp is the help text of verb: its own, else the lines of the
// top-level usage that show it, else a pointer to the manual.
func verbHelp(verb string) string {
	if f, ok := verbUsage[verb]; ok {
		return f()
	}
	var lines []string
	for _, l := range strings.Split(usage, "\n") {
		t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "usage:"))
		if strings.HasPrefix(t, "gsendmail "+verb+" ") || t == "gsendmail "+verb {
			lines = append(lines, t)
		}
	}
	if len(lines) == 0 {
		return fmt.Sprintf("usage: gsendmail %s ...\n\nSee gsendmail(1).\n", verb)
	}
	return "usage: " + strings.Join(lines, "\n       ") + "\n\nSee gsendmail(1).\n"
}
