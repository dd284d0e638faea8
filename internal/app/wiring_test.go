package app

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/version"
)

// These tests pin app's wiring: what argv[0] and the sendmail options make
// of one invocation, which configuration and account it uses, and the
// exit code and single stderr line of every failure app reports. They run
// Run and Report as main does, against upstream_test.go's server.

// crlf turns wire line endings into "\n" for comparisons.
func crlf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

const plainMsg = "Subject: wiring\n\nbody\n"

func TestArgv0AndModeOptionsPickWhatRuns(t *testing.T) {
	cases := []struct {
		name   string
		argv0  string
		args   []string
		code   int
		sent   int    // messages the upstream must receive
		stdout string // a phrase stdout must contain; "" means stdout must be empty
		stderr string // a phrase of the one stderr line; "" means stderr must be empty
	}{
		{"sendmail by its path sends", "/usr/sbin/sendmail", []string{"rcpt@example.net"}, 0, 1, "", ""},
		{"sendmail by its bare name sends", "sendmail", []string{"rcpt@example.net"}, 0, 1, "", ""},
		{"gsendmail with an address sends", "/usr/bin/gsendmail", []string{"rcpt@example.net"}, 0, 1, "", ""},
		{"sendmail -bm sends", "sendmail", []string{"-bm", "rcpt@example.net"}, 0, 1, "", ""},
		{"mailq lists the queue", "/usr/bin/mailq", nil, 0, 0, "queue is empty", ""},
		{"mailq accepts and ignores -q options", "mailq", []string{"-qR"}, 0, 0, "queue is empty", ""},
		{"mailq refuses addresses", "mailq", []string{"rcpt@example.net"}, sysexits.Usage, 0, "", "takes no addresses"},
		{"sendmail -bp is mailq", "sendmail", []string{"-bp"}, 0, 0, "queue is empty", ""},
		{"newaliases succeeds silently", "/usr/bin/newaliases", nil, 0, 0, "", ""},
		{"sendmail -bi is newaliases", "sendmail", []string{"-bi"}, 0, 0, "", ""},
		{"sendmail -I is newaliases", "sendmail", []string{"-I"}, 0, 0, "", ""},
		{"sendmail -q flushes an empty queue silently", "sendmail", []string{"-q"}, 0, 0, "", ""},
		{"sendmail -q30m is accepted as one flush", "sendmail", []string{"-q30m"}, 0, 0, "", ""},
		{"--version prints the version", "sendmail", []string{"--version"}, 0, 0, version.String(), ""},
		{"--help prints the usage", "sendmail", []string{"--help"}, 0, 0, "usage: gsendmail", ""},
		{"gsendmail version is a verb", "gsendmail", []string{"version"}, 0, 0, version.String(), ""},
		{"gsendmail queue list is a verb", "gsendmail", []string{"queue", "list"}, 0, 0, "queue is empty", ""},
		{"gsendmail help is a verb", "gsendmail", []string{"help"}, 0, 0, "usage: gsendmail", ""},
		{"verbs belong to gsendmail: for sendmail version is a recipient", "sendmail", []string{"version"}, sysexits.NoUser, 0, "", `"version"`},
		{"verbs belong to gsendmail: for sendmail queue is a recipient", "/usr/sbin/sendmail", []string{"queue", "list"}, sysexits.NoUser, 0, "", `"queue"`},
		{"-bv is refused as unsupported", "sendmail", []string{"-bv", "rcpt@example.net"}, sysexits.Usage, 0, "", "-bv"},
		{"-bd is refused as unsupported", "sendmail", []string{"-bd"}, sysexits.Usage, 0, "", "not supported"},
		{"an unknown -b mode is a usage error", "sendmail", []string{"-bz"}, sysexits.Usage, 0, "", "-bz"},
		{"--pretend sends nothing", "sendmail", []string{"--pretend", "rcpt@example.net"}, 0, 0, "nothing was sent", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, accountTOML("t", u, upUser, ""))
			r := w.run(plainMsg, c.argv0, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.code, r)
			}
			if n := len(u.received()); n != c.sent {
				t.Errorf("upstream received %d messages, want %d\n%s", n, c.sent, r)
			}
			if c.stdout == "" && r.stdout != "" || !strings.Contains(r.stdout, c.stdout) {
				t.Errorf("stdout %q, want %q", r.stdout, c.stdout)
			}
			if c.stderr == "" {
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
			} else {
				oneErrorLine(t, r, c.stderr)
			}
		})
	}
}

// fullMsg has every header field the options look at and a lone "." line.
const fullMsg = "From: Sender <" + upUser + ">\nTo: to@example.net\nCc: cc@example.net\nBcc: hidden@example.net\nSubject: wiring\n\nbefore\n.\nafter\n"

