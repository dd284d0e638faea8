package cli

import (
	"bytes"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestParseCallersArgv(t *testing.T) {
	tests := []struct {
		name  string
		argv0 string
		args  []string
		want  Invocation
	}{
		{
			name: "git send-email with envelope sender",
			args: []string{"-f", "dev@example.org", "-i", "list@example.org", "maint@example.org"},
			want: Invocation{From: "dev@example.org", FromSet: true, IgnoreDots: true, Recipients: []string{"list@example.org", "maint@example.org"}},
		},
		{
			name: "git send-email with smtpServerOption",
			args: []string{"-a", "work", "-C", "/home/u/.gsendmail.toml", "-i", "a@x.org"},
			want: Invocation{Account: "work", ConfigFile: "/home/u/.gsendmail.toml", IgnoreDots: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "Debian cron",
			args: []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
			want: Invocation{FullName: "CronDaemon", IgnoreDots: true, BodyType: "8BITMIME", Recipients: []string{"root"}, Ignored: []string{"-oem"}},
		},
		{
			name: "cronie",
			args: []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"},
			want: Invocation{FullName: "CronDaemon", IgnoreDots: true, ReadRecipients: true, From: "root", FromSet: true, Ignored: []string{"-odi", "-oem"}},
		},
		{
			name: "PHP mail with attached -f",
			args: []string{"-t", "-i", "-fme@example.org"},
			want: Invocation{ReadRecipients: true, IgnoreDots: true, From: "me@example.org", FromSet: true},
		},
		{
			name: "bsd-mailx -t with from",
			args: []string{"-i", "-t", "-f", "me@x.org"},
			want: Invocation{IgnoreDots: true, ReadRecipients: true, From: "me@x.org", FromSet: true},
		},
		{
			name: "bsd-mailx recipients after --",
			args: []string{"-i", "--", "a@x.org"},
			want: Invocation{IgnoreDots: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "s-nail",
			args: []string{"-i", "-f", "me@x.org", "--", "a@x.org", "b@y.org"},
			want: Invocation{IgnoreDots: true, From: "me@x.org", FromSet: true, Recipients: []string{"a@x.org", "b@y.org"}},
		},
		{
			name: "mutt",
			args: []string{"-oem", "-oi", "-f", "me@x.org", "--", "a@x.org"},
			want: Invocation{IgnoreDots: true, From: "me@x.org", FromSet: true, Recipients: []string{"a@x.org"}, Ignored: []string{"-oem"}},
		},
		{
			name: "Symfony Mailer",
			args: []string{"-bs"},
			want: Invocation{Mode: SMTPStdio},
		},
		{
			name: "clustered -ti",
			args: []string{"-ti"},
			want: Invocation{ReadRecipients: true, IgnoreDots: true},
		},
		{
			name: "cluster ending in option with value",
			args: []string{"-tif", "me@x.org"},
			want: Invocation{ReadRecipients: true, IgnoreDots: true, From: "me@x.org", FromSet: true},
		},
		{
			name: "null sender <>",
			args: []string{"-f", "<>", "a@x.org"},
			want: Invocation{From: "", FromSet: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "null sender empty",
			args: []string{"-f", "", "a@x.org"},
			want: Invocation{From: "", FromSet: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "sender in angle brackets, -r",
			args: []string{"-r<me@x.org>", "a@x.org"},
			want: Invocation{From: "me@x.org", FromSet: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "full name with space as one word",
			args: []string{"-F", "Cron Daemon", "-F'ignored'", "a@x.org"},
			want: Invocation{FullName: "'ignored'", Recipients: []string{"a@x.org"}},
		},
		{
			name: "DSN options",
			args: []string{"-N", "success, Failure,delay,failure", "-Rhdrs", "-V", "env-1", "a@x.org"},
			want: Invocation{DSNNotify: "SUCCESS,FAILURE,DELAY", DSNReturn: "HDRS", EnvID: "env-1", Recipients: []string{"a@x.org"}},
		},
		{
			name: "DSN never",
			args: []string{"-Nnever", "-R", "FULL", "a@x.org"},
			want: Invocation{DSNNotify: "NEVER", DSNReturn: "FULL", Recipients: []string{"a@x.org"}},
		},
		{
			name: "body type as separate word",
			args: []string{"-B", "7bit", "a@x.org"},
			want: Invocation{BodyType: "7BIT", Recipients: []string{"a@x.org"}},
		},
		{
			name: "verbose repeats",
			args: []string{"-v", "-vv", "a@x.org"},
			want: Invocation{Verbose: true, VerboseLevel: 3, Recipients: []string{"a@x.org"}},
		},
		{
			name: "long options",
			args: []string{"--account=work", "--pretend", "--serverinfo", "a@x.org"},
			want: Invocation{Account: "work", Pretend: true, ServerInfo: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "long account with separate value",
			args: []string{"--account", "home"},
			want: Invocation{Account: "home"},
		},
		{
			name: "ignored options",
			args: []string{"-U", "-G", "-n", "-m", "-h", "5", "-Lmylabel", "-X", "/tmp/log", "-Ooption=value", "-odb", "-om", "-oep", "-Am", "a@x.org"},
			want: Invocation{Recipients: []string{"a@x.org"}, Ignored: []string{"-U", "-G", "-n", "-m", "-h 5", "-Lmylabel", "-X /tmp/log", "-Ooption=value", "-odb", "-om", "-oep", "-Am"}},
		},
		{
			name: "-o with separate value i",
			args: []string{"-o", "i"},
			want: Invocation{IgnoreDots: true},
		},
		{
			name: "options after recipients",
			args: []string{"a@x.org", "-i"},
			want: Invocation{IgnoreDots: true, Recipients: []string{"a@x.org"}},
		},
		{
			name: "-- makes dash words recipients",
			args: []string{"--", "-i@x.org"},
			want: Invocation{Recipients: []string{"-i@x.org"}},
		},
		{
			name: "commas and display names",
			args: []string{"a@x.org, Bob <b@y.org>", "Name <c@z.org>, d@w.org", "", "root,www-data", "  "},
			want: Invocation{Recipients: []string{"a@x.org", "b@y.org", "c@z.org", "d@w.org", "root", "www-data"}},
		},
		{
			name: "quoted local part",
			args: []string{`"a b"@x.org`},
			want: Invocation{Recipients: []string{`"a b"@x.org`}},
		},
		{name: "-bm is send", args: []string{"-bm", "a@x.org"}, want: Invocation{Mode: Send, Recipients: []string{"a@x.org"}}},
		{name: "-b with separate value", args: []string{"-b", "p"}, want: Invocation{Mode: ListQueue}},
		{name: "-bp lists the queue", args: []string{"-bp"}, want: Invocation{Mode: ListQueue}},
		{name: "-bi rebuilds aliases", args: []string{"-bi"}, want: Invocation{Mode: NewAliases}},
		{name: "-I rebuilds aliases", args: []string{"-I"}, want: Invocation{Mode: NewAliases}},
		{name: "-q flushes", args: []string{"-q"}, want: Invocation{Mode: FlushQueue}},
		{name: "-qf flushes everything now", args: []string{"-qf"}, want: Invocation{Mode: FlushQueue, QueueForce: true}},
		{name: "-q30m interval", args: []string{"-q30m"}, want: Invocation{Mode: FlushQueue, QueueInterval: "30m"}},
		{name: "-q1h30m interval", args: []string{"-q1h30m"}, want: Invocation{Mode: FlushQueue, QueueInterval: "1h30m"}},
		{name: "-qRsubstr selection ignored", args: []string{"-qRexample.org"}, want: Invocation{Mode: FlushQueue, Ignored: []string{"-qRexample.org"}}},
		{name: "--version", args: []string{"-bs", "--version"}, want: Invocation{Mode: Version}},
		{name: "--help", args: []string{"--help", "-q"}, want: Invocation{Mode: Help}},
		{name: "mailq", argv0: "/usr/bin/mailq", args: nil, want: Invocation{Mode: ListQueue}},
		{name: "mailq -v -Ac", argv0: "mailq", args: []string{"-v", "-Ac"}, want: Invocation{Mode: ListQueue, Verbose: true, VerboseLevel: 1, Ignored: []string{"-Ac"}}},
		{name: "newaliases", argv0: "/usr/bin/newaliases", want: Invocation{Mode: NewAliases}},
		{name: "/usr/lib/sendmail is send", argv0: "/usr/lib/sendmail", args: []string{"a@x.org"}, want: Invocation{Recipients: []string{"a@x.org"}}},
		{name: "sendmail ignores verb", argv0: "/usr/sbin/sendmail", args: []string{"doctor"}, want: Invocation{Recipients: []string{"doctor"}}},
		{name: "gsendmail verb", argv0: "/usr/local/bin/gsendmail", args: []string{"auth", "login", "--account", "x"}, want: Invocation{Mode: Subcommand, Subcommand: "auth", SubArgs: []string{"login", "--account", "x"}}},
		{name: "gsendmail version verb", argv0: "gsendmail", args: []string{"version"}, want: Invocation{Mode: Subcommand, Subcommand: "version"}},
		{name: "gsendmail sending", argv0: "gsendmail", args: []string{"-t"}, want: Invocation{ReadRecipients: true}},
		{name: "verb after an option is a recipient", argv0: "gsendmail", args: []string{"-i", "queue"}, want: Invocation{IgnoreDots: true, Recipients: []string{"queue"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv0 := tt.argv0
			if argv0 == "" {
				argv0 = "/usr/sbin/sendmail"
			}
			got, err := Parse(argv0, tt.args)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", argv0, tt.args, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse(%q, %q)\n got %+v\nwant %+v", argv0, tt.args, *got, tt.want)
			}
		})
	}
}

func TestParseRejectsWithUsageError(t *testing.T) {
	tests := []struct {
		name    string
		argv0   string
		args    []string
		wantMsg string
	}{
		{"unknown letter", "", []string{"-k"}, "unknown option -k (see gsendmail(1))"},
		{"unknown letter in cluster", "", []string{"-tik"}, "unknown option -k"},
		{"unknown long", "", []string{"--frobnicate"}, "unknown option --frobnicate"},
		{"missing value", "", []string{"-f"}, "option -f needs a value"},
		{"missing account", "", []string{"--account"}, "--account needs an account name"},
		{"empty account", "", []string{"--account="}, "--account needs an account name"},
		{"value on flag long option", "", []string{"--pretend=yes"}, "takes no value"},
		{"notify bad word", "", []string{"-N", "sometimes"}, "-N \"sometimes\""},
		{"notify never mixed", "", []string{"-N", "never,success"}, "use -N never"},
		{"notify empty", "", []string{"-N", ""}, "use -N never"},
		{"notify empty item", "", []string{"-Nsuccess,"}, "use -N never"},
		{"return bad", "", []string{"-R", "body"}, "use -R full or -R hdrs"},
		{"envid with space", "", []string{"-V", "a b"}, "printable ASCII"},
		{"envid too long", "", []string{"-V", strings.Repeat("a", 101)}, "1 to 100 characters"},
		{"body type bad", "", []string{"-BBINARYMIME"}, "use -B 7BIT or -B 8BITMIME"},
		{"daemon mode", "", []string{"-bd"}, "-bd (running as an SMTP daemon) is not supported"},
		{"verify mode", "", []string{"-bv", "a@x"}, "-bv (verifying addresses) is not supported"},
		{"address test mode", "", []string{"-bt"}, "is not supported"},
		{"unknown b mode", "", []string{"-bq"}, "unknown option -bq"},
		{"bad queue interval", "", []string{"-qxyz"}, "-qxyz: give a queue run interval"},
		{"LF in value", "", []string{"-f", "me@x\nRCPT TO:<evil@x>"}, "line break or NUL"},
		{"CR in recipient", "", []string{"a@x\r"}, "line break or NUL"},
		{"NUL in full name", "", []string{"-Fa\x00b"}, "line break or NUL"},
		{"bad recipient", "", []string{"John Smith"}, "cannot parse recipient"},
		{"bad sender", "", []string{"-f", "a@x, b@y"}, "is not one email address"},
		{"mailq with addresses", "mailq", []string{"a@x"}, "mailq takes no addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv0 := tt.argv0
			if argv0 == "" {
				argv0 = "sendmail"
			}
			inv, err := Parse(argv0, tt.args)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.args, inv)
			}
			if c := sysexits.Code(err); c != sysexits.Usage {
				t.Errorf("exit code %d, want 64", c)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

// TestPHPMailArgvThroughShell passes PHP's sendmail_path plus the fifth
// mail() argument through sh -c, as PHP does, and parses what sh gives.
func TestPHPMailArgvThroughShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	tests := []struct {
		cmdline  string
		wantFrom string
	}{
		{"/usr/sbin/sendmail -t -i -fme@example.org", "me@example.org"},
		{"/usr/sbin/sendmail -t -i -f me@example.org", "me@example.org"},
		{"/usr/sbin/sendmail -t -i -f'me@example.org'", "me@example.org"},
		{"/usr/sbin/sendmail -t -i -f \"<>\"", ""},
	}
	for _, tt := range tests {
		out, err := exec.Command(sh, "-c", `printf '%s\0' `+tt.cmdline).Output()
		if err != nil {
			t.Fatal(err)
		}
		argv := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		inv, err := Parse(argv[0], argv[1:])
		if err != nil {
			t.Fatalf("%s: %v", tt.cmdline, err)
		}
		if !inv.ReadRecipients || !inv.IgnoreDots || !inv.FromSet || inv.From != tt.wantFrom || len(inv.Recipients) != 0 {
			t.Errorf("%s: got %+v", tt.cmdline, *inv)
		}
	}
}

func TestModeString(t *testing.T) {
	seen := map[string]bool{}
	for m := Send; m <= Subcommand; m++ {
		s := m.String()
		if s == "" || seen[s] || strings.HasPrefix(s, "Mode(") {
			t.Errorf("Mode %d has name %q", int(m), s)
		}
		seen[s] = true
	}
	if got := Mode(99).String(); got != "Mode(99)" {
		t.Errorf("Mode(99).String() = %q", got)
	}
}

func TestErrNoRecipientsIsUsage(t *testing.T) {
	if sysexits.Code(ErrNoRecipients) != sysexits.Usage || !bytes.Contains([]byte(ErrNoRecipients.Error()), []byte("-t")) {
		t.Errorf("ErrNoRecipients = %v (code %d)", ErrNoRecipients, sysexits.Code(ErrNoRecipients))
	}
}
