package config

import (
	"slices"
	"strings"
	"testing"
)

const systemAccount = `
[account.sys]
host = "smtp.example.org"
user = "machine@example.org"
password_file = "/etc/gsendmail/password"
from = "machine@example.org"
local_domain = "host.example.org"
`

func TestNoSystemTableMeansNoSystemMTA(t *testing.T) {
	if f := mustLoad(t, systemAccount); f.SystemMTA != nil {
		t.Errorf("SystemMTA = %+v without a [system] table", f.SystemMTA)
	}
}

func TestEmptySystemTableGetsTheDocumentedDefaults(t *testing.T) {
	s := mustLoad(t, systemAccount+"[system]\n").SystemMTA
	if s == nil {
		t.Fatal("SystemMTA is nil with [system]")
	}
	want := SystemMTA{DaemonUser: "gsendmail", SubmitSocket: "/run/gsendmail/submit.sock", Account: "sys",
		Sender: SenderAccount, FromOverrideUsers: []string{"root"}}
	if s.DaemonUser != want.DaemonUser || s.SubmitSocket != want.SubmitSocket || s.Account != want.Account ||
		s.Sender != want.Sender || !slices.Equal(s.FromOverrideUsers, want.FromOverrideUsers) ||
		len(s.AllowUsers) != 0 || len(s.DenyUsers) != 0 || s.MaxMessagesPerHour != 0 || s.SenderDomain != "" {
		t.Errorf("SystemMTA = %+v\nwant        %+v", *s, want)
	}
}

func TestSystemTableKeysAreRead(t *testing.T) {
	s := mustLoad(t, systemAccount+`
[system]
daemon_user = "mailer"
submit_socket = "/run/mailer/s.sock"
account = "sys"
allow_users = ["alice", "@staff"]
deny_users = ["mallory"]
sender = "local"
from_override_users = []
max_messages_per_hour = 30
`).SystemMTA
	if s.DaemonUser != "mailer" || s.SubmitSocket != "/run/mailer/s.sock" || s.Sender != SenderLocal ||
		s.SenderDomain != "host.example.org" || !slices.Equal(s.AllowUsers, []string{"alice", "@staff"}) ||
		!slices.Equal(s.DenyUsers, []string{"mallory"}) || len(s.FromOverrideUsers) != 0 || s.MaxMessagesPerHour != 30 {
		t.Errorf("SystemMTA = %+v", *s)
	}
}

func TestSystemTableErrorsNameTheKeyAndTheFix(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[system]\nsocket = \"/x\"\n", `unknown key "system.socket"`},
		{"[system]\nsubmit_sokcet = \"/x\"\n", `(did you mean "submit_socket"?)`},
		{"[system]\nhost = \"x\"\n", `account settings belong in [defaults] or [account.NAME]`},
		{"[system]\nsender = \"root\"\n", `"root" is not a sender mode`},
		{"[system]\nsubmit_socket = \"run/s.sock\"\n", `must be an absolute path`},
		{"[system]\naccount = \"nope\"\n", `account "nope" is not an account`},
		{"[system]\nmax_messages_per_hour = -1\n", `out of range`},
		{"[system]\nallow_users = [\"*\"]\n", `an empty allow_users already means everyone`},
		{"system = 1\n" + systemAccount, `system must be a table`},
		{strings.Replace(systemAccount, `from = "machine@example.org"`, `from = "*@example.org"`, 1) + "[system]\n", `needs account "sys" to have a literal from address`},
		{strings.Replace(systemAccount, `local_domain = "host.example.org"`, ``, 1) + "[system]\nsender = \"local\"\n", `sender = "local" needs a domain`},
	} {
		text := tc.text
		if !strings.Contains(text, "[account.sys]") {
			text = systemAccount + text
		}
		_, err := load(t, text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestExportedSystemDefaultsAreWhatAnEmptySystemTableGets(t *testing.T) {
	s := mustLoad(t, systemAccount+"[system]\n").SystemMTA
	if s.DaemonUser != DefaultDaemonUser || s.SubmitSocket != DefaultSubmitSocket {
		t.Errorf("[system] resolves to daemon_user %q, submit_socket %q; app assumes %q, %q without a file",
			s.DaemonUser, s.SubmitSocket, DefaultDaemonUser, DefaultSubmitSocket)
	}
}

func TestDefaultFromOverrideUsersAreNotSharedBetweenFiles(t *testing.T) {
	a := mustLoad(t, systemAccount+"[system]\n").SystemMTA
	a.FromOverrideUsers[0] = "changed"
	if b := mustLoad(t, systemAccount+"[system]\n").SystemMTA; !slices.Equal(b.FromOverrideUsers, []string{"root"}) {
		t.Errorf("the next file's from_override_users = %q after the first file's was changed", b.FromOverrideUsers)
	}
}