func TestSendmailOptionsShapeTheEnvelopeAndMessage(t *testing.T) {
	sender := func(want string) func(*testing.T, upMsg) {
		return func(t *testing.T, m upMsg) {
			if m.from != want {
				t.Errorf("MAIL FROM:<%s>, want <%s>", m.from, want)
			}
		}
	}
	rcpts := func(want ...string) func(*testing.T, upMsg) {
		return func(t *testing.T, m upMsg) {
			if !slices.Equal(m.to, want) {
				t.Errorf("RCPT TO %q, want %q", m.to, want)
			}
		}
	}
	body := func(has, hasNot string) func(*testing.T, upMsg) {
		return func(t *testing.T, m upMsg) {
			d := crlf(m.data)
			if !strings.Contains(d, has) || hasNot != "" && strings.Contains(d, hasNot) {
				t.Errorf("message %q: want %q in it and not %q", d, has, hasNot)
			}
		}
	}
	cases := []struct {
		name   string
		args   []string
		stdin  string
		checks []func(*testing.T, upMsg)
	}{
		{"addresses come from the arguments only", []string{"-i", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("argv@example.net"), sender(upUser)}},
		{"-t reads To, Cc and Bcc and removes Bcc", []string{"-t", "-i"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("to@example.net", "cc@example.net", "hidden@example.net"), body("To: to@example.net", "hidden@example.net")}},
		{"-t adds the header recipients to the arguments", []string{"-ti", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("argv@example.net", "to@example.net", "cc@example.net", "hidden@example.net")}},
		{"a lone dot ends the message without -i", []string{"argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){body("before\n", "after")}},
		{"-i keeps the lone dot line", []string{"-i", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){body("before\n.\nafter\n", "")}},
		{"-oi is -i", []string{"-oi", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){body("before\n.\nafter\n", "")}},
		{"options after the addresses count (GNU order)", []string{"argv@example.net", "-i"}, fullMsg,
			[]func(*testing.T, upMsg){body("before\n.\nafter\n", "")}},
		{"-f sets the envelope sender", []string{"-i", "-f", "other@example.org", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){sender("other@example.org"), body("From: Sender <"+upUser+">", "")}},
		{"-f attached to its value", []string{"-i", "-fother@example.org", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){sender("other@example.org")}},
		{"-r is -f", []string{"-i", "-r", "other@example.org", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){sender("other@example.org")}},
		{"-f with an empty value is the null sender", []string{"-i", "-f", "", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){sender("")}},
		{"-F names the From field it adds", []string{"-F", "Full Name", "argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){body("From: Full Name <"+upUser+">\n", "")}},
		{"-F leaves an existing From field alone", []string{"-i", "-F", "Other Name", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){body("From: Sender <"+upUser+">\n", "Other Name")}},
		{"-N asks for delivery status notifications", []string{"-N", "success,failure", "argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){func(t *testing.T, m upMsg) {
				if want := [][]gosmtp.DSNNotify{{gosmtp.DSNNotifySuccess, gosmtp.DSNNotifyFailure}}; !slices.EqualFunc(m.notify, want, slices.Equal) {
					t.Errorf("NOTIFY %v, want %v", m.notify, want)
				}
			}}},
		{"-N never", []string{"-N", "never", "argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){func(t *testing.T, m upMsg) {
				if want := [][]gosmtp.DSNNotify{{gosmtp.DSNNotifyNever}}; !slices.EqualFunc(m.notify, want, slices.Equal) {
					t.Errorf("NOTIFY %v, want %v", m.notify, want)
				}
			}}},
		{"-R hdrs and -V set RET and ENVID", []string{"-R", "hdrs", "-V", "env-42", "argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){func(t *testing.T, m upMsg) {
				if m.mailOpts.Return != gosmtp.DSNReturnHeaders || m.mailOpts.EnvelopeID != "env-42" {
					t.Errorf("RET=%q ENVID=%q, want HDRS and env-42", m.mailOpts.Return, m.mailOpts.EnvelopeID)
				}
			}}},
		{"without -N, -R, -V no DSN parameters go out", []string{"argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){func(t *testing.T, m upMsg) {
				if len(m.notify) != 1 || m.notify[0] != nil || m.mailOpts.Return != "" || m.mailOpts.EnvelopeID != "" {
					t.Errorf("NOTIFY %v RET %q ENVID %q, want none", m.notify, m.mailOpts.Return, m.mailOpts.EnvelopeID)
				}
			}}},
		{"options sendmail accepts and gsendmail ignores", []string{"-oem", "-odi", "-oQ/tmp", "-x", "-U", "-m", "-G", "-n", "-s", "-L", "label", "-h", "5", "-d0.1", "-O", "x=y", "-pESMTP", "-Am", "-i", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("argv@example.net"), body("after", "")}},
		{"-- ends the options", []string{"-i", "--", "argv@example.net"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("argv@example.net")}},
		{"an address list in one argument", []string{"-i", "a@example.net, B <b@example.net>"}, fullMsg,
			[]func(*testing.T, upMsg){rcpts("a@example.net", "b@example.net")}},
		{"the account's user authenticates", []string{"argv@example.net"}, plainMsg,
			[]func(*testing.T, upMsg){func(t *testing.T, m upMsg) {
				if m.user != upUser {
					t.Errorf("AUTH as %q, want %q", m.user, upUser)
				}
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, accountTOML("t", u, upUser, "allow_from_override = true"))
			r := w.sendmail(c.stdin, c.args...)
			if r.code != 0 || r.stdout != "" || r.stderr != "" {
				t.Fatalf("want silent success:\n%s", r)
			}
			m := u.only(t)
			for _, check := range c.checks {
				check(t, m)
			}
		})
	}
}

