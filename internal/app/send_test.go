package app

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func account(name, from string, mod func(*config.Account)) *config.Account {
	a := &config.Account{Name: name, Host: "smtp.example.org", Port: 587, TLS: smtp.StartTLS, TLSVerify: true,
		From: from, AllowFromOverride: true, AddFromHeader: true, AddDateHeader: true, AddMessageIDHeader: true}
	if mod != nil {
		mod(a)
	}
	return a
}

func file(accts ...*config.Account) *config.File {
	f := &config.File{Path: "/test/config.toml", Accounts: map[string]*config.Account{}}
	for _, a := range accts {
		f.Accounts[a.Name] = a
		f.Order = append(f.Order, a.Name)
	}
	f.DefaultAccount = accts[0].Name
	return f
}

func readMsg(t *testing.T, s string) *message.Message {
	t.Helper()
	m, err := message.Read(strings.NewReader(s), message.ReadOptions{IgnoreDots: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestEnvelopeSenderRules(t *testing.T) {
	cases := []struct {
		name    string
		acct    *config.Account
		inv     cli.Invocation
		header  string
		want    string
		errCode int
	}{
		{"-f wins when overriding is allowed", account("a", "me@example.org", nil), cli.Invocation{From: "other@example.org", FromSet: true}, "", "other@example.org", 0},
		{"null sender", account("a", "me@example.org", nil), cli.Invocation{From: "", FromSet: true}, "", "", 0},
		{"allow_from_override = false ignores -f", account("a", "me@example.org", func(a *config.Account) { a.AllowFromOverride = false }), cli.Invocation{From: "other@example.org", FromSet: true}, "", "me@example.org", 0},
		{"bare -f qualified with local_domain", account("a", "me@example.org", func(a *config.Account) { a.LocalDomain = "host.example.org" }), cli.Invocation{From: "root", FromSet: true}, "", "root@host.example.org", 0},
		{"bare -f without local_domain takes the account address", account("a", "me@example.org", nil), cli.Invocation{From: "root", FromSet: true}, "", "me@example.org", 0},
		{"bare -f with a from pattern and no local_domain is an error", account("a", "*@example.org", nil), cli.Invocation{From: "root", FromSet: true}, "", "", sysexits.DataErr},
		{"account from when no -f", account("a", "me@example.org", nil), cli.Invocation{}, "x@y.example", "me@example.org", 0},
		{"From: header when it matches the pattern", account("a", "*@example.org", nil), cli.Invocation{}, "dev@example.org", "dev@example.org", 0},
		{"From: header outside the pattern is refused", account("a", "*@example.org", nil), cli.Invocation{}, "dev@elsewhere.test", "", sysexits.DataErr},
		{"no from anywhere is a config error", account("a", "", nil), cli.Invocation{}, "", "", sysexits.Config},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := envelopeSender(c.acct, &c.inv, c.header)
			if c.errCode != 0 {
				if sysexits.Code(err) != c.errCode {
					t.Fatalf("got %q, %v; want exit %d", got, err, c.errCode)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestPrepareReadsRecipientsStripsBccAndAddsOnlyMissingHeaders(t *testing.T) {
	f := file(account("a", "me@example.org", func(a *config.Account) { a.LocalDomain = "example.org" }))
	m := readMsg(t, "To: root, b@example.net\nBcc: secret@example.net\nSubject: x\n\nbody\n")
	p, err := prepare(f, &cli.Invocation{ReadRecipients: true, Recipients: []string{"c@example.net"}}, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.env.To, ","); got != "c@example.net,root@example.org,b@example.net,secret@example.net" {
		t.Fatalf("recipients %s", got)
	}
	var out strings.Builder
	m.WriteTo(&out)
	if strings.Contains(out.String(), "Bcc") || strings.Contains(out.String(), "secret@") {
		t.Fatalf("Bcc left in the message:\n%s", out.String())
	}
	if strings.Join(p.added, ",") != "From,Date,Message-ID" {
		t.Fatalf("added %v", p.added)
	}
	if p.env.From != "me@example.org" || p.env.Size != m.WireSize() {
		t.Fatalf("envelope %+v", p.env)
	}
}

func TestPrepareWithoutRecipientsIsADataError(t *testing.T) {
	f := file(account("a", "me@example.org", nil))
	_, err := prepare(f, &cli.Invocation{ReadRecipients: true}, readMsg(t, "Subject: x\n\nbody\n"))
	if sysexits.Code(err) != sysexits.DataErr {
		t.Fatalf("got %v", err)
	}
}

func TestBareLocalRecipientWithoutAliasOrLocalDomainSaysHowToFixIt(t *testing.T) {
	f := file(account("a", "me@example.org", nil))
	_, err := prepare(f, &cli.Invocation{Recipients: []string{"root"}}, readMsg(t, "Subject: x\n\nbody\n"))
	if sysexits.Code(err) != sysexits.NoUser || !strings.Contains(err.Error(), "local_domain") {
		t.Fatalf("got %v", err)
	}
}

func TestUTF8AddressesAskForSMTPUTF8(t *testing.T) {
	f := file(account("a", "me@example.org", nil))
	p, err := prepare(f, &cli.Invocation{Recipients: []string{"jörg@example.org"}}, readMsg(t, "Subject: x\n\nbody\n"))
	if err != nil || !p.env.UTF8 {
		t.Fatalf("got %+v, %v", p, err)
	}
}
