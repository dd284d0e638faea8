// Package cli owns gsendmail's command line: the sendmail-compatible
// options that git send-email, cron, PHP mail(), mailx, mutt and friends
// pass, the mailq and newaliases personalities chosen by argv[0], and the
// `gsendmail <verb>` subcommands. Parse only turns argv into an
// Invocation; it reads no files, touches no message and prints nothing.
// What each mode does belongs to cmd/gsendmail and the packages it wires.
package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Mode is what the invocation asks for.
type Mode int

// Modes.
const (
	Send       Mode = iota // -bm (default): deliver a message read from stdin
	SMTPStdio              // -bs: speak SMTP on stdin/stdout
	ListQueue              // -bp, or argv[0] "mailq"
	FlushQueue             // -q, -q<interval>, -qf
	NewAliases             // -bi, -I, or argv[0] "newaliases"
	Version                // --version
	Help                   // --help
	Subcommand             // gsendmail <verb> ...
)

var modeNames = [...]string{"send", "smtp-stdio", "list-queue", "flush-queue", "newaliases", "version", "help", "subcommand"}

func (m Mode) String() string {
	if int(m) >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Verbs are the subcommands of `gsendmail <verb>`; they are recognised
// only when argv[0]'s base name is "gsendmail".
var Verbs = []string{"auth", "queue", "doctor", "probe", "setup", "accounts", "password", "pickup", "serve", "version", "help"}

// Invocation is a parsed command line.
type Invocation struct {
	Mode       Mode
	Subcommand string   // the verb, in Subcommand mode
	SubArgs    []string // the verb's arguments, unparsed

	Recipients     []string // bare addresses from the arguments, in order
	ReadRecipients bool     // -t: take recipients from To/Cc/Bcc
	IgnoreDots     bool     // -i, -oi: a "." line does not end the message

	From     string // -f/-r envelope sender, without angle brackets
	FromSet  bool   // -f/-r given; From "" with FromSet is the null sender <>
	FullName string // -F: display name for an added From field

	DSNNotify string // -N: "NEVER" or a list of SUCCESS,FAILURE,DELAY (RFC 3461 §4.1)
	DSNReturn string // -R: "FULL" or "HDRS" (RFC 3461 §4.3)
	EnvID     string // -V: envelope id (RFC 3461 §4.4), not yet xtext-encoded
	BodyType  string // -B: "7BIT" or "8BITMIME" (RFC 6152)

	Verbose      bool // -v
	VerboseLevel int  // number of -v given

	ConfigFile    string // -C file
	Account       string // -a NAME, --account NAME, --account=NAME
	ServerInfo    bool   // --serverinfo
	Pretend       bool   // --pretend
	QueueInterval string // -q30m: "30m"; "" for a single run (-q, -qf)
	QueueForce    bool   // -qf: retry every queued message now, ignoring backoff

	// Ignored lists options accepted for compatibility and ignored, as
	// written, for the -v transcript.
	Ignored []string
}

// usageError is an error with exit code 64 (EX_USAGE).
func usageError(format string, a ...any) error {
	return sysexits.New(sysexits.Usage, fmt.Errorf(format, a...))
}

// unsupportedB explains the -b modes a relay-only sendmail cannot do.
var unsupportedB = map[string]string{
	"d": "running as an SMTP daemon",
	"D": "running as an SMTP daemon",
	"a": "ARPANET mode",
	"h": "the host status database",
	"H": "the host status database",
	"P": "printing queue counts",
	"t": "address test mode",
	"v": "verifying addresses",
	"z": "freezing the configuration",
}

// takesArg lists the single-letter options that take an argument (the
// rest of the word, or the next word), as in sendmail's getopt string.
const takesArg = "abBCdfFhLMNoOpqrRVXA"

var intervalRE = &lazyre.Regexp{Expr: `^([0-9]+[smhdw]?)+$`}

// Parse parses a sendmail command line. argv0 selects the personality
// (sendmail, mailq, newaliases, gsendmail); args excludes argv0. Errors
// have exit code 64 and say which option is wrong.
func Parse(argv0 string, args []string) (*Invocation, error) {
	inv := &Invocation{Mode: Send}
	base := filepath.Base(argv0)
	switch base {
	case "mailq":
		inv.Mode = ListQueue
	case "newaliases":
		inv.Mode = NewAliases
	case "gsendmail":
		if sub, ok := parseSubcommand(args); ok {
			return sub, nil
		}
	}
	personality := inv.Mode
	for _, a := range args {
		if strings.ContainsAny(a, "\r\n\x00") {
			return nil, usageError("argument %q contains a line break or NUL byte; remove it", a)
		}
	}

	var positional []string
	forceMode := Mode(-1) // --version / --help win over everything
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
			continue
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "version", "help", "serverinfo", "pretend":
				if hasVal {
					return nil, usageError("option --%s takes no value (see gsendmail(1))", name)
				}
			}
			switch name {
			case "version":
				forceMode = Version
			case "help":
				forceMode = Help
			case "serverinfo":
				inv.ServerInfo = true
			case "pretend":
				inv.Pretend = true
			case "account":
				if !hasVal {
					if i+1 >= len(args) {
						return nil, usageError("option --account needs an account name (see gsendmail(1))")
					}
					i++
					val = args[i]
				}
				if val == "" {
					return nil, usageError("option --account needs an account name (see gsendmail(1))")
				}
				inv.Account = val
			default:
				return nil, usageError("unknown option %s (see gsendmail(1))", a)
			}
			continue
		case a == "-" || !strings.HasPrefix(a, "-"):
			// getopt would stop here; GNU getopt (msmtp, Postfix on
			// Linux) keeps going, so options after addresses still work.
			if a != "-" {
				positional = append(positional, a)
			} else {
				inv.Ignored = append(inv.Ignored, a)
			}
			continue
		}
		// A cluster of single-letter options: -ti, -oi, -fme@x.
		for j := 1; j < len(a); j++ {
			c := a[j]
			if strings.IndexByte(takesArg, c) < 0 {
				if err := inv.flag(c, a); err != nil {
					return nil, err
				}
				continue
			}
			val, hasVal := a[j+1:], j+1 < len(a)
			var opt string
			if c == 'q' {
				// -q's interval is optional and only ever attached.
				if err := inv.queue(val, personality); err != nil {
					return nil, err
				}
				break
			}
			if !hasVal {
				if i+1 >= len(args) {
					return nil, usageError("option -%c needs a value (see gsendmail(1))", c)
				}
				i++
				val = args[i]
				opt = "-" + string(c) + " " + val
			} else {
				opt = "-" + string(c) + val
			}
			if err := inv.withArg(c, val, opt); err != nil {
				return nil, err
			}
			break
		}
	}
	if forceMode >= 0 {
		inv.Mode = forceMode
	}
	if personality == ListQueue || personality == NewAliases {
		if len(positional) > 0 && inv.Mode == personality {
			return nil, usageError("%s takes no addresses, got %q", base, positional[0])
		}
	}
	for _, p := range positional {
		list, err := message.ParseAddressList(p)
		if err != nil {
			return nil, usageError("cannot parse recipient %q: %v", p, err)
		}
		inv.Recipients = append(inv.Recipients, list...)
	}
	return inv, nil
}