func TestVerboseShowsTheDialogueOnStderr(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, ""))
	r := w.sendmail(plainMsg, "-v", "argv@example.net")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("want success:\n%s", r)
	}
	for _, want := range []string{"<- 220 ", "-> EHLO ", "-> AUTH PLAIN", "-> MAIL FROM:<" + upUser + ">", "-> RCPT TO:<argv@example.net>", "<- 250 "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("transcript has no %q:\n%s", want, r.stderr)
		}
	}
	u.only(t)
	if q := w.sendmail(plainMsg, "argv@example.net"); q.stderr != "" {
		t.Errorf("without -v stderr is %q, want nothing", q.stderr)
	}
}

func TestConfigurationAndAccountSelection(t *testing.T) {
	ua, ub, uc := startUpstream(t), startUpstream(t), startUpstream(t)
	main := "default_account = \"a\"\n" + accountTOML("a", ua, "a@example.org", "allow_from_override = true") +
		accountTOML("b", ub, "*@b.example", "allow_from_override = true")
	cases := []struct {
		name  string
		args  []string
		stdin string
		env   map[string]string // changes to the environment; "" unsets
		cfg   string            // written as other.toml, for -C
		want  *upstream
		from  string
	}{
		{"the default account", []string{"rcpt@example.net"}, plainMsg, nil, "", ua, "a@example.org"},
		{"-a names the account", []string{"-a", "b", "rcpt@example.net"}, "From: dev@b.example\n\nx\n", nil, "", ub, "dev@b.example"},
		{"--account=NAME", []string{"--account=b", "rcpt@example.net"}, "From: dev@b.example\n\nx\n", nil, "", ub, "dev@b.example"},
		{"--account NAME", []string{"--account", "b", "rcpt@example.net"}, "From: dev@b.example\n\nx\n", nil, "", ub, "dev@b.example"},
		{"-f matching an account's from pattern picks it", []string{"-f", "x@b.example", "rcpt@example.net"}, plainMsg, nil, "", ub, "x@b.example"},
		{"the From: header matching a pattern picks it", []string{"rcpt@example.net"}, "From: dev@b.example\n\nx\n", nil, "", ub, "dev@b.example"},
		{"-C beats $GSENDMAIL_CONFIG", []string{"-C", "OTHER", "rcpt@example.net"}, plainMsg, nil, accountTOML("c", uc, "c@example.org", ""), uc, "c@example.org"},
		{"without $GSENDMAIL_CONFIG the XDG config file", []string{"rcpt@example.net"}, plainMsg, map[string]string{"GSENDMAIL_CONFIG": ""}, "", ua, "a@example.org"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, main)
			if c.env != nil {
				// Move the file to where the default lookup finds it.
				xdg := filepath.Join(w.home, ".config", "gsendmail", "config.toml")
				if err := os.MkdirAll(filepath.Dir(xdg), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(w.cfg, xdg); err != nil {
					t.Fatal(err)
				}
				for k, v := range c.env {
					w.env[k] = v
				}
			}
			args := slices.Clone(c.args)
			if c.cfg != "" {
				other := w.file("other.toml", c.cfg)
				for i := range args {
					if args[i] == "OTHER" {
						args[i] = other
					}
				}
			}
			before := map[*upstream]int{ua: len(ua.received()), ub: len(ub.received()), uc: len(uc.received())}
			r := w.sendmail(c.stdin, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("want silent success:\n%s", r)
			}
			for _, u := range []*upstream{ua, ub, uc} {
				got := len(u.received()) - before[u]
				want := 0
				if u == c.want {
					want = 1
				}
				if got != want {
					t.Errorf("upstream %s got %d messages, want %d", u.addr, got, want)
				}
			}
			if ms := c.want.received(); len(ms) > 0 && ms[len(ms)-1].from != c.from {
				t.Errorf("MAIL FROM:<%s>, want <%s>", ms[len(ms)-1].from, c.from)
			}
		})
	}
}

