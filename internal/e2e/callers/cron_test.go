package callers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The argv the two cron implementations give /usr/sbin/sendmail, after
// the program name. Debian's cron (3.0pl1, "%s -FCronDaemon -i
// -B8BITMIME -oem  %s" split on white space) names MAILTO as an argument;
// cronie ("-FCronDaemon -i -odi -oem -oi -t -f %s") reads the recipients
// from the To: header it writes and passes the job's user as sender.
var (
	debianCronArgv = []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"}
	cronieArgv     = []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"}
)

// debianCronMessage is what Debian's cron writes for a job of root whose
// MAILTO is unset (so "root"), byte for byte in form.
const debianCronMessage = "From: root (Cron Daemon)\n" +
	"To: root\n" +
	"Subject: Cron <root@buildhost> /usr/local/bin/backup --nightly\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=UTF-8\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"X-Cron-Env: <SHELL=/bin/sh>\n" +
	"X-Cron-Env: <HOME=/root>\n" +
	"X-Cron-Env: <PATH=/usr/bin:/bin>\n" +
	"X-Cron-Env: <LOGNAME=root>\n" +
	"\n" +
	"backup: 3 files changed\n" +
	".\n" +
	"backup: done\n"

// cronieMessage is cronie's form of the same mail.
const cronieMessage = "From: \"(Cron Daemon)\" <root>\n" +
	"To: root\n" +
	"Subject: Cron <root@buildhost> /usr/local/bin/backup --nightly\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=UTF-8\n" +
	"Auto-Submitted: auto-generated\n" +
	"Precedence: bulk\n" +
	"X-Cron-Env: <XDG_SESSION_ID=7>\n" +
	"X-Cron-Env: <LANG=C.UTF-8>\n" +
	"X-Cron-Env: <SHELL=/bin/sh>\n" +
	"X-Cron-Env: <HOME=/root>\n" +
	"X-Cron-Env: <PATH=/usr/bin:/bin>\n" +
	"X-Cron-Env: <LOGNAME=root>\n" +
	"X-Cron-Env: <USER=root>\n" +
	"\n" +
	"backup: 3 files changed\n" +
	".\n" +
	"backup: done\n"

// TestCronArgvAndMessageDeliverToRootsAliasOrLocalDomain runs gsendmail
// as /usr/sbin/sendmail is run by cron: the exact argv and message of
// Debian cron and of cronie, with "root" routed by an aliases file or by
// local_domain. Without either, cron's mail must fail with exit 67 and
// one line saying how to fix it (cron mails or logs that line).
//
// cronie's "-f root" is a bare local name: sent as MAIL FROM:<root> a
// server with reject_non_fqdn_sender refuses it (msmtp's long-standing
// cron failure), so it must arrive qualified: with local_domain, or else
// replaced by the account's address.
func TestCronArgvAndMessageDeliverToRootsAliasOrLocalDomain(t *testing.T) {
	w := newWorld(t, "")
	aliases := w.file("aliases", "# cron mail\nroot: "+user+"\npostmaster: root\n", 0o644)
	// cron runs "/usr/sbin/sendmail"; the name is what matters, not the
	// directory, so a private sbin keeps the system's untouched.
	sbin := filepath.Join(w.dir, "sbin")
	if err := os.MkdirAll(sbin, 0o755); err != nil {
		t.Fatal(err)
	}
	sendmail := filepath.Join(sbin, "sendmail")
	if err := os.Symlink(w.bin, sendmail); err != nil {
		t.Fatal(err)
	}
	configs := map[string]string{
		"none":         w.writeConfig("none.toml", ""),
		"alias":        w.writeConfig("alias.toml", "aliases = \""+aliases+"\""),
		"local_domain": w.writeConfig("local.toml", "local_domain = \"gsendmail.test\""),
	}
	type cronForm struct {
		name string
		argv []string
		msg  string
		// bareSender is the -f value, when the form passes one.
		bareSender string
	}
	forms := []cronForm{
		{"debian", debianCronArgv, debianCronMessage, ""},
		{"cronie", cronieArgv, cronieMessage, "root"},
	}

	// Failures first: a stray delivery from them would show up in the
	// counts below.
	for _, f := range forms {
		t.Run(f.name+"/no route for root", func(t *testing.T) {
			w := w.with(t)
			r := w.run(f.msg, w.environ("GSENDMAIL_CONFIG="+configs["none"]), w.dir, sendmail, f.argv...)
			if r.Code != 67 {
				t.Fatalf("exit %d, want 67 (EX_NOUSER)\nstderr: %s", r.Code, r.Stderr)
			}
			line := oneLine(t, r.Stderr)
			for _, want := range []string{"root", "aliases", "local_domain"} {
				if !strings.Contains(line, want) {
					t.Errorf("error %q does not mention %q", line, want)
				}
			}
			if r.Stdout != "" {
				t.Errorf("stdout %q, want nothing (cron would mail it)", r.Stdout)
			}
		})
	}
	if n := len(w.srv.Deliveries()); n != 0 {
		t.Fatalf("%d messages delivered by failed runs", n)
	}

	n := 0
	for _, f := range forms {
		for _, route := range []struct{ config, rcpt string }{
			{"alias", user},
			{"local_domain", "root@gsendmail.test"},
		} {
			t.Run(f.name+"/"+route.config, func(t *testing.T) {
				w := w.with(t)
				r := w.run(f.msg, w.environ("GSENDMAIL_CONFIG="+configs[route.config]), w.dir, sendmail, f.argv...)
				w.mustSucceed(r, "sendmail "+strings.Join(f.argv, " "))
				if r.Stdout != "" || r.Stderr != "" {
					t.Errorf("output on success (cron would mail it): stdout %q stderr %q", r.Stdout, r.Stderr)
				}
				n++
				d := w.wait(n)[n-1]
				if len(d.Recipients) != 1 || d.Recipients[0] != route.rcpt {
					t.Errorf("envelope recipients %q, want [%s]", d.Recipients, route.rcpt)
				}
				wantSender := user
				if f.bareSender != "" && route.config == "local_domain" {
					wantSender = f.bareSender + "@gsendmail.test"
				}
				if d.Sender != wantSender {
					t.Errorf("envelope sender %q, want %q", d.Sender, wantSender)
				}
				h, b := split(t, d.Original())
				_, wantBody := split(t, []byte(f.msg))
				if string(b) != string(wantBody) {
					t.Errorf("body changed:\n%q\nwant\n%q", b, wantBody)
				}
				// cron's own fields arrive as written.
				wantHeader, _ := split(t, []byte(f.msg))
				for _, l := range strings.Split(strings.TrimSuffix(string(wantHeader), "\n"), "\n") {
					if !strings.Contains(string(h), l+"\n") {
						t.Errorf("header line %q missing or changed in\n%s", l, h)
					}
				}
			})
		}
	}
}
