package mta

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
)

var users = map[int]*config.Passwd{
	0:    {UID: 0, Name: "root", FullName: "root"},
	1000: {UID: 1000, Name: "alice", FullName: "Alice Example"},
	1001: {UID: 1001, Name: "bob"},
	33:   {UID: 33, Name: "www-data", FullName: "www-data"},
	998:  {UID: 998, Name: "gsendmail"},
}

var groups = map[string][]string{"staff": {"alice"}, "web": {"www-data"}}

func newPolicy(t *testing.T, sys config.SystemMTA) *Policy {
	t.Helper()
	if sys.Sender == "" {
		sys.Sender = config.SenderAccount
	}
	if sys.DaemonUser == "" {
		sys.DaemonUser = "gsendmail"
	}
	if sys.FromOverrideUsers == nil {
		sys.FromOverrideUsers = []string{"root"}
	}
	sys.Account = "sys"
	file := &config.File{
		Accounts:  map[string]*config.Account{"sys": {Name: "sys", From: "machine@example.org"}},
		Order:     []string{"sys"},
		SystemMTA: &sys,
	}
	p := New(file)
	p.LookupUser = func(uid int) (*config.Passwd, error) {
		if u, ok := users[uid]; ok {
			return u, nil
		}
		return nil, fmt.Errorf("unknown uid %d", uid)
	}
	p.InGroup = func(pw *config.Passwd, g string) bool {
		for _, m := range groups[g] {
			if m == pw.Name {
				return true
			}
		}
		return false
	}
	return p
}

func TestNoSystemTableMeansNoPolicy(t *testing.T) {
	if p := New(&config.File{}); p != nil {
		t.Errorf("New = %+v without [system]", p)
	}
}

func TestDefaultSenderIsTheAccountWithTheUsersNameOrUserAtSenderDomain(t *testing.T) {
	for _, tc := range []struct {
		sender         string
		uid            int
		mailFrom       string
		wantEnv, wantH string
	}{
		{config.SenderAccount, 1000, "", "machine@example.org", `"Alice Example" <machine@example.org>`},
		{config.SenderAccount, 1001, "", "machine@example.org", `"bob" <machine@example.org>`},                          // no GECOS: login name
		{config.SenderAccount, 1000, "alice@localhost", "machine@example.org", `"Alice Example" <machine@example.org>`}, // cronie's -f alice
		{config.SenderAccount, 1000, "MACHINE@example.org", "machine@example.org", `"Alice Example" <machine@example.org>`},
		{config.SenderLocal, 1000, "", "alice@host.example.org", `"Alice Example" <alice@host.example.org>`},
		{config.SenderLocal, 33, "www-data@localhost", "www-data@host.example.org", `"www-data" <www-data@host.example.org>`},
		{config.SenderLocal, 1000, "alice@host.example.org", "alice@host.example.org", `"Alice Example" <alice@host.example.org>`},
	} {
		p := newPolicy(t, config.SystemMTA{Sender: tc.sender, SenderDomain: "host.example.org"})
		env, h, err := p.Decide(tc.uid, tc.mailFrom)
		if err != nil || env != tc.wantEnv || h != tc.wantH {
			t.Errorf("%s uid %d MAIL FROM:<%s>: got %q, %q, %v; want %q, %q", tc.sender, tc.uid, tc.mailFrom, env, h, err, tc.wantEnv, tc.wantH)
		}
	}
}

func TestAUserCannotSendAsAnotherUserWithoutFromOverride(t *testing.T) {
	p := newPolicy(t, config.SystemMTA{Sender: config.SenderLocal, SenderDomain: "host.example.org"})
	for _, from := range []string{"bob@host.example.org", "root@localhost", "ceo@example.com", "machine@example.org"} {
		_, _, err := p.Decide(1000, from)
		var r *Refusal
		if !errors.As(err, &r) || r.Temporary() {
			t.Errorf("alice as %s: err = %v, want a permanent refusal", from, err)
			continue
		}
		for _, want := range []string{"alice", from, "without -f", "from_override_users"} {
			if !strings.Contains(r.Error(), want) {
				t.Errorf("refusal %q does not mention %q", r, want)
			}
		}
		if strings.ContainsAny(r.Error(), "\r\n") {
			t.Errorf("refusal %q is not one line", r)
		}
	}
}