func TestFailurePathsExitWithTheirCodeAndOneLine(t *testing.T) {
	cases := []struct {
		name    string
		config  string // account keys added to the working account
		cfgFile string // replaces the whole configuration when set
		refuse  func(u *upstream)
		setup   func(t *testing.T, u *upstream, w *world) // after the world is made
		args    []string
		stdin   string
		code    int
		phrases []string
	}{
		{name: "no recipients", args: nil, code: sysexits.Usage, phrases: []string{"no recipients", "-t"}},
		{name: "-t without recipient header fields", args: []string{"-t"}, code: sysexits.DataErr, phrases: []string{"no recipients"}},
		{name: "an unknown option", args: []string{"-Z", "rcpt@example.net"}, code: sysexits.Usage, phrases: []string{"-Z"}},
		{name: "an unknown long option", args: []string{"--frobnicate", "rcpt@example.net"}, code: sysexits.Usage, phrases: []string{"--frobnicate"}},
		{name: "an option without its value", args: []string{"rcpt@example.net", "-f"}, code: sysexits.Usage, phrases: []string{"-f", "needs a value"}},
		{name: "a bad -N", args: []string{"-N", "sometimes", "rcpt@example.net"}, code: sysexits.Usage, phrases: []string{"-N"}},
		{name: "a bad -R", args: []string{"-R", "most", "rcpt@example.net"}, code: sysexits.Usage, phrases: []string{"-R"}},
		{name: "an argument with a line break", args: []string{"rcpt@example.net\nRCPT TO:<x@y.org>"}, code: sysexits.Usage, phrases: []string{"line break"}},
		{name: "a recipient that is no address", args: []string{"<<@@>>"}, code: sysexits.Usage, phrases: []string{"recipient"}},
		{name: "-C names a missing file", args: []string{"-C", "/nonexistent/gsendmail.toml", "rcpt@example.net"}, code: sysexits.Config, phrases: []string{"/nonexistent/gsendmail.toml"}},
		{name: "a configuration that is not TOML", cfgFile: "this is [not toml\n", args: []string{"rcpt@example.net"}, code: sysexits.Config, phrases: []string{"config.toml"}},
		{name: "an unknown key", config: "frobnicate = 1", args: []string{"rcpt@example.net"}, code: sysexits.Config, phrases: []string{"frobnicate"}},
		{name: "no such account", args: []string{"-a", "nope", "rcpt@example.net"}, code: sysexits.Config, phrases: []string{`"nope"`, `"t"`}},
		{name: "a bare local recipient", args: []string{"root"}, code: sysexits.NoUser, phrases: []string{`"root"`, "local_domain"}},
		{name: "a From: header outside the account's pattern", cfgFile: "FROMPATTERN", args: []string{"rcpt@example.net"}, stdin: "From: dev@elsewhere.test\n\nx\n", code: sysexits.DataErr, phrases: []string{"dev@elsewhere.test", "-f"}},
		{name: "the server refuses the password", refuse: func(u *upstream) {
			u.authErr = refusal(535, gosmtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
		},
			args: []string{"rcpt@example.net"}, code: sysexits.NoPerm, phrases: []string{"535"}},
		{name: "a temporary refusal of MAIL without a queue", refuse: func(u *upstream) { u.mailErr = refusal(451, gosmtp.EnhancedCode{4, 3, 0}, "try later") },
			args: []string{"rcpt@example.net"}, code: sysexits.TempFail, phrases: []string{"451", "try later"}},
		{name: "a permanent refusal of the recipient", refuse: func(u *upstream) { u.rcptErr = refusal(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user") },
			args: []string{"rcpt@example.net"}, code: sysexits.Unavailable, phrases: []string{"550", "rcpt@example.net"}},
		{name: "a permanent refusal of the message", refuse: func(u *upstream) { u.dataErr = refusal(554, gosmtp.EnhancedCode{5, 6, 0}, "content rejected") },
			args: []string{"rcpt@example.net"}, code: sysexits.Unavailable, phrases: []string{"554", "content rejected"}},
		{name: "a temporary refusal of the message", refuse: func(u *upstream) { u.dataErr = refusal(452, gosmtp.EnhancedCode{4, 3, 1}, "disk full") },
			args: []string{"rcpt@example.net"}, code: sysexits.TempFail, phrases: []string{"452"}},
		{name: "a permanent refusal with a queue is not queued", config: "queue = true", refuse: func(u *upstream) { u.rcptErr = refusal(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user") },
			args: []string{"rcpt@example.net"}, code: sysexits.Unavailable, phrases: []string{"550"}},
		{name: "nobody listens on the port", cfgFile: "CLOSEDPORT", args: []string{"rcpt@example.net"}, code: sysexits.TempFail, phrases: []string{"127.0.0.1"}},
		{name: "$GSENDMAIL_CONFIG names a missing file", setup: func(t *testing.T, u *upstream, w *world) { w.env["GSENDMAIL_CONFIG"] = "/nonexistent/gsendmail.toml" },
			args: []string{"rcpt@example.net"}, code: sysexits.Config, phrases: []string{"/nonexistent/gsendmail.toml", "GSENDMAIL_CONFIG"}},
		{name: "no from in the account and no From: header", setup: func(t *testing.T, u *upstream, w *world) {
			w.file("config.toml", strings.Replace(accountTOML("t", u, upUser, ""), "from = \""+upUser+"\"\n", "", 1))
		}, args: []string{"rcpt@example.net"}, code: sysexits.Config, phrases: []string{"no from address", "-f"}},
		{name: "a temporary refusal that cannot be queued", setup: func(t *testing.T, u *upstream, w *world) {
			notDir := w.file("not-a-dir", "x")
			w.file("config.toml", accountTOML("t", u, upUser, "queue = true\nqueue_dir = \""+notDir+"\""))
			u.set(func(u *upstream) { u.mailErr = refusal(451, gosmtp.EnhancedCode{4, 3, 0}, "try later") })
		}, args: []string{"rcpt@example.net"}, code: sysexits.TempFail, phrases: []string{"451", "could not be queued", "not a directory"}},
		{name: "an OAuth2 account without HOME for its tokens", setup: func(t *testing.T, u *upstream, w *world) {
			w.file("config.toml", oauthTOML(u))
			delete(w.env, "HOME")
			delete(w.env, "XDG_STATE_HOME")
		}, args: []string{"rcpt@example.net"}, code: sysexits.Config, phrases: []string{"HOME", "XDG_STATE_HOME"}},
		{name: "an OAuth2 account without a token", setup: func(t *testing.T, u *upstream, w *world) { w.file("config.toml", oauthTOML(u)) },
			args: []string{"rcpt@example.net"}, code: sysexits.NoPerm, phrases: []string{"gsendmail auth login o"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			cfg := accountTOML("t", u, upUser, c.config)
			switch c.cfgFile {
			case "":
			case "FROMPATTERN":
				cfg = accountTOML("t", u, "*@example.org", "")
			case "CLOSEDPORT":
				cfg = strings.Replace(cfg, "port = "+u.port(), "port = "+closedPort(t), 1)
			default:
				cfg = c.cfgFile
			}
			w := newWorld(t, cfg)
			if c.refuse != nil {
				u.set(c.refuse)
			}
			if c.setup != nil {
				c.setup(t, u, w)
			}
			stdin := c.stdin
			if stdin == "" {
				stdin = plainMsg
			}
			r := w.sendmail(stdin, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.code, r)
			}
			oneErrorLine(t, r, c.phrases...)
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if n := len(u.received()); n != 0 {
				t.Errorf("upstream received %d messages, want none", n)
			}
			if ids := queuedIDs(t, w); len(ids) != 0 {
				t.Errorf("queued %v, want nothing queued", ids)
			}
		})
	}
}

// oauthTOML is an OAuth2 account "o" on u whose token was never stored,
// with the client secret oauthClientSecret.
func oauthTOML(u *upstream) string { return oauthTOMLSecret(u, "wiring-client-secret") }

func oauthTOMLSecret(u *upstream, clientSecret string) string {
	return fmt.Sprintf(`[account.o]
host = "127.0.0.1"
port = %s
tls = "none"
allow_cleartext_auth = true
user = %q
from = %q
auth = "oauthbearer"
oauth_provider = "google"
oauth_client_id = "wiring-client"
oauth_client_secret = %q
token_store = "file"
`, u.port(), upUser, upUser, clientSecret)
}

// closedPort is a loopback port nobody listens on (it was free a moment
// ago).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return p
}

// queuedIDs are the entries in the world's queue directory.
func queuedIDs(t *testing.T, w *world) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(w.state, "gsendmail", "queue"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".env"); ok && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	return ids
}

// A temporary refusal with queue = true exits 0 saying where the message
// waits; mailq lists it; "sendmail -q" leaves it until its retry time;
// "sendmail -qf" delivers it with the envelope it was given (DSN
// parameters included) and empties the queue.
func TestTemporaryRefusalIsQueuedListedAndFlushed(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, "queue = true"))
	u.set(func(u *upstream) { u.mailErr = refusal(451, gosmtp.EnhancedCode{4, 3, 0}, "greylisted") })
	r := w.sendmail(plainMsg, "-N", "failure", "-V", "env-7", "rcpt@example.net")
	if r.code != 0 {
		t.Fatalf("a queued message exits 0:\n%s", r)
	}
	ids := queuedIDs(t, w)
	if len(ids) != 1 {
		t.Fatalf("queue holds %v, want one message", ids)
	}
	oneErrorLine(t, r, "queued as "+ids[0], "greylisted", "gsendmail -q")

	l := w.run("", "mailq")
	if l.code != 0 || !strings.Contains(l.stdout, ids[0]) || !strings.Contains(l.stdout, "rcpt@example.net") {
		t.Fatalf("mailq does not list %s:\n%s", ids[0], l)
	}

	u.set(func(u *upstream) { u.mailErr = nil })
	// -q sends only what is due; the first retry is a minute away.
	if q := w.sendmail("", "-q"); q.code != 0 || len(u.received()) != 0 || len(queuedIDs(t, w)) != 1 {
		t.Fatalf("sendmail -q sent a message before its retry time:\n%s", q)
	}
	if f := w.sendmail("", "-qf"); f.code != 0 || f.stderr != "" {
		t.Fatalf("sendmail -qf:\n%s", f)
	}
	m := u.only(t)
	// SIZE (RFC 1870) is the size on the wire: CRLF line ends, which the
	// spool does not store (the queue used to send the spool file's size);
	// the upstream keeps what it received, CRLF and all.
	if wire := int64(len(m.data)); !strings.Contains(m.data, "\r\n") || m.mailOpts.Size != wire {
		t.Errorf("flushed MAIL FROM declared SIZE=%d; the message is %d bytes on the wire", m.mailOpts.Size, wire)
	}
	if m.from != upUser || !slices.Equal(m.to, []string{"rcpt@example.net"}) || m.mailOpts.EnvelopeID != "env-7" ||
		len(m.notify) != 1 || !slices.Equal(m.notify[0], []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}) {
		t.Errorf("flushed envelope from %q to %q ENVID %q NOTIFY %v; want the one given to sendmail", m.from, m.to, m.mailOpts.EnvelopeID, m.notify)
	}
	if ids := queuedIDs(t, w); len(ids) != 0 {
		t.Errorf("queue still holds %v after the flush", ids)
	}
	if l := w.run("", "mailq"); !strings.Contains(l.stdout, "queue is empty") {
		t.Errorf("mailq after the flush:\n%s", l)
	}
}