// flag handles an option letter without an argument.
func (inv *Invocation) flag(c byte, word string) error {
	switch c {
	case 't':
		inv.ReadRecipients = true
	case 'i':
		inv.IgnoreDots = true
	case 'v':
		inv.Verbose = true
		inv.VerboseLevel++
	case 'I':
		inv.Mode = NewAliases
	case 'G', 'U', 'n', 'm', 's', 'x':
		// -G gateway, -U initial submission, -n no aliasing, -m me too,
		// -s save From lines (obsolete), -x: accepted and ignored.
		inv.Ignored = append(inv.Ignored, "-"+string(c))
	default:
		if c < 0x20 || c >= 0x7f {
			return usageError("unknown option in %q (see gsendmail(1))", word)
		}
		return usageError("unknown option -%c (see gsendmail(1))", c)
	}
	return nil
}

// withArg handles an option letter with its value; opt is the option as
// written, for Ignored.
func (inv *Invocation) withArg(c byte, val, opt string) error {
	switch c {
	case 'f', 'r':
		v := strings.TrimSpace(val)
		if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
			v = strings.TrimSpace(v[1 : len(v)-1])
		}
		if v != "" {
			list, err := message.ParseAddressList(v)
			if err != nil || len(list) != 1 {
				return usageError("-%c %q is not one email address; give the envelope sender as -f you@example.org", c, val)
			}
			v = list[0]
			if strings.HasPrefix(v, "-") {
				return usageError("-%c %q starts with '-'; give the envelope sender as -f you@example.org", c, val)
			}
		}
		inv.From, inv.FromSet = v, true
	case 'F':
		inv.FullName = val
	case 'N':
		n, err := parseNotify(val)
		if err != nil {
			return err
		}
		inv.DSNNotify = n
	case 'R':
		switch strings.ToUpper(val) {
		case "FULL", "HDRS":
			inv.DSNReturn = strings.ToUpper(val)
		default:
			return usageError("-R %q: use -R full or -R hdrs", val)
		}
	case 'V':
		// RFC 3461 §4.4: ENVID is at most 100 characters of printable
		// US-ASCII once xtext-decoded.
		if val == "" || len(val) > 100 {
			return usageError("-V needs an envelope id of 1 to 100 characters")
		}
		for _, r := range val {
			if r < 0x21 || r > 0x7e {
				return usageError("-V %q: the envelope id must be printable ASCII without spaces", val)
			}
		}
		inv.EnvID = val
	case 'B':
		switch strings.ToUpper(val) {
		case "7BIT", "8BITMIME":
			inv.BodyType = strings.ToUpper(val)
		default:
			return usageError("-B %q: use -B 7BIT or -B 8BITMIME", val)
		}
	case 'C':
		if val == "" {
			return usageError("-C needs a configuration file name")
		}
		inv.ConfigFile = val
	case 'a':
		if val == "" {
			return usageError("-a needs an account name")
		}
		inv.Account = val
	case 'b':
		return inv.bmode(val)
	case 'o':
		switch val {
		case "i":
			inv.IgnoreDots = true
		default:
			// -oem, -oep, -om, -odi, -oQ...: sendmail.cf options
			// with no meaning for a relay-only sendmail.
			inv.Ignored = append(inv.Ignored, opt)
		}
	case 'd', 'h', 'L', 'M', 'O', 'p', 'X', 'A':
		// -d debug, -h hop count, -L syslog label, -M macro, -O option,
		// -p protocol, -X traffic log file, -A submit.cf selector.
		inv.Ignored = append(inv.Ignored, opt)
	}
	return nil
}