func TestFromOverrideUsersKeepTheirSenderAndFromHeader(t *testing.T) {
	p := newPolicy(t, config.SystemMTA{Sender: config.SenderLocal, SenderDomain: "host.example.org", FromOverrideUsers: []string{"root", "@web"}})
	for _, tc := range []struct {
		uid      int
		from     string
		wantEnv  string
		wantHead string
	}{
		{0, "ops@example.org", "ops@example.org", ""},
		{0, "daemon@localhost", "daemon@host.example.org", ""}, // root naming another local user
		{33, "shop@example.com", "shop@example.com", ""},       // www-data via @web
		{0, "", "root@host.example.org", `"root" <root@host.example.org>`},
	} {
		env, h, err := p.Decide(tc.uid, tc.from)
		if err != nil || env != tc.wantEnv || h != tc.wantHead {
			t.Errorf("uid %d -f %q: got %q, %q, %v; want %q, %q", tc.uid, tc.from, env, h, err, tc.wantEnv, tc.wantHead)
		}
	}
	if _, _, err := p.Decide(1000, "shop@example.com"); err == nil {
		t.Error("alice (not in @web) chose a sender")
	}
}

func TestWhoMaySendFollowsAllowAndDenyUsers(t *testing.T) {
	for _, tc := range []struct {
		allow, deny []string
		uid         int
		ok          bool
	}{
		{nil, nil, 1001, true}, // default: everyone
		{nil, []string{"bob"}, 1001, false},
		{[]string{"@staff"}, nil, 1000, true},
		{[]string{"@staff"}, nil, 1001, false},
		{[]string{"alice", "bob"}, []string{"@staff"}, 1000, false}, // deny wins
		{[]string{"alice"}, nil, 4242, false},                       // no passwd entry
		{nil, nil, 4242, false},
	} {
		p := newPolicy(t, config.SystemMTA{AllowUsers: tc.allow, DenyUsers: tc.deny})
		_, _, err := p.Decide(tc.uid, "")
		if (err == nil) != tc.ok {
			t.Errorf("allow %v deny %v uid %d: err = %v, want allowed=%v", tc.allow, tc.deny, tc.uid, err, tc.ok)
		}
		var r *Refusal
		if err != nil && (!errors.As(err, &r) || r.Temporary()) {
			t.Errorf("uid %d: %v is not a permanent refusal", tc.uid, err)
		}
	}
}

func TestRateLimitIsATemporaryRefusalPerUserThatExpiresAfterAnHour(t *testing.T) {
	p := newPolicy(t, config.SystemMTA{MaxMessagesPerHour: 3})
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if _, _, err := p.Decide(1000, ""); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		now = now.Add(time.Minute)
	}
	_, _, err := p.Decide(1000, "")
	var r *Refusal
	if !errors.As(err, &r) || !r.Temporary() || !strings.Contains(r.Error(), "max_messages_per_hour = 3") {
		t.Fatalf("4th message: err = %v, want a temporary refusal naming the limit", err)
	}
	if _, _, err := p.Decide(1001, ""); err != nil {
		t.Errorf("bob is limited by alice's count: %v", err)
	}
	for _, uid := range []int{0, 998} {
		for i := 0; i < 5; i++ {
			if _, _, err := p.Decide(uid, ""); err != nil {
				t.Fatalf("uid %d is rate limited: %v", uid, err)
			}
		}
	}
	now = now.Add(57 * time.Minute) // 13:00: the first message is now an hour old
	if _, _, err := p.Decide(1000, ""); err != nil {
		t.Errorf("after an hour: %v", err)
	}
	// A refused attempt does not count: the second slot frees a minute later.
	if _, _, err := p.Decide(1000, ""); err == nil {
		t.Error("5th message within the hour accepted")
	}
	now = now.Add(time.Minute)
	if _, _, err := p.Decide(1000, ""); err != nil {
		t.Errorf("after the second slot expired: %v", err)
	}
}