// "sendmail -bs" takes the envelope from the dialogue and reports each
// step as an SMTP reply on stdout; the process exits 0 after QUIT.
func TestDashBsDeliversWhatTheDialogueSays(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, ""))
	dialogue := "EHLO client.example\r\nMAIL FROM:<" + upUser + ">\r\nRCPT TO:<bs@example.net>\r\nDATA\r\nSubject: bs\r\n\r\nover stdio\r\n.\r\nQUIT\r\n"
	r := w.sendmail(dialogue, "-bs")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and no stderr:\n%s", r)
	}
	codes := regexp.MustCompile(`(?m)^(\d{3}) `).FindAllStringSubmatch(r.stdout, -1)
	var got []string
	for _, c := range codes {
		got = append(got, c[1])
	}
	if want := []string{"220", "250", "250", "250", "354", "250", "221"}; !slices.Equal(got, want) {
		t.Errorf("final replies %v, want %v:\n%s", got, want, r.stdout)
	}
	m := u.only(t)
	if m.from != upUser || !slices.Equal(m.to, []string{"bs@example.net"}) || !strings.Contains(crlf(m.data), "\n\nover stdio\n") {
		t.Errorf("upstream got from %q to %q data %q", m.from, m.to, m.data)
	}
}

// secretForms are the ways the password could leak: as written, and in
// the base64 of an AUTH PLAIN or LOGIN exchange.
func secretForms(u *upstream) []string {
	b := base64.StdEncoding.EncodeToString
	return []string{u.pass, b([]byte(u.pass)), b([]byte("\x00" + upUser + "\x00" + u.pass)), b([]byte(upUser + "\x00" + upUser + "\x00" + u.pass))}
}