// bmode handles -b<mode>.
func (inv *Invocation) bmode(v string) error {
	switch v {
	case "m":
		inv.Mode = Send
	case "s":
		inv.Mode = SMTPStdio
	case "p":
		inv.Mode = ListQueue
	case "i":
		inv.Mode = NewAliases
	default:
		if what, ok := unsupportedB[v]; ok {
			return usageError("-b%s (%s) is not supported: gsendmail only submits mail to a smarthost", v, what)
		}
		return usageError("unknown option -b%s (see gsendmail(1))", v)
	}
	return nil
}

// queue handles -q[interval]. mailq and newaliases accept and ignore it.
func (inv *Invocation) queue(v string, personality Mode) error {
	if personality == ListQueue || personality == NewAliases {
		inv.Ignored = append(inv.Ignored, "-q"+v)
		return nil
	}
	switch {
	case v == "" || v == "f":
		inv.QueueInterval = ""
		inv.QueueForce = v == "f"
	case v[0] == 'p' && (v == "p" || intervalRE.Get().MatchString(v[1:])):
		inv.QueueInterval = v[1:]
	case intervalRE.Get().MatchString(v):
		inv.QueueInterval = v
	case strings.ContainsRune("IRSQL!", rune(v[0])):
		// Queue selection (-qR..., -qI..., -qS...): we flush everything.
		inv.Ignored = append(inv.Ignored, "-q"+v)
	default:
		return usageError("-q%s: give a queue run interval like -q30m, or -q to flush now", v)
	}
	inv.Mode = FlushQueue
	return nil
}

// parseNotify validates -N by the envelope's rule (smtp.DSNNotify, RFC
// 3461 4.1) and returns the value as it will be sent; the error names the
// flag.
func parseNotify(v string) (string, error) {
	n, err := smtp.DSNNotify(v)
	if err != nil {
		return "", usageError("-N %q: use -N never, or a comma list of success, failure, delay", v)
	}
	return n, nil
}

// ErrNoRecipients is what a caller returns when Send mode has neither
// recipient arguments nor -t; it has exit code 64.
var ErrNoRecipients = sysexits.New(sysexits.Usage, errors.New(
	"no recipients: give addresses as arguments or use -t to read them from the To, Cc and Bcc header fields"))

// parseSubcommand recognises `gsendmail [-C FILE] [-a NAME] [-v] VERB ...`:
// the options every subcommand shares may come before the verb, as in
// `gsendmail -C cfg.toml auth import work`.
func parseSubcommand(args []string) (*Invocation, bool) {
	inv := &Invocation{Mode: Subcommand}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.ContainsAny(a, "\r\n\x00") {
			return nil, false
		}
		switch {
		case a == "-v":
			inv.Verbose = true
			inv.VerboseLevel++
			continue
		case a == "-C" || a == "-a" || a == "--account":
			if i+1 >= len(args) {
				return nil, false
			}
			i++
			if a == "-C" {
				inv.ConfigFile = args[i]
			} else {
				inv.Account = args[i]
			}
			continue
		case strings.HasPrefix(a, "-C") && len(a) > 2:
			inv.ConfigFile = a[2:]
			continue
		case strings.HasPrefix(a, "--account="):
			inv.Account = strings.TrimPrefix(a, "--account=")
			continue
		case strings.HasPrefix(a, "-a") && len(a) > 2:
			inv.Account = a[2:]
			continue
		}
		for _, v := range Verbs {
			if a == v {
				inv.Subcommand = v
				inv.SubArgs = append([]string(nil), args[i+1:]...)
				return inv, true
			}
		}
		return nil, false
	}
	return nil, false
}