func TestThePasswordAppearsInNoOutputOrLog(t *testing.T) {
	cases := []struct {
		name   string
		extra  string // "password_file" reads the password from a file instead
		refuse func(u *upstream)
		args   []string
		code   int
	}{
		{"-v transcript of a success", "", nil, []string{"-v", "rcpt@example.net"}, 0},
		{"-v transcript with the password from password_file", "password_file", nil, []string{"-v", "rcpt@example.net"}, 0},
		{"an AUTH refusal quoting a password from password_file", "password_file", func(u *upstream) {
			u.authErr = refusal(535, gosmtp.EnhancedCode{5, 7, 8}, "password "+u.pass+" is wrong")
		}, []string{"rcpt@example.net"}, sysexits.NoPerm},
		{"-v -v transcript", "", nil, []string{"-v", "-v", "rcpt@example.net"}, 0},
		{"--pretend", "", nil, []string{"--pretend", "-v", "rcpt@example.net"}, 0},
		{"an AUTH refusal that quotes the password", "", func(u *upstream) {
			u.authErr = refusal(535, gosmtp.EnhancedCode{5, 7, 8}, "password "+u.pass+" is wrong")
		}, []string{"-v", "rcpt@example.net"}, sysexits.NoPerm},
		{"a RCPT refusal that quotes the password", "", func(u *upstream) {
			u.rcptErr = refusal(550, gosmtp.EnhancedCode{5, 7, 1}, "not for "+u.pass)
		}, []string{"rcpt@example.net"}, sysexits.Unavailable},
		{"a queued temporary refusal that quotes the password", "queue = true", func(u *upstream) {
			u.mailErr = refusal(451, gosmtp.EnhancedCode{4, 3, 0}, "later, "+u.pass)
		}, []string{"-v", "rcpt@example.net"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t) // a password no earlier test has seen
			logfile := filepath.Join(t.TempDir(), "gsendmail.log")
			cfg := accountTOML("t", u, upUser, "logfile = \""+logfile+"\"")
			if c.extra == "password_file" {
				pf := filepath.Join(t.TempDir(), "password")
				if err := os.WriteFile(pf, []byte(u.pass+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg = strings.Replace(cfg, fmt.Sprintf("password = %q", u.pass), fmt.Sprintf("password_file = %q", pf), 1)
			} else {
				cfg += c.extra + "\n"
			}
			w := newWorld(t, cfg)
			if c.refuse != nil {
				u.set(c.refuse)
			}
			r := w.sendmail(plainMsg, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, c.code, r)
			}
			logged, _ := os.ReadFile(logfile)
			mailq := w.run("", "mailq", "-v")
			for _, s := range secretForms(u) {
				for what, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "the log file": string(logged), "mailq": mailq.stdout + mailq.stderr} {
					if strings.Contains(text, s) {
						t.Errorf("%s contains the password (%q):\n%s", what, s, text)
					}
				}
			}
		})
	}
}

// The OAuth2 client secret of an account is a secret too: no output of a
// send, "auth status" or --pretend shows it.
func TestTheOAuthClientSecretAppearsInNoOutput(t *testing.T) {
	u := startUpstream(t)
	secret := "wiring-client-secret-" + rand.Text()
	w := newWorld(t, oauthTOMLSecret(u, secret))
	runs := map[string]ran{
		"sendmail -v":      w.sendmail(plainMsg, "-v", "rcpt@example.net"),
		"--pretend":        w.sendmail(plainMsg, "--pretend", "rcpt@example.net"),
		"auth status":      w.run("", "gsendmail", "auth", "status", "o"),
		"auth status -v":   w.run("", "gsendmail", "-v", "auth", "status", "o"),
		"accounts":         w.run("", "gsendmail", "accounts"),
		"mailq -v":         w.run("", "mailq", "-v"),
		"queue list":       w.run("", "gsendmail", "queue", "list"),
		"verb usage error": w.run("", "gsendmail", "auth", "frobnicate", "o"),
	}
	if r := runs["sendmail -v"]; r.code != sysexits.NoPerm {
		t.Errorf("sendmail without a token: exit %d, want %d\n%s", r.code, sysexits.NoPerm, r)
	}
	for what, r := range runs {
		for _, s := range redactForms(secret) {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("%s shows the client secret (%q):\n%s", what, s, r)
			}
		}
	}
}

// redactForms are a secret as written and in base64.
func redactForms(s string) []string {
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
}

// queueOne queues one message for account t of w (the upstream refuses
// MAIL with a 451 meanwhile) and returns its id.
func queueOne(t *testing.T, u *upstream, w *world) string {
	t.Helper()
	u.set(func(u *upstream) { u.mailErr = refusal(451, gosmtp.EnhancedCode{4, 3, 0}, "greylisted") })
	defer u.set(func(u *upstream) { u.mailErr = nil })
	if r := w.sendmail(plainMsg, "rcpt@example.net"); r.code != 0 {
		t.Fatalf("queueing:\n%s", r)
	}
	ids := queuedIDs(t, w)
	if len(ids) != 1 {
		t.Fatalf("queue holds %v, want one message", ids)
	}
	return ids[0]
}

// A message whose account left the configuration while it waited is not
// lost: the flush says which account is gone and the message stays.
func TestFlushOfAMessageWhoseAccountIsGoneSaysSoAndKeepsIt(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, "queue = true"))
	id := queueOne(t, u, w)
	w.file("config.toml", accountTOML("renamed", u, upUser, "queue = true"))
	r := w.sendmail("", "-qf")
	if r.code != sysexits.Config {
		t.Fatalf("exit %d, want %d\n%s", r.code, sysexits.Config, r)
	}
	oneErrorLine(t, r, `"t"`, "no longer in", w.cfg)
	if ids := queuedIDs(t, w); !slices.Equal(ids, []string{id}) {
		t.Errorf("queue holds %v, want %s kept", ids, id)
	}
	if n := len(u.received()); n != 0 {
		t.Errorf("upstream received %d messages, want none", n)
	}
}

func TestGsendmailVerbsUsageAndQueueDrop(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		phrases []string // of the one stderr line; none means stderr is empty
	}{
		{"queue without a subcommand", []string{"queue"}, sysexits.Usage, "", []string{"usage: gsendmail queue"}},
		{"queue drop without an id", []string{"queue", "drop"}, sysexits.Usage, "", []string{"usage: gsendmail queue drop"}},
		{"queue drop of an unknown id", []string{"queue", "drop", "no-such-id"}, sysexits.Usage, "", []string{`"no-such-id"`, "gsendmail queue list"}},
		{"queue flush of an empty queue", []string{"queue", "flush"}, 0, "", nil},
		{"auth without a subcommand", []string{"auth"}, sysexits.Usage, "", []string{"usage: gsendmail auth"}},
		{"auth status of a password account", []string{"auth", "status", "t"}, sysexits.Config, "", []string{`"t"`, "OAuth2"}},
		{"password without a subcommand", []string{"password"}, sysexits.Usage, "", []string{"usage: gsendmail password"}},
		{"probe without a host", []string{"probe"}, sysexits.Usage, "", []string{"usage: gsendmail probe"}},
		{"accounts lists the accounts", []string{"accounts"}, 0, "t\n", nil},
		{"the shared options come before the verb", []string{"-C", "CFG", "accounts"}, 0, "t\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := startUpstream(t)
			w := newWorld(t, accountTOML("t", u, upUser, ""))
			args := slices.Clone(c.args)
			if i := slices.Index(args, "CFG"); i >= 0 {
				args[i] = w.cfg
				w.env["GSENDMAIL_CONFIG"] = "/nonexistent/gsendmail.toml"
			}
			r := w.run("", "gsendmail", args...)
			if r.code != c.code || c.stdout != "" && r.stdout != c.stdout {
				t.Fatalf("exit %d stdout %q, want %d %q\n%s", r.code, r.stdout, c.code, c.stdout, r)
			}
			if len(c.phrases) == 0 {
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
				return
			}
			oneErrorLine(t, r, c.phrases...)
		})
	}

	t.Run("queue drop removes the message", func(t *testing.T) {
		u := startUpstream(t)
		w := newWorld(t, accountTOML("t", u, upUser, "queue = true"))
		id := queueOne(t, u, w)
		r := w.run("", "gsendmail", "queue", "drop", id)
		if r.code != 0 {
			t.Fatalf("queue drop:\n%s", r)
		}
		oneErrorLine(t, r, "dropped "+id)
		if ids := queuedIDs(t, w); len(ids) != 0 {
			t.Errorf("queue holds %v after the drop", ids)
		}
		if f := w.sendmail("", "-qf"); f.code != 0 || len(u.received()) != 0 {
			t.Errorf("a dropped message was sent by the flush:\n%s", f)
		}
	})
}

// With a broken configuration "sendmail -bs" still speaks SMTP: the
// caller gets 451 4.3.5 naming the file at RCPT, and the exit code is 0.
func TestDashBsAnswersABrokenConfigurationWith451(t *testing.T) {
	w := newWorld(t, "this is [not toml\n")
	r := w.sendmail("EHLO c\r\nMAIL FROM:<"+upUser+">\r\nRCPT TO:<bs@example.net>\r\nQUIT\r\n", "-bs")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and no stderr:\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^451 4\.3\.5 .*` + regexp.QuoteMeta(w.cfg)).MatchString(r.stdout) {
		t.Errorf("no 451 4.3.5 reply naming %s:\n%s", w.cfg, r.stdout)
	}
	if !strings.HasSuffix(r.stdout, "221 2.0.0 Bye\r\n") {
		t.Errorf("the dialogue did not end with QUIT's 221:\n%s", r.stdout)
	}
}

// --serverinfo reports on the account's server and sends nothing.
func TestServerInfoReportsAndSendsNothing(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, accountTOML("t", u, upUser, ""))
	r := w.sendmail("", "--serverinfo")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and no stderr:\n%s", r)
	}
	for _, want := range []string{u.addr, "capabilities", "AUTH PLAIN", "summary:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report does not mention %q:\n%s", want, r.stdout)
		}
	}
	if n := len(u.received()); n != 0 {
		t.Errorf("upstream received %d messages, want none", n)
	}
	bad := w.sendmail("", "--serverinfo", "-a", "nope")
	if bad.code != sysexits.Config {
		t.Fatalf("an unknown account: exit %d, want %d\n%s", bad.code, sysexits.Config, bad)
	}
	oneErrorLine(t, bad, `"nope"`)
}
